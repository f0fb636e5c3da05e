"""Splitting protocols and k-core filtering.

All functions take per-row arrays (one row per interaction). Rows of a user are in time order
as given (the order of the source), unless ``timestamps`` are passed, in which case rows are
ordered by timestamp (ties keep source order).

Two layers:

* ``*_labels`` functions return ``int8[N]`` labels: ``TRAIN`` (0), ``VALID`` (1), ``TEST`` (2)
  or ``DROP`` (-1). ``load_dataset`` uses these on raw ids before building id maps.
* ``leave_one_out``, ``random_split``, ``temporal_split`` return a :class:`SplitResult` of
  three :class:`~contrastrec.data.dataset.Split` objects (grouped by user ascending, time order
  within a user) for callers that already hold integer user/item indices.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from .dataset import Split

TRAIN, VALID, TEST, DROP = 0, 1, 2, -1


class SplitResult(NamedTuple):
    """``train, valid, test`` splits and the number of users left out entirely."""

    train: Split
    valid: Split
    test: Split
    skipped_users: int = 0


def _codes(users: np.ndarray) -> tuple[np.ndarray, int]:
    """Contiguous codes ``int64[N]`` for any user labels, and their number."""
    users = np.asarray(users)
    if users.dtype.kind in "iu" and users.size and users.min() >= 0 and users.max() < 4 * users.size + 1024:
        codes = users.astype(np.int64, copy=False)
        return codes, int(codes.max()) + 1
    codes, uniq = pd.factorize(users)
    return codes.astype(np.int64), len(uniq)


def _is_grouped(codes: np.ndarray, key: np.ndarray | None) -> bool:
    """Rows already in ``(codes, key)`` order (``key`` non-decreasing within equal codes)."""
    if codes.shape[0] < 2:
        return True
    d = codes[1:] >= codes[:-1]
    if not d.all():
        return False
    if key is None:
        return True
    same = codes[1:] == codes[:-1]
    with np.errstate(invalid="ignore"):
        return bool(np.all(~same | (key[1:] >= key[:-1])))


def _stable_order(codes: np.ndarray, key: np.ndarray | None = None) -> np.ndarray:
    """``np.lexsort((np.arange(N), key, codes))`` (``np.argsort(codes, kind="stable")`` without
    ``key``): rows by code, then key, then position; the same permutation, found faster.

    * rows already in that order: ``arange``;
    * ``key`` in ``[0, 1)`` (random numbers) and integer codes: ``argsort(codes + key)`` is that
      order whenever no two of the sums are equal (a sum keeps the order of ``(code, key)``
      pairs; rounding can only make two of them equal), else ``lexsort``;
    * integer keys (e.g. timestamps in seconds): one stable sort of ``code * span + key``;
    * other keys: ``np.lexsort((key, codes))`` (lexsort is stable: no position key needed).
    """
    codes = np.asarray(codes)
    n = codes.shape[0]
    if key is not None:
        key = np.asarray(key)
        if key.shape != codes.shape:
            raise ValueError("key and codes must have the same shape")
    if _is_grouped(codes, key):
        return np.arange(n, dtype=np.int64)
    if key is None:
        return np.argsort(codes, kind="stable")
    if (key.dtype.kind == "f" and codes.dtype.kind in "iu" and n
            and float(key.min()) >= 0.0 and float(key.max()) < 1.0
            and int(codes.min()) > -(2**52) and int(codes.max()) < 2**52):
        v = codes.astype(np.float64) + key
        order = np.argsort(v)
        v = v[order]
        if not (v[1:] == v[:-1]).any():
            return order
        del v, order
        return np.lexsort((key, codes))
    combined = _combined_key(codes, key)
    if combined is not None:
        return np.argsort(combined, kind="stable")
    return np.lexsort((key, codes))  # stable: ties keep position order


def _combined_key(codes: np.ndarray, key: np.ndarray) -> np.ndarray | None:
    """``codes * span + (key - min)`` as ``int64`` when ``key`` holds integers (timestamps in
    seconds, positions) and that fits: a strictly increasing function of ``(code, key)``, so its
    stable sort is the lexsort; else ``None``."""
    if codes.dtype.kind not in "iu" or key.dtype.kind not in "iuf" or not codes.size:
        return None
    lo, hi = key.min(), key.max()
    if not (np.isfinite(lo) and np.isfinite(hi)) or abs(float(lo)) >= 2**52 or abs(float(hi)) >= 2**52:
        return None
    span = int(hi) - int(lo) + 1
    c_lo, c_hi = int(codes.min()), int(codes.max())
    if (c_hi - c_lo + 1) * span >= 2**62:
        return None
    k = key.astype(np.int64)
    if key.dtype.kind == "f" and not np.array_equal(k, key):
        return None
    k -= int(lo)
    k += (codes.astype(np.int64) - c_lo) * span
    return k


def _rank_counts(users: np.ndarray, key: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rank int64[N], codes int64[N], counts int64[n_codes])``: rank of each row within its
    user (0 = earliest), the user codes of :func:`_codes` and the row count of each code."""
    codes, n = _codes(users)
    N = codes.shape[0]
    order = _stable_order(codes, key)
    counts = np.bincount(codes, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(N, dtype=np.int64)
    rank[order] = np.arange(N, dtype=np.int64) - starts[codes[order]]
    return rank, codes, counts


def _within_user_rank(
    users: np.ndarray, key: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each row within its user (0 = earliest) and its user's row count, both ``int64[N]``.

    ``key`` (e.g. timestamps or random numbers) orders rows within a user; ties and ``None``
    keep the given order.
    """
    rank, codes, counts = _rank_counts(users, key)
    return rank, counts[codes]


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5 + 1e-9).astype(np.int64)


def _ratio_sizes(n: np.ndarray, ratios: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Per-user ``(n_valid, n_test)``: each share rounded half up, at least one row left in train."""
    r_train, r_valid, r_test = _check_ratios(ratios)
    n_test = _round_half_up(n * r_test)
    n_valid = _round_half_up(n * r_valid)
    over = np.maximum(n_test + n_valid - (n - 1), 0)
    cut = np.minimum(over, n_valid)
    n_valid = n_valid - cut
    n_test = n_test - (over - cut)
    return np.maximum(n_valid, 0), np.maximum(n_test, 0)


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    if len(ratios) != 3:
        raise ValueError(f"ratios must be (train, valid, test), got {ratios!r}")
    r = tuple(float(x) for x in ratios)
    if any(x < 0 for x in r) or r[0] <= 0 or abs(sum(r) - 1.0) > 1e-6:
        raise ValueError(f"ratios must be non-negative, train > 0, and sum to 1, got {ratios!r}")
    return r  # type: ignore[return-value]


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# label functions
# --------------------------------------------------------------------------------------------


def leave_one_out_labels(
    users: np.ndarray, timestamps: np.ndarray | None = None, min_interactions: int = 3
) -> tuple[np.ndarray, int]:
    """Leave-one-out labels: last row of a user = TEST, the one before = VALID, the rest TRAIN.

    Args:
        users: ``[N]`` user labels (any hashable dtype).
        timestamps: optional ``float[N]``; orders rows within a user.
        min_interactions: users with fewer rows are DROPped.

    Returns:
        ``(labels int8[N], number of dropped users)``.
    """
    rank, codes, counts = _rank_counts(users, timestamps)
    n = counts[codes]
    del codes
    labels = np.full(rank.shape[0], TRAIN, dtype=np.int8)
    labels[rank == n - 1] = TEST
    labels[rank == n - 2] = VALID
    short = n < min_interactions
    labels[short] = DROP
    n_skipped = int(np.unique(np.asarray(users)[short]).size) if short.any() else 0
    return labels, n_skipped


def random_split_labels(
    users: np.ndarray,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Per-user random split: each user's rows are shuffled (seeded) and cut by ``ratios``.

    A user with ``n`` rows gets ``round(n * valid)`` VALID and ``round(n * test)`` TEST rows
    (half up), always keeping at least one TRAIN row. Returns ``int8[N]`` labels.
    """
    users = np.asarray(users)
    key = _rng(seed).random(users.shape[0])
    rank, codes, counts = _rank_counts(users, key)
    del key
    nv, nt = _ratio_sizes(counts, ratios)  # per user, then per row: the same elementwise values
    n_valid, n_test = nv[codes], nt[codes]
    del codes
    labels = np.full(users.shape[0], TRAIN, dtype=np.int8)
    labels[rank < n_test + n_valid] = VALID
    labels[rank < n_test] = TEST
    return labels


def temporal_split_labels(
    users: np.ndarray, timestamps: np.ndarray | None = None, ratios: Sequence[float] = (0.8, 0.1, 0.1)
) -> np.ndarray:
    """Per-user temporal split: the latest ``round(n * test)`` rows are TEST, the
    ``round(n * valid)`` before them VALID (by timestamp if given, else by source order)."""
    rank, codes, counts = _rank_counts(users, timestamps)
    nv, nt = _ratio_sizes(counts, ratios)
    n, n_valid, n_test = counts[codes], nv[codes], nt[codes]
    del codes
    labels = np.full(rank.shape[0], TRAIN, dtype=np.int8)
    labels[rank >= n - n_test - n_valid] = VALID
    labels[rank >= n - n_test] = TEST
    return labels


def carve_validation(
    users: np.ndarray,
    valid_ratio: float = 0.1,
    seed: int | np.random.Generator = 0,
    last: bool = False,
    timestamps: np.ndarray | None = None,
) -> np.ndarray:
    """Pick validation rows out of training rows: ``bool[N]`` (True = move to validation).

    A user with ``n >= 2`` rows gives ``max(1, round(n * valid_ratio))`` rows (half up), keeping
    at least one in train; a user with one row keeps it. Rows are picked at random (seeded), or
    the latest ones when ``last`` is true (sequential data). ``valid_ratio == 0`` picks none.
    """
    users = np.asarray(users)
    if valid_ratio <= 0 or users.size == 0:
        return np.zeros(users.shape[0], dtype=bool)
    if last:
        rank, codes, counts = _rank_counts(users, timestamps)
        rank = counts[codes] - 1 - rank  # 0 = latest
    else:
        rank, codes, counts = _rank_counts(users, _rng(seed).random(users.shape[0]))
    k = np.maximum(_round_half_up(counts * float(valid_ratio)), 1)  # per user
    k = np.minimum(k, counts - 1)
    return rank < k[codes]


# --------------------------------------------------------------------------------------------
# Split-producing functions
# --------------------------------------------------------------------------------------------


def _splits_from_labels(
    users: np.ndarray, items: np.ndarray, labels: np.ndarray, timestamps: np.ndarray | None, skipped: int
) -> SplitResult:
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    if users.shape != items.shape:
        raise ValueError("users and items must have the same length")
    rank, _ = _within_user_rank(users, timestamps)
    out = []
    for lab in (TRAIN, VALID, TEST):
        sel = np.flatnonzero(labels == lab)
        order = np.lexsort((rank[sel], users[sel]))
        out.append(Split(users[sel][order], items[sel][order]))
    return SplitResult(out[0], out[1], out[2], skipped)


def leave_one_out(
    users: np.ndarray, items: np.ndarray, timestamps: np.ndarray | None = None, min_interactions: int = 3
) -> SplitResult:
    """Leave-one-out on integer ``users[N]``/``items[N]``: last item = test, second last = valid.

    Users with fewer than ``min_interactions`` rows are skipped (``SplitResult.skipped_users``).
    """
    labels, skipped = leave_one_out_labels(users, timestamps, min_interactions)
    return _splits_from_labels(users, items, labels, timestamps, skipped)


def random_split(
    users: np.ndarray,
    items: np.ndarray,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int | np.random.Generator = 0,
    timestamps: np.ndarray | None = None,
) -> SplitResult:
    """Seeded per-user random ratio split (see :func:`random_split_labels`); within each split
    a user's items stay in time order."""
    labels = random_split_labels(users, ratios, seed)
    return _splits_from_labels(users, items, labels, timestamps, 0)


def temporal_split(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray | None = None,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
) -> SplitResult:
    """Per-user temporal ratio split (see :func:`temporal_split_labels`)."""
    labels = temporal_split_labels(users, timestamps, ratios)
    return _splits_from_labels(users, items, labels, timestamps, 0)


def k_core(users: np.ndarray, items: np.ndarray, k: int, item_k: int | None = None) -> np.ndarray:
    """Iterative k-core filter: ``bool[N]`` mask of rows kept.

    Rows are removed until every remaining user has at least ``k`` rows and every remaining item
    at least ``item_k`` (default ``k``) rows. Duplicated rows count once per row. ``users`` and
    ``items`` may hold any labels (ints or strings).
    """
    item_k = k if item_k is None else item_k
    u, nu = _codes(users)
    i, ni = _codes(items)
    mask = np.ones(u.shape[0], dtype=bool)
    if k <= 1 and item_k <= 1:
        return mask
    while True:
        uc = np.bincount(u[mask], minlength=nu)
        ic = np.bincount(i[mask], minlength=ni)
        bad = mask & ((uc[u] < k) | (ic[i] < item_k))
        if not bad.any():
            return mask
        mask &= ~bad
