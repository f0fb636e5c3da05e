"""Sequences as tensors: the left-padded token layout shared by the batches, the sequential
models and evaluation. Token ``i + 1`` is item ``i``; ``0`` is padding (models add a mask token
``n_items + 1``)."""
from __future__ import annotations

import numpy as np
import torch

from contrastrec.data.dataset import Split


def padded_tokens(split: Split, n_users: int, width: int) -> np.ndarray:
    """The last ``width`` items of each user's sequence as tokens (item+1), left-padded with 0.

    Returns ``int64[n_users, width]``. Vectorized: no per-user Python loop.
    """
    indptr = split.user_indptr(n_users)
    start, end = indptr[:-1], indptr[1:]
    idx = end[:, None] - width + np.arange(width)[None, :]
    valid = idx >= start[:, None]
    tokens = np.zeros((n_users, width), dtype=np.int64)
    tokens[valid] = split.items[idx[valid]] + 1
    return tokens


def padded_histories(split: Split, n_users: int, max_len: int) -> torch.Tensor:
    """:func:`padded_tokens` as a ``LongTensor[n_users, max_len]``."""
    return torch.from_numpy(padded_tokens(split, n_users, max_len))


def trim_left_padding(*tensors: torch.Tensor, ref: torch.Tensor | None = None):
    """Drop leading columns that are padding in every row of ``ref`` (default: the first tensor).

    Left-padded sequences keep their last columns; encoders use absolute positions of the
    ``max_len`` window, so the result is the same as running on the full width, only cheaper.
    """
    ref = tensors[0] if ref is None else ref
    n = int((ref > 0).sum(1).max()) if ref.numel() else 0
    n = max(n, 1)
    out = tuple(t[:, -n:] for t in tensors)
    return out if len(out) > 1 else out[0]
