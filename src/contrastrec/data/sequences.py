"""Sequences as tensors: the left-padded token layout shared by the batches, the sequential
models and evaluation. Token ``i + 1`` is item ``i``; ``0`` is padding (models add a mask token
``n_items + 1``)."""
from __future__ import annotations

import numpy as np
import torch

from contrastrec.data.dataset import Split


def padded_tokens(split: Split, n_users: int, width: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The last ``width`` items of each user's sequence as tokens (item+1), left-padded with 0.

    Returns ``int64[n_users, width]``. Vectorized: no per-user Python loop. ``rows``: fill only those
    users' rows (the others stay 0; the zeros are never written, so their memory pages are not touched).
    """
    indptr = split.user_indptr(n_users)
    start, end = indptr[:-1], indptr[1:]
    tokens = np.zeros((n_users, width), dtype=np.int64)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        start, end = start[rows], end[rows]
    idx = end[:, None] - width + np.arange(width)[None, :]
    valid = idx >= start[:, None]
    if rows is None:
        tokens[valid] = split.items[idx[valid]] + 1
    else:
        r, c = np.nonzero(valid)
        tokens[rows[r], c] = split.items[idx[r, c]] + 1
    return tokens


def prefix_tokens(split: Split, n_users: int, max_len: int, max_prefixes: int = 0):
    """Every prefix of every user's sequence as a training example (the sequential augmentation of
    the reference implementations, e.g. RecBole's): for each interaction ``j`` that is not its
    user's first, the input is the (at most ``max_len``) items before it and the target is item ``j``.

    ``max_prefixes > 0`` keeps only each user's ``max_prefixes`` most recent prefixes. Returns
    ``(users int64[R], seq int64[R, max_len] left-padded tokens, target int64[R] tokens)``, rows
    grouped by user in time order. Vectorized: no per-user Python loop.
    """
    indptr = split.user_indptr(n_users)
    start, end = indptr[:-1], indptr[1:]
    counts = end - start
    user_of = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    j = np.arange(len(split.items), dtype=np.int64)
    keep = j > start[user_of]  # not the user's first interaction
    if max_prefixes > 0:
        keep &= j >= end[user_of] - max_prefixes
    j, users = j[keep], user_of[keep]
    idx = j[:, None] - max_len + np.arange(max_len)[None, :]
    valid = idx >= start[users][:, None]
    seq = np.zeros((len(j), max_len), dtype=np.int64)
    seq[valid] = split.items[idx[valid]] + 1
    return users, seq, split.items[j].astype(np.int64) + 1


def padded_histories(split: Split, n_users: int, max_len: int, rows: np.ndarray | None = None) -> torch.Tensor:
    """:func:`padded_tokens` as a ``LongTensor[n_users, max_len]``."""
    return torch.from_numpy(padded_tokens(split, n_users, max_len, rows))


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
