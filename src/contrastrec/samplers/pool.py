"""Explicit negatives for a contrastive loss, drawn from a *pool* of keys (embedding rows): the
miner that :class:`~contrastrec.models.ssl.SSLBranch` hands its loss (``ssl.negatives``).

Like pytorch-metric-learning's miners, a :class:`PoolMiner` returns indices: ``mine(q [B, D],
pool [P, D], anchor_ids [B], pool_weights [P], pool_key) -> LongTensor[B, n]`` rows of the pool.

* ``uniform``: ``n`` rows drawn uniformly;
* ``popularity``: drawn with probability ∝ weight^``alpha`` (e.g. item popularity);
* ``hard``: the embedding-based-retrieval recipe (Huang et al., KDD 2020): rank the pool by
  similarity to the anchor, skip the ``skip_top`` most similar (likely false negatives), sample from
  the following ``band`` ranks, and mix hard and uniform ("easy") negatives with ``hard_ratio``
  hard. When the pool is a whole table named by ``pool_key`` (graph models: the user and the item
  table), the ranking of every table row against the table is computed once and refreshed every
  ``refresh_every`` calls (the anchor is represented by its own pool row; EBR's offline mining);
  otherwise (in-batch pools, or ``refresh_every = 0``) it is mined afresh at every call.

The anchor's own row may be drawn; the caller masks it (and other false negatives) in the loss.
"""
from __future__ import annotations

import torch

MINED = ("uniform", "popularity", "hard")


class PoolMiner:
    def __init__(self, kind: str, n: int, alpha: float = 1.0, skip_top: int = 10, band: int = 100,
                 hard_ratio: float = 0.5, refresh_every: int = 100):
        if kind not in MINED:
            raise ValueError(f"unknown pool miner {kind!r}; valid: {', '.join(MINED)}")
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        if not 0 <= hard_ratio <= 1:
            raise ValueError(f"hard_ratio must be in [0, 1], got {hard_ratio}")
        self.kind, self.n, self.alpha = kind, n, alpha
        self.skip_top, self.band, self.hard_ratio, self.refresh_every = skip_top, band, hard_ratio, refresh_every
        self.generator = torch.Generator()
        self._ranks: dict[str, torch.Tensor] = {}  # pool_key -> [P, skip + band] ranked pool rows
        self._calls: dict[str, int] = {}

    def reseed(self, seed: int) -> None:
        """Reseed the draws and restart the refresh schedule (the next call re-ranks): called at
        every epoch start, so a resumed run repeats an uninterrupted one."""
        self.generator.manual_seed(seed)
        self._calls.clear()

    @staticmethod
    @torch.no_grad()
    def rank_pool(ph: torch.Tensor, depth: int, chunk: int = 2048) -> torch.Tensor:
        """``[P, depth]``: for every pool row, the other rows by decreasing similarity (chunked)."""
        p = ph.shape[0]
        out = torch.empty(p, depth, dtype=torch.long, device=ph.device)
        for s in range(0, p, chunk):
            sim = ph[s : s + chunk] @ ph.t()
            r = torch.arange(sim.shape[0], device=ph.device)
            sim[r, r + s] = float("-inf")
            out[s : s + chunk] = torch.topk(sim, depth, dim=1).indices
        return out

    @torch.no_grad()
    def mine(self, qh: torch.Tensor, ph: torch.Tensor, anchor_ids: torch.Tensor | None,
             pool_weights: torch.Tensor | None, pool_key: str | None = None) -> torch.Tensor:
        """Indices ``[B, n]`` into the pool ``ph [P, D]`` for the anchors ``qh [B, D]``."""
        b, p, n = qh.shape[0], ph.shape[0], self.n
        dev = qh.device
        g = self.generator

        def uniform(rows: int, cols: int) -> torch.Tensor:
            return torch.randint(0, p, (rows, cols), generator=g).to(dev)

        if self.kind == "uniform":
            return uniform(b, n)
        if self.kind == "popularity":
            w = torch.ones(p) if pool_weights is None else pool_weights.detach().float().cpu().clamp_min(0)
            w = w.pow(self.alpha)
            if float(w.sum()) <= 0:
                w = torch.ones(p)
            return torch.multinomial(w, b * n, replacement=True, generator=g).view(b, n).to(dev)
        # hard: skip the top ranks, sample from the band after them, mix with easy negatives
        n_hard = int(round(n * self.hard_ratio))
        skip = min(self.skip_top, max(p - 2, 0))
        band = max(1, min(self.band, p - skip))
        depth = min(skip + band, p)
        refresh = self.refresh_every
        if pool_key is not None and anchor_ids is not None and refresh > 0 and p > 1:
            calls = self._calls.get(pool_key, 0)
            self._calls[pool_key] = calls + 1
            ranks, width = self._ranks.get(pool_key), min(depth, p - 1)
            if ranks is None or calls % refresh == 0 or ranks.shape != (p, width):
                ranks = self._ranks[pool_key] = self.rank_pool(ph.detach(), width)
            top = ranks[anchor_ids][:, min(skip, ranks.shape[1] - 1):]
        else:
            sim = qh.detach() @ ph.detach().t()
            if anchor_ids is not None:
                sim[torch.arange(b, device=dev), anchor_ids] = float("-inf")
            top = torch.topk(sim, depth, dim=1).indices[:, skip:]
        pick = torch.randint(0, top.shape[1], (b, n_hard), generator=g).to(dev)
        hard = top.gather(1, pick)
        return torch.cat([hard, uniform(b, n - n_hard)], dim=1)
