"""Shared pieces of the samplers: argument checks, seeded generators, the positive-set index.

Not public API; the public classes live in one short module each.

Hot paths work on NumPy int64 arrays (single-threaded, no intra-op thread start-up on small
arrays) and convert at the boundary; randomness comes from a seeded ``torch.Generator``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

#: Rejection rounds before the rejected leftovers are drawn exactly from the per-user
#: distribution (only users whose positives hold most of the probability mass get there).
MAX_REJECTION_ROUNDS = 32
#: Element budget of one dense [users, n_items] block in the exact fallback.
_DENSE_BLOCK = 1 << 22


def make_generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    """A CPU generator: ``generator`` itself, or a new one seeded with ``seed`` (random if None)."""
    if generator is not None:
        if seed is not None:
            raise ValueError("give either seed or generator, not both")
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        g.manual_seed(int(seed))
    return g


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


def check_csr(train_csr: object) -> sp.csr_matrix:
    """Canonical copy: CSR, sorted indices, no duplicates, no explicit zeros."""
    if not sp.issparse(train_csr):
        raise ValueError(
            f"train_csr must be a scipy.sparse matrix [n_users, n_items], got {type(train_csr).__name__}"
        )
    m = sp.csr_matrix(train_csr, copy=True)
    n_users, n_items = m.shape
    if n_users < 1 or n_items < 1:
        raise ValueError(f"train_csr must have at least one user and one item, got shape {m.shape}")
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    return m


def check_users(users: object, n_users: int) -> np.ndarray:
    """``users`` as a 1-D int64 NumPy array with values in ``[0, n_users)``."""
    u = torch.as_tensor(users)
    if u.dtype == torch.bool or u.is_floating_point() or u.is_complex():
        raise ValueError(f"users must be an integer tensor, got dtype {u.dtype}")
    if u.dim() != 1:
        raise ValueError(f"users must be 1-D [B], got shape {tuple(u.shape)}")
    u = u.detach().to(device="cpu", dtype=torch.int64).numpy()
    if u.size and (u.min() < 0 or u.max() >= n_users):
        raise ValueError(f"user indices must be in [0, {n_users}), got range [{u.min()}, {u.max()}]")
    return u


def output_device(users: object) -> torch.device:
    return users.device if isinstance(users, torch.Tensor) else torch.device("cpu")


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci (multiplicative) hashing constant


class PositiveSet:
    """Training positives of a CSR matrix, for vectorized ``(user, item)`` membership tests.

    Attributes (NumPy int64 arrays): ``indptr`` [n_users+1], ``items`` [nnz] (sorted within a
    user), ``degree`` [n_users].

    Membership uses an open-addressing hash set (linear probing, load factor <= 1/2) of the
    flattened keys ``user * n_items + item``: one multiply, one gather and one compare per query,
    plus a few probe rounds on a shrinking subset. This is several times faster than a binary
    search (``searchsorted``) over the sorted keys, which pays ~log2(nnz) cache misses per query.
    Memory: at most 4 * nnz int64 slots.
    """

    def __init__(self, csr: sp.csr_matrix):
        self.n_users, self.n_items = csr.shape
        self.indptr = csr.indptr.astype(np.int64)
        self.items = csr.indices.astype(np.int64)
        self.degree = np.diff(self.indptr)
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), self.degree)
        self._build(rows * self.n_items + self.items)

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        h = np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64) * _GOLDEN  # wraps mod 2^64
        h >>= self._shift
        return h.view(np.int64)

    def _build(self, keys: np.ndarray) -> None:
        bits = max(1, int(np.ceil(np.log2(max(2 * keys.size, 2)))))
        self._mask = (1 << bits) - 1
        self._shift = np.uint64(64 - bits)
        table = np.full(1 << bits, -1, dtype=np.int64)
        pending, slot = keys, self._hash(keys)
        while pending.size:  # rounds of linear probing; keys are unique
            free = np.flatnonzero(table[slot] == -1)
            table[slot[free]] = pending[free]  # one writer per slot wins; others probe on
            keep = np.ones(pending.size, dtype=bool)
            keep[free[table[slot[free]] == pending[free]]] = False
            pending, slot = pending[keep], (slot[keep] + 1) & self._mask
        self._table = table

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """bool array, same shape as ``users``/``items``: is (user, item) a training positive?"""
        q = users * self.n_items
        q += items
        slot = self._hash(q)
        v = np.take(self._table, slot)
        found = v == q
        miss = v != -1
        miss &= ~found
        idx = np.flatnonzero(miss)
        slot, q = slot[idx], q[idx]
        while idx.size:
            slot = (slot + 1) & self._mask
            v = self._table[slot]
            hit = v == q
            found[idx[hit]] = True
            keep = (v != -1) & ~hit
            idx, slot, q = idx[keep], slot[keep], q[keep]
        return found

    def user_items(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) of every positive of ``users``; ``row`` indexes into ``users``."""
        deg = self.degree[users]
        row = np.repeat(np.arange(users.size, dtype=np.int64), deg)
        offset = np.arange(row.size, dtype=np.int64) - np.repeat(np.cumsum(deg) - deg, deg)
        return row, self.items[self.indptr[users][row] + offset]

    def sample_exact(self, users: np.ndarray, weights: torch.Tensor, generator: torch.Generator) -> np.ndarray:
        """One item per entry of ``users`` [E], drawn ∝ ``weights`` [n_items] with positives removed.

        Dense per unique user (blocks of at most ``_DENSE_BLOCK`` elements), so it is meant for the
        few entries left after rejection. Every user must have non-positive mass > 0.
        """
        out = np.empty(users.size, dtype=np.int64)
        uniq, inv, counts = np.unique(users, return_inverse=True, return_counts=True)
        inv = inv.reshape(-1)
        # rank of each entry among the entries of the same user
        order = np.argsort(inv, kind="stable")
        rank = np.empty_like(inv)
        rank[order] = np.arange(inv.size) - (np.cumsum(counts) - counts)[inv[order]]
        block = max(1, _DENSE_BLOCK // self.n_items)
        for b0 in range(0, uniq.size, block):
            bu = uniq[b0 : b0 + block]
            w = weights.to(torch.float64).expand(bu.size, self.n_items).clone()
            row, item = self.user_items(bu)
            w[torch.from_numpy(row), torch.from_numpy(item)] = 0.0
            m = int(counts[b0 : b0 + block].max())
            draws = torch.multinomial(w, m, replacement=True, generator=generator).numpy()
            sel = np.flatnonzero((inv >= b0) & (inv < b0 + bu.size))
            out[sel] = draws[inv[sel] - b0, rank[sel]]
        return out


def reject_positives(
    users: np.ndarray,
    items: np.ndarray,
    positives: PositiveSet,
    draw,
    weights: torch.Tensor,
    generator: torch.Generator,
    max_rounds: int = MAX_REJECTION_ROUNDS,
) -> np.ndarray:
    """Replace, in place, every ``items[i]`` that is a positive of ``users[i]`` (int64 arrays).

    Rejected entries are redrawn with ``draw(m) -> int64 array [m]`` in rounds (a loop over
    rounds, never over users); entries still rejected after ``max_rounds`` are drawn exactly from
    ``weights`` restricted to the user's non-positives (``PositiveSet.sample_exact``), so the loop
    always terminates and the result follows the conditional distribution exactly.
    """
    bad = np.flatnonzero(positives.contains(users, items))
    rounds = 0
    while bad.size and rounds < max_rounds:
        items[bad] = draw(bad.size)
        bad = bad[positives.contains(users[bad], items[bad])]
        rounds += 1
    if bad.size:
        items[bad] = positives.sample_exact(users[bad], weights, generator)
    return items
