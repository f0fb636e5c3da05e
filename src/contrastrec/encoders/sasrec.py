"""SASRec encoder (Kang & McAuley, ICDM 2018): causal self-attention over item sequences.

Input: ``LongTensor[B, L]`` of item tokens, left-padded with 0 (item index i is token i+1;
token n_items+1 is the mask token). Output: ``FloatTensor[B, L, D]``; the representation of a
sequence is the last position. Attention is causal (position t sees positions <= t); with
``bidirectional=True`` (or inside :meth:`SASRecEncoder.bidirectional`) every position sees every
non-padded position, as in BERT4Rec (Sun et al., CIKM 2019) and S3-Rec's pre-training.
Post-LayerNorm blocks, GELU feed-forward and N(0, 0.02) init as in the S3-Rec / ICLRec reference
implementations.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class SequenceEncoderBase(nn.Module):
    """Item-token embedding table shared by all sequence encoders (pad=0, items 1..n, mask n+1)."""

    def __init__(self, n_items: int, dim: int, max_len: int):
        super().__init__()
        if n_items <= 0 or dim <= 0 or max_len <= 0:
            raise ValueError("n_items, dim and max_len must be positive")
        self.n_items, self.dim, self.max_len = n_items, dim, max_len
        self.item_emb = nn.Embedding(n_items + 2, dim, padding_idx=0)
        self.mask_token = n_items + 1

    def item_weights(self) -> torch.Tensor:
        """Output embeddings of the real items, ``[n_items, D]`` (row i = item index i)."""
        return self.item_emb.weight[1 : self.n_items + 1]

    def last(self, seqs: torch.Tensor) -> torch.Tensor:
        """Sequence representation: the output at the last position, ``[B, D]``."""
        return self(seqs)[:, -1, :]


class _Block(nn.Module):
    def __init__(self, dim: int, n_heads: int, dropout: float, attn_dropout: float):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"embedding_dim {dim} must be divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln1 = nn.LayerNorm(dim, eps=1e-12)
        self.ln2 = nn.LayerNorm(dim, eps=1e-12)
        self.ff1 = nn.Linear(dim, 4 * dim)
        self.ff2 = nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = attn_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, l, d = x.shape
        q, k, v = self.qkv(x).view(b, l, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        a = a.transpose(1, 2).reshape(b, l, d)
        x = self.ln1(x + self.drop(self.proj(a)))
        h = self.ff2(F.gelu(self.ff1(x)))
        return self.ln2(x + self.drop(h))


class SASRecEncoder(SequenceEncoderBase):
    def __init__(
        self, n_items: int, dim: int = 64, max_len: int = 50, n_layers: int = 2, n_heads: int = 2,
        dropout: float = 0.5, attn_dropout: float = 0.5, bidirectional: bool = False,
    ):
        super().__init__(n_items, dim, max_len)
        self.is_bidirectional = bidirectional
        self.pos_emb = nn.Embedding(max_len, dim)
        self.ln = nn.LayerNorm(dim, eps=1e-12)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(dim, n_heads, dropout, attn_dropout) for _ in range(n_layers))
        self.apply(self._init)
        causal = torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))
        self.register_buffer("causal", causal, persistent=False)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @contextmanager
    def bidirectional(self):
        """Within the block, attend to every non-padded position (not only to earlier ones)."""
        was = self.is_bidirectional
        self.is_bidirectional = True
        try:
            yield
        finally:
            self.is_bidirectional = was

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        b, l = seqs.shape
        if l > self.max_len:
            raise ValueError(f"sequence length {l} exceeds max_len {self.max_len}")
        # absolute positions of a max_len window: a batch trimmed to its last l columns keeps them
        pos = torch.arange(self.max_len - l, self.max_len, device=seqs.device)
        x = self.drop(self.ln(self.item_emb(seqs) + self.pos_emb(pos)))
        keep = (seqs > 0).unsqueeze(1).unsqueeze(2)  # keys that are items, [B,1,1,L]
        keep = keep.expand(b, 1, l, l) if self.is_bidirectional else keep & self.causal[:l, :l]  # [B,1,L,L]
        mask = torch.zeros(keep.shape, dtype=x.dtype, device=x.device).masked_fill_(~keep, -1e4)
        for blk in self.blocks:
            x = blk(x, mask)
        return x
