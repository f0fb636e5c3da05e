"""GRU4Rec encoder (Hidasi et al., ICLR 2016; the session-based GRU applied to item sequences).

Input ``LongTensor[B, L]`` left-padded tokens -> ``FloatTensor[B, L, D]``. Left padding puts the
real items last, so the output at the last position summarises the whole sequence.
"""
from __future__ import annotations

import torch
from torch import nn

from contrastrec.encoders.sasrec import SequenceEncoderBase


class GRU4RecEncoder(SequenceEncoderBase):
    per_position = True

    def __init__(self, n_items: int, dim: int = 64, max_len: int = 50, n_layers: int = 1, dropout: float = 0.3):
        super().__init__(n_items, dim, max_len)
        if n_layers <= 0:
            raise ValueError(f"n_layers must be positive, got {n_layers}")
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, dim, num_layers=n_layers, batch_first=True)
        self.out = nn.Linear(dim, dim)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.item_emb(seqs))
        h, _ = self.gru(x)
        return self.out(h)
