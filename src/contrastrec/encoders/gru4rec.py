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
        """Runs the GRU over the real items only (packed), so the output does not depend on how
        much left padding a batch carries; padded positions output zeros."""
        b, l = seqs.shape
        lengths = (seqs > 0).sum(1)
        # left-padded -> right-padded: row i shifted left by its padding (l - lengths[i])
        idx = (torch.arange(l, device=seqs.device).unsqueeze(0) + (l - lengths).unsqueeze(1)) % l
        right = seqs.gather(1, idx)
        x = self.drop(self.item_emb(right))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        h, _ = self.gru(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=l)
        # right-padded -> left-padded
        back = (torch.arange(l, device=seqs.device).unsqueeze(0) - (l - lengths).unsqueeze(1)) % l
        h = h.gather(1, back.unsqueeze(2).expand(-1, -1, h.shape[2]))
        return self.out(h) * (seqs > 0).unsqueeze(2)
