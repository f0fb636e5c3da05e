"""Shared builders for the augmentation tests."""
from __future__ import annotations

import torch

N_ITEMS = 100  # tokens 1..50 appear in sequences; tokens 51..100 are only ever "correlated" items
SEQ_ITEMS = 50


def make_batch(b: int = 64, length: int = 20, seed: int = 0, min_len: int = 0, distinct: bool = True):
    """Left-padded [B, L] batch of tokens in 1..SEQ_ITEMS with random lengths in [min_len, L]."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(min_len, length + 1, (b,), generator=g)
    out = torch.zeros(b, length, dtype=torch.long)
    for r in range(b):
        n = int(lens[r])
        if n == 0:
            continue
        if distinct and n <= SEQ_ITEMS:
            toks = torch.randperm(SEQ_ITEMS, generator=g)[:n] + 1
        else:
            toks = torch.randint(1, SEQ_ITEMS + 1, (n,), generator=g)
        out[r, length - n:] = toks
    return out


def disjoint_table(k: int = 1) -> torch.Tensor:
    """Correlation table over N_ITEMS+1 tokens mapping sequence tokens t <= 50 to tokens > 50."""
    t = torch.arange(N_ITEMS + 1)
    cols = []
    for j in range(k):
        c = ((t - 1 + 7 * j) % SEQ_ITEMS) + SEQ_ITEMS + 1
        c[0] = 0
        cols.append(c)
    tab = torch.stack(cols, 1)
    tab[SEQ_ITEMS + 1:] = 1  # correlated tokens point back into the sequence range
    return tab[:, 0] if k == 1 else tab


def real(row: torch.Tensor) -> list[int]:
    return [int(v) for v in row if int(v) != 0]


def is_left_padded(row: torch.Tensor) -> bool:
    n = int((row != 0).sum())
    length = row.shape[0]
    return bool((row[: length - n] == 0).all()) and bool((row[length - n:] != 0).all())
