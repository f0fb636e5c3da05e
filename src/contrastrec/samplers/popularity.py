"""Popularity-based negative sampling, q(i) ∝ count(i)^alpha, with its log-probabilities.

alpha = 0 is uniform, alpha = 1 is the item frequency, alpha = 0.75 is the word2vec unigram
smoothing (Mikolov et al., "Distributed Representations of Words and Phrases and their
Compositionality", NeurIPS 2013). ``log_q`` is the per-item log sampling probability used by the
logQ correction of sampled softmax (Yi et al., "Sampling-Bias-Corrected Neural Modeling for Large
Corpus Item Recommendations", RecSys 2019; Bengio & Senécal, IEEE TNN 2008).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from ._common import PositiveSet, check_csr, check_int, check_users, make_generator, output_device, reject_positives


class PopularityNegativeSampler:
    """Draw items with probability ∝ count^alpha (with replacement).

    Args:
        train_csr: ``scipy.sparse`` matrix [n_users, n_items]; stored non-zeros are positives and
            ``count(i)`` is the number of users with a stored entry for item ``i``.
        alpha: exponent >= 0; items never seen in training get probability 0 when alpha > 0.
        exclude_positives: if True, a user's training positives are rejected (the draw follows
            q restricted to the user's non-positives, renormalized).
        seed / generator: randomness, as in ``UniformNegativeSampler``.

    Attributes:
        probs: FloatTensor[n_items] (float64), the proposal q; sums to 1.
        log_q: FloatTensor[n_items] (float32), ``log(probs)`` (-inf where q = 0). This is the
            global proposal; with ``exclude_positives`` the per-user renormalization is ignored,
            as is usual for logQ correction.
    """

    def __init__(
        self,
        train_csr: sp.spmatrix,
        alpha: float = 1.0,
        exclude_positives: bool = True,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be finite and >= 0, got {alpha}")
        if not isinstance(exclude_positives, bool):
            raise ValueError(f"exclude_positives must be a bool, got {exclude_positives!r}")
        csr = check_csr(train_csr)
        self.n_users, self.n_items = csr.shape
        self.alpha = float(alpha)
        self.exclude_positives = exclude_positives
        self.generator = make_generator(seed, generator)

        counts = np.bincount(csr.indices, minlength=self.n_items).astype(np.float64)
        if self.alpha > 0 and counts.sum() == 0:
            raise ValueError("train_csr has no interactions: popularity is undefined for alpha > 0")
        if self.alpha == 0:  # uniform over all items, including the never-seen ones
            w = np.ones(self.n_items)
        else:  # scaled by the max count so that large alpha cannot overflow
            w = np.power(counts / counts.max(), self.alpha)
        self.counts = torch.from_numpy(counts)
        self._weights = torch.from_numpy(w)
        self.probs = torch.from_numpy(w / w.sum())
        self.log_q = torch.log(self.probs).to(torch.float32)
        cdf = np.cumsum(w)
        self._cdf = cdf / cdf[-1]  # exactly 1.0 from the last item with mass on: never overshoots
        # guide table (Chen & Asau 1974): _guide[k] = first item with cdf > k / n_items, so a draw
        # starts next to its answer and needs ~1 step instead of a binary search
        self._guide = np.searchsorted(self._cdf, np.arange(self.n_items) / self.n_items, side="right")

        self.positives = PositiveSet(csr)
        support = w > 0
        # non-positive items with q > 0, per user (exact integer count)
        pos_in_support = np.asarray(csr.astype(bool).astype(np.int64) @ support.astype(np.int64)).ravel()
        self._n_sampleable = int(support.sum()) - pos_in_support

    def _check_sampleable(self, users: np.ndarray) -> None:
        bad = np.flatnonzero(self._n_sampleable[users] == 0)
        if bad.size:
            u = int(users[bad[0]])
            raise ValueError(
                f"user {u} has interacted with every item that has non-zero sampling probability "
                f"(alpha={self.alpha}); no negative can be sampled"
            )

    def _draw(self, m: int) -> np.ndarray:
        """int64 [m] i.i.d. from ``probs``: the first item with ``cdf > r``, r ~ U[0, 1)."""
        r = torch.rand(m, generator=self.generator, dtype=torch.float64).numpy()
        out = self._guide[np.minimum((r * self.n_items).astype(np.int64), self.n_items - 1)]
        idx = np.flatnonzero(self._cdf[out] <= r)
        while idx.size:  # walk forward
            out[idx] += 1
            idx = idx[self._cdf[out[idx]] <= r[idx]]
        # walk back where float rounding of r * n_items put the start past the answer (rare)
        idx = np.flatnonzero(out > 0)
        idx = idx[self._cdf[out[idx] - 1] > r[idx]]
        while idx.size:
            out[idx] -= 1
            idx = idx[(out[idx] > 0) & (self._cdf[out[idx] - 1] > r[idx])]
        return out

    def sample(self, users: torch.Tensor, n: int) -> torch.Tensor:
        """LongTensor[B, n] of items drawn ∝ count^alpha (excluding each user's positives if asked).

        Args:
            users: LongTensor[B] of user indices in ``[0, n_users)``.
            n: negatives per user (>= 1).
        Returns:
            LongTensor[B, n] on ``users.device``.
        """
        device = output_device(users)
        n = check_int("n", n, 1)
        u = check_users(users, self.n_users)
        if self.exclude_positives:
            self._check_sampleable(u)
        items = self._draw(u.size * n)
        if self.exclude_positives:
            reject_positives(np.repeat(u, n), items, self.positives, self._draw, self._weights, self.generator)
        return torch.from_numpy(items.reshape(u.size, n)).to(device)

    def sample_one(self, users: torch.Tensor) -> torch.Tensor:
        """LongTensor[B]: one negative per user."""
        return self.sample(users, 1)[:, 0]

    def __repr__(self) -> str:
        return (
            f"PopularityNegativeSampler(n_users={self.n_users}, n_items={self.n_items}, "
            f"alpha={self.alpha}, exclude_positives={self.exclude_positives})"
        )
