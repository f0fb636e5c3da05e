"""Hard-negative mining from the current model's ranking.

``HardNegativeMiner`` follows Huang et al., "Embedding-based Retrieval in Facebook Search",
KDD 2020: rank all items with the current model, skip the top ranks (likely false negatives),
take hard negatives from a band of ranks just below (they found ranks 101-500 best) and blend
them with easy (random) negatives. Hard negatives of the contrastive
terms (mined from a pool of embeddings) are :mod:`contrastrec.samplers.pool`.
"""
from __future__ import annotations

from typing import Callable

import scipy.sparse as sp
import torch

import numpy as np

from ._common import check_csr, check_fraction, check_int, check_users, make_generator, output_device
from .uniform import UniformNegativeSampler

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


class HardNegativeMiner:
    """Per-user band of hard negatives, refreshed every ``refresh_every`` steps, blended with easy ones.

    Args:
        train_csr: ``scipy.sparse`` matrix [n_users, n_items] of training positives.
        skip_top: non-positive ranks skipped at the top (likely false negatives), >= 0.
        band: width of the candidate band, ranks ``[skip_top, skip_top + band)`` among the
            user's non-positives; ``skip_top + band <= n_items``.
        hard_ratio: fraction of hard negatives per row in ``[0, 1]``; a row of ``n`` holds exactly
            ``round(n * hard_ratio)`` hard negatives (Python ``round``) then easy ones.
        refresh_every: steps between refreshes (>= 1), or None to refresh only when asked.
        chunk_size: users per score block in ``refresh``.
        seed / generator: randomness (shared with the internal uniform sampler).

    Typical loop::

        if miner.needs_refresh:
            miner.refresh(model.user_embeddings(), model.item_embeddings())
        neg = miner.sample(users, n)
        ...
        miner.step()
    """

    def __init__(
        self,
        train_csr: sp.spmatrix,
        skip_top: int = 100,
        band: int = 400,
        hard_ratio: float = 0.5,
        refresh_every: int | None = 1000,
        chunk_size: int = 1024,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ):
        csr = check_csr(train_csr)
        self.n_users, self.n_items = csr.shape
        self.skip_top = check_int("skip_top", skip_top, 0)
        self.band = check_int("band", band, 1)
        if self.skip_top + self.band > self.n_items:
            raise ValueError(
                f"skip_top + band must be <= n_items ({self.n_items}), got {self.skip_top} + {self.band}"
            )
        self.hard_ratio = check_fraction("hard_ratio", hard_ratio)
        self.refresh_every = None if refresh_every is None else check_int("refresh_every", refresh_every, 1)
        self.chunk_size = check_int("chunk_size", chunk_size, 1)
        self.generator = make_generator(seed, generator)
        self.easy = UniformNegativeSampler(csr, generator=self.generator)
        self.positives = self.easy.positives
        self.steps = 0
        self.steps_since_refresh = 0
        self._band: torch.Tensor | None = None  # LongTensor[n_users, band]
        self._band_size: torch.Tensor | None = None  # LongTensor[n_users]

    # --- cadence -------------------------------------------------------------------------
    @property
    def needs_refresh(self) -> bool:
        """True before the first refresh and once ``refresh_every`` steps have passed since the last."""
        if self._band is None:
            return True
        return self.refresh_every is not None and self.steps_since_refresh >= self.refresh_every

    def step(self) -> bool:
        """Count one training step; returns ``needs_refresh``."""
        self.steps += 1
        self.steps_since_refresh += 1
        return self.needs_refresh

    def n_hard(self, n: int) -> int:
        """Hard negatives in a row of ``n``: ``round(n * hard_ratio)``."""
        return int(round(n * self.hard_ratio))

    @property
    def band_items(self) -> torch.Tensor:
        """LongTensor[n_users, band]: the band of each user (only ``[:band_size[u]]`` is valid)."""
        if self._band is None:
            raise RuntimeError("HardNegativeMiner: call refresh() before using the band")
        return self._band

    @property
    def band_size(self) -> torch.Tensor:
        """LongTensor[n_users]: valid band entries per user (< band for users with few non-positives)."""
        if self._band_size is None:
            raise RuntimeError("HardNegativeMiner: call refresh() before using the band")
        return self._band_size

    # --- refresh -------------------------------------------------------------------------
    @torch.no_grad()
    def refresh(self, user_emb: torch.Tensor | ScoreFn, item_emb: torch.Tensor | None = None) -> None:
        """Recompute every user's band from the current model.

        Args:
            user_emb: FloatTensor[n_users, D] (scores are ``user_emb @ item_emb.T``), or a
                ``score_fn(users: LongTensor[b]) -> FloatTensor[b, n_items]`` (then ``item_emb``
                must be None).
            item_emb: FloatTensor[n_items, D] with ``user_emb`` tensors.

        Scores are computed in blocks of ``chunk_size`` users on the embeddings' device, the
        user's positives set to -inf, and ``topk(skip_top + band)`` kept; ranks ``< skip_top``
        are dropped. Entries scored -inf (positives when a user has few non-positives) are not
        part of the band.
        """
        if callable(user_emb) and not isinstance(user_emb, torch.Tensor):
            if item_emb is not None:
                raise ValueError("refresh: item_emb must be None when a score_fn is given")
            score_fn, device = user_emb, None
        else:
            if not isinstance(user_emb, torch.Tensor) or not isinstance(item_emb, torch.Tensor):
                raise ValueError("refresh: give user_emb [n_users, D] and item_emb [n_items, D] tensors, or a score_fn")
            if user_emb.dim() != 2 or user_emb.shape[0] != self.n_users:
                raise ValueError(f"user_emb must be [{self.n_users}, D], got {tuple(user_emb.shape)}")
            if item_emb.dim() != 2 or item_emb.shape[0] != self.n_items or item_emb.shape[1] != user_emb.shape[1]:
                raise ValueError(f"item_emb must be [{self.n_items}, {user_emb.shape[1]}], got {tuple(item_emb.shape)}")
            items_t = item_emb.detach().t()
            users_e = user_emb.detach()
            score_fn, device = (lambda u: users_e[u.to(users_e.device)] @ items_t), user_emb.device

        k = self.skip_top + self.band
        band = torch.empty(self.n_users, self.band, dtype=torch.int64)
        size = torch.empty(self.n_users, dtype=torch.int64)
        for u0 in range(0, self.n_users, self.chunk_size):
            users = torch.arange(u0, min(u0 + self.chunk_size, self.n_users))
            scores = score_fn(users if device is None else users.to(device))
            if scores.shape != (users.numel(), self.n_items):
                raise ValueError(f"scores must be [{users.numel()}, {self.n_items}], got {tuple(scores.shape)}")
            scores = scores.detach().float().clone()
            if torch.isnan(scores).any():
                raise ValueError(f"refresh: NaN scores for users in [{u0}, {u0 + users.numel()})")
            row, item = self.positives.user_items(users.numpy())
            scores[torch.from_numpy(row).to(scores.device), torch.from_numpy(item).to(scores.device)] = float("-inf")
            values, idx = torch.topk(scores, k, dim=1, sorted=True)
            band[users] = idx[:, self.skip_top :].cpu()
            size[users] = (values[:, self.skip_top :] > float("-inf")).sum(1).cpu()
        self._band, self._band_size = band, size
        self._band_np, self._band_size_np = band.numpy(), size.numpy()
        self.steps_since_refresh = 0

    # --- sampling ------------------------------------------------------------------------
    def sample(self, users: torch.Tensor, n: int) -> torch.Tensor:
        """LongTensor[B, n]: ``round(n * hard_ratio)`` hard negatives then easy ones, per row.

        Hard negatives are uniform over the user's band; easy ones uniform over the user's
        non-positives. A user whose band is empty (almost no non-positives) gets easy negatives
        in the hard slots too. Never returns a training positive.
        """
        if self._band is None:
            raise RuntimeError("HardNegativeMiner.sample: call refresh() first")
        device = output_device(users)
        n = check_int("n", n, 1)
        u = check_users(users, self.n_users)
        h = self.n_hard(n)
        out = np.empty((u.size, n), dtype=np.int64)
        if n - h:
            out[:, h:] = self.easy._sample(u, n - h)
        if h:
            size = self._band_size_np[u]
            r = torch.rand(u.size, h, generator=self.generator, dtype=torch.float64).numpy()
            pos = np.minimum((r * size[:, None]).astype(np.int64), np.maximum(size - 1, 0)[:, None])
            out[:, :h] = self._band_np[u[:, None], pos]
            empty = np.flatnonzero(size == 0)
            if empty.size:
                out[empty, :h] = self.easy._sample(u[empty], h)
        return torch.from_numpy(out).to(device)

    def __repr__(self) -> str:
        return (
            f"HardNegativeMiner(n_users={self.n_users}, n_items={self.n_items}, skip_top={self.skip_top}, "
            f"band={self.band}, hard_ratio={self.hard_ratio}, refresh_every={self.refresh_every})"
        )
