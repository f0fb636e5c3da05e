"""Shared pieces of the samplers: argument checks, seeded generators, the positive-set index.

Not public API; the public classes live in one short module each.

Positives are stored as sorted flattened keys ``user * n_items + item`` so that membership of
any number of (user, item) pairs is one ``searchsorted`` (no Python loop over users).
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


def check_users(users: object, n_users: int) -> torch.Tensor:
    """``users`` as a 1-D int64 CPU tensor with values in ``[0, n_users)``."""
    u = torch.as_tensor(users)
    if u.dtype == torch.bool or u.is_floating_point() or u.is_complex():
        raise ValueError(f"users must be an integer tensor, got dtype {u.dtype}")
    if u.dim() != 1:
        raise ValueError(f"users must be 1-D [B], got shape {tuple(u.shape)}")
    u = u.to(device="cpu", dtype=torch.int64)
    if u.numel() and (int(u.min()) < 0 or int(u.max()) >= n_users):
        raise ValueError(f"user indices must be in [0, {n_users}), got range [{int(u.min())}, {int(u.max())}]")
    return u


class PositiveSet:
    """Training positives of a CSR matrix as sorted flattened keys ``user * n_items + item``.

    Attributes (CPU int64 tensors): ``indptr`` [n_users+1], ``items`` [nnz] (sorted within a user),
    ``keys`` [nnz] (globally sorted), ``degree`` [n_users].
    """

    def __init__(self, csr: sp.csr_matrix):
        self.n_users, self.n_items = csr.shape
        indptr = csr.indptr.astype(np.int64)
        items = csr.indices.astype(np.int64)
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(indptr))
        self.indptr = torch.from_numpy(indptr)
        self.items = torch.from_numpy(items)
        self.keys = torch.from_numpy(rows * self.n_items + items)  # sorted: rows asc, items sorted
        self.degree = torch.from_numpy(np.diff(indptr))

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """BoolTensor, same shape as ``users``/``items``: is (user, item) a training positive?"""
        q = users * self.n_items + items
        if self.keys.numel() == 0:
            return torch.zeros_like(q, dtype=torch.bool)
        idx = torch.searchsorted(self.keys, q).clamp_(max=self.keys.numel() - 1)
        return self.keys[idx] == q

    def user_items(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, item) of every positive of ``users``; ``row`` indexes into ``users``."""
        start, deg = self.indptr[users], self.degree[users]
        row = torch.repeat_interleave(torch.arange(users.numel()), deg)
        if row.numel() == 0:
            return row, row.clone()
        offset = torch.arange(row.numel()) - torch.repeat_interleave(torch.cumsum(deg, 0) - deg, deg)
        return row, self.items[start[row] + offset]

    def sample_exact(self, users: torch.Tensor, weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One item per entry of ``users`` [E], drawn ∝ ``weights`` [n_items] with positives removed.

        Dense per unique user (blocks of at most ``_DENSE_BLOCK`` elements), so it is meant for the
        few entries left after rejection. Every user must have non-positive mass > 0.
        """
        out = torch.empty(users.numel(), dtype=torch.int64)
        uniq, inv, counts = torch.unique(users, return_inverse=True, return_counts=True)
        # rank of each entry among the entries of the same user
        order = torch.argsort(inv, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.empty_like(inv)
        rank[order] = torch.arange(inv.numel()) - starts[inv[order]]
        block = max(1, _DENSE_BLOCK // self.n_items)
        for b0 in range(0, uniq.numel(), block):
            bu = uniq[b0 : b0 + block]
            w = weights.to(torch.float64).expand(bu.numel(), self.n_items).clone()
            row, item = self.user_items(bu)
            w[row, item] = 0.0
            draws = torch.multinomial(w, int(counts[b0 : b0 + block].max()), replacement=True, generator=generator)
            sel = (inv >= b0) & (inv < b0 + bu.numel())
            out[sel] = draws[inv[sel] - b0, rank[sel]]
        return out


def reject_positives(
    users: torch.Tensor,
    items: torch.Tensor,
    positives: PositiveSet,
    draw,
    weights: torch.Tensor,
    generator: torch.Generator,
    max_rounds: int = MAX_REJECTION_ROUNDS,
) -> torch.Tensor:
    """Replace, in place, every ``items[i]`` that is a positive of ``users[i]``.

    Rejected entries are redrawn with ``draw(m) -> LongTensor[m]`` in rounds (a loop over rounds,
    never over users); entries still rejected after ``max_rounds`` are drawn exactly from
    ``weights`` restricted to the user's non-positives (``PositiveSet.sample_exact``), so the loop
    always terminates and the result follows the conditional distribution exactly.
    """
    bad = positives.contains(users, items).nonzero().squeeze(1)
    rounds = 0
    while bad.numel() and rounds < max_rounds:
        items[bad] = draw(bad.numel())
        bad = bad[positives.contains(users[bad], items[bad])]
        rounds += 1
    if bad.numel():
        items[bad] = positives.sample_exact(users[bad], weights, generator)
    return items
