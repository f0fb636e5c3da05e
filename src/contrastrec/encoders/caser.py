"""Caser-style CNN encoder (Tang & Wang, WSDM 2018): horizontal and vertical convolutions over the
embedding "image" of the last ``window`` items.

Input ``LongTensor[B, L]`` left-padded tokens -> ``FloatTensor[B, 1, D]``: one representation per
sequence (``per_position = False``: models train it on the last target only).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.encoders.sasrec import SequenceEncoderBase


class CaserEncoder(SequenceEncoderBase):
    per_position = False

    def __init__(self, n_items: int, dim: int = 64, max_len: int = 50, window: int = 8,
                 n_horizontal: int = 16, n_vertical: int = 4, dropout: float = 0.5):
        super().__init__(n_items, dim, max_len)
        if window <= 0 or n_horizontal <= 0 or n_vertical <= 0:
            raise ValueError("window, n_horizontal and n_vertical must be positive")
        self.window = min(window, max_len)
        self.vertical = nn.Conv2d(1, n_vertical, (self.window, 1))
        self.horizontal = nn.ModuleList(nn.Conv2d(1, n_horizontal, (h, dim)) for h in range(1, self.window + 1))
        self.fc = nn.Linear(n_vertical * dim + n_horizontal * self.window, dim)
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        if seqs.shape[1] < self.window:  # batches trimmed to their longest sequence: pad back to the window
            seqs = F.pad(seqs, (self.window - seqs.shape[1], 0))
        x = self.item_emb(seqs[:, -self.window:]).unsqueeze(1)  # [B, 1, W, D]
        v = self.vertical(x).flatten(1)  # [B, n_v * D]
        hs = []
        for conv in self.horizontal:
            c = F.relu(conv(x).squeeze(3))  # [B, n_h, W-h+1]
            hs.append(F.max_pool1d(c, c.shape[2]).squeeze(2))
        z = torch.cat([v] + hs, 1)
        return F.relu(self.fc(self.drop(z))).unsqueeze(1)
