"""Uniform negative sampling over the items a user has not interacted with.

The standard sampler of BPR (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit
Feedback", UAI 2009) and of most sampled-loss recommenders.
"""
from __future__ import annotations

import scipy.sparse as sp
import torch

import numpy as np

from ._common import PositiveSet, check_csr, check_int, check_users, make_generator, output_device, reject_positives


class UniformNegativeSampler:
    """Draw items uniformly from each user's training non-positives (with replacement).

    Args:
        train_csr: ``scipy.sparse`` matrix [n_users, n_items]; stored non-zeros are positives.
        seed: seed of the sampler's own CPU generator (random if None).
        generator: a ``torch.Generator`` to use instead of ``seed``.

    ``sample`` is vectorized: candidates are drawn for all entries at once, membership of the
    flattened keys ``user * n_items + item`` is one vectorized hash-set lookup
    (``PositiveSet.contains``), and only rejected entries are redrawn, in rounds. Entries of users whose positives cover almost every item
    are finished exactly after a bounded number of rounds, so the cost never explodes.
    """

    def __init__(self, train_csr: sp.spmatrix, seed: int | None = None, generator: torch.Generator | None = None):
        csr = check_csr(train_csr)
        self.n_users, self.n_items = csr.shape
        self.positives = PositiveSet(csr)
        self.generator = make_generator(seed, generator)
        self._n_negatives = self.n_items - self.positives.degree  # [n_users]
        self._weights = torch.ones(self.n_items, dtype=torch.float64)

    def _check_sampleable(self, users: np.ndarray) -> None:
        full = np.flatnonzero(self._n_negatives[users] == 0)
        if full.size:
            u = int(users[full[0]])
            raise ValueError(
                f"user {u} has interacted with all {self.n_items} items in training; no negative can be sampled"
            )

    def _draw(self, m: int) -> np.ndarray:
        return torch.randint(0, self.n_items, (m,), generator=self.generator, dtype=torch.int64).numpy()

    def sample(self, users: torch.Tensor, n: int) -> torch.Tensor:
        """LongTensor[B, n]: for each ``users[b]``, ``n`` items it has not interacted with in training.

        Args:
            users: LongTensor[B] of user indices in ``[0, n_users)``.
            n: negatives per user (>= 1).
        Returns:
            LongTensor[B, n] on ``users.device``.
        Raises:
            ValueError: a user in ``users`` has interacted with every item.
        """
        device = output_device(users)
        n = check_int("n", n, 1)
        u = check_users(users, self.n_users)
        return torch.from_numpy(self._sample(u, n)).to(device)

    def _sample(self, u: np.ndarray, n: int) -> np.ndarray:
        """int64 array [B, n] for checked users ``u``."""
        self._check_sampleable(u)
        flat_users = np.repeat(u, n)
        items = self._draw(flat_users.size)
        reject_positives(flat_users, items, self.positives, self._draw, self._weights, self.generator)
        return items.reshape(u.size, n)

    def sample_one(self, users: torch.Tensor) -> torch.Tensor:
        """LongTensor[B]: one negative item per user (``sample(users, 1)[:, 0]``)."""
        return self.sample(users, 1)[:, 0]

    def __repr__(self) -> str:
        return f"UniformNegativeSampler(n_users={self.n_users}, n_items={self.n_items})"
