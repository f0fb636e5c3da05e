"""The contrastive branch g(·) + L_ssl shared by every model: a projection head, one SSL loss and
a negative-sampling strategy, all chosen by configuration (``ssl.head``, ``ssl.loss``,
``ssl.temperature``, ``ssl.negatives``, ...).

``SSLBranch(q, k, ...)`` returns the *unweighted* loss (mean over anchors); models multiply by
``ssl.weight`` (λ).

Negatives (``ssl.negatives``), drawn from a *pool* of keys (default: the batch's keys; graph models
pass the whole user or item table of the second view):

* ``in_batch``: the other keys of the batch (the loss's own in-batch form);
* ``all``: every other row of the pool (graph models: the whole user or item table of the second
  view, as the SGL authors' code and SSLRec's SGL do; a full softmax over the table, no sampling;
  ``infonce`` only). Without a pool it is ``in_batch``;
* ``uniform``: ``ssl.n_negatives`` keys drawn uniformly from the pool;
* ``popularity``: drawn with probability ∝ weight^``ssl.popularity_alpha`` (e.g. item popularity);
* ``hard``: the embedding-based-retrieval recipe (Huang et al., KDD 2020): rank the pool by
  similarity to the anchor with the current model, skip the ``ssl.hard_skip_top`` most similar
  (likely false negatives), sample from the following ``ssl.hard_band`` ranks, and mix hard and
  uniform ("easy") negatives with ``ssl.hard_ratio`` hard. When the pool is a whole table named by
  ``pool_key`` (graph models: the user and the item table), the ranking of every table row against
  the table is computed once and refreshed every ``ssl.hard_refresh_every`` calls (the anchor is
  represented by its own pool row; EBR's offline mining); otherwise (in-batch pools of sequential
  models, or ``hard_refresh_every = 0``) it is mined afresh at every step.

The anchor itself never serves as its own negative (masked out of the loss).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.config import Config, ConfigError, SSLConfig
from contrastrec.heads import make_head
from contrastrec.losses import make_ssl_loss

EXPLICIT_NEGATIVE_LOSSES = ("infonce", "triplet")


def check_ssl_config(cfg: Config) -> None:
    """Refuse incompatible SSL combinations at configuration time."""
    s = cfg.ssl
    if s.negatives == "all" and s.loss != "infonce":
        raise ConfigError(f"ssl.negatives=all contrasts against the whole pool, which only ssl.loss=infonce takes "
                          f"(got ssl.loss={s.loss})")
    if s.negatives != "in_batch" and s.loss not in EXPLICIT_NEGATIVE_LOSSES:
        raise ConfigError(
            f"ssl.negatives={s.negatives} draws explicit negatives, which ssl.loss={s.loss} does not take "
            f"(it defines its negatives in-batch); use ssl.negatives=in_batch or ssl.loss in "
            f"{', '.join(EXPLICIT_NEGATIVE_LOSSES)}"
        )
    if s.negatives not in ("in_batch", "all") and s.n_negatives <= 0:
        raise ConfigError("ssl.n_negatives must be positive")
    if not 0 <= s.hard_ratio <= 1:
        raise ConfigError(f"ssl.hard_ratio must be in [0, 1], got {s.hard_ratio}")


class SSLBranch(nn.Module):
    def __init__(self, cfg: SSLConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.head = make_head(cfg.head, dim, batch_norm=cfg.head_batch_norm)
        self.loss = make_ssl_loss(
            cfg.loss, temperature=cfg.temperature, tau_plus=cfg.tau_plus, beta=cfg.beta,
            similarity=cfg.similarity, margin=cfg.margin,
        )
        self.generator = torch.Generator()
        self._hard_ranks: dict[str, torch.Tensor] = {}  # pool_key -> [P, skip + band] ranked pool rows
        self._hard_calls: dict[str, int] = {}

    def reseed(self, seed: int) -> None:
        """Called at every epoch start: reseeds the draws and restarts the hard-negative refresh
        schedule (the first call of each epoch re-ranks), so a resumed run repeats an uninterrupted one."""
        self.generator.manual_seed(seed)
        self._hard_calls.clear()

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        labels: torch.Tensor | None = None,
        positive_mask: torch.Tensor | None = None,
        pool: torch.Tensor | None = None,
        anchor_ids: torch.Tensor | None = None,
        pool_weights: torch.Tensor | None = None,
        pool_key: str | None = None,
    ) -> torch.Tensor:
        """q, k: ``[B, D]`` positive pairs. ``pool [P, D]``: candidate negatives (default ``k``),
        ``anchor_ids [B]``: each anchor's row in the pool (excluded from its negatives; default
        ``arange(B)`` when the pool is ``k``), ``pool_weights [P]``: popularity of the pool rows,
        ``pool_key``: names a pool that is a whole table (hard negatives then reuse its ranking)."""
        qh, kh = self.head(q), self.head(k)
        if self.cfg.negatives == "in_batch":
            return self.loss(qh, kh, labels=labels, positive_mask=positive_mask)
        batch_pool = pool is None
        if self.cfg.negatives == "all":
            if batch_pool:
                return self.loss(qh, kh, labels=labels, positive_mask=positive_mask)
            if anchor_ids is None:
                raise ValueError("ssl.negatives=all with a pool needs anchor_ids (each anchor's own pool row)")
            return self.all_pool_infonce(qh, kh, self.head(pool), anchor_ids)
        if batch_pool:
            pool, ph, anchor_ids = k, kh, torch.arange(k.shape[0], device=k.device)
        else:
            ph = self.head(pool)
        idx = self.sample(qh, ph, anchor_ids, pool_weights, None if batch_pool else pool_key)
        negatives = ph[idx]  # [B, n, D]
        if self.cfg.loss == "triplet":
            return self.loss(qh, kh, negatives=negatives)
        own = idx == anchor_ids.unsqueeze(1) if anchor_ids is not None else torch.zeros_like(idx, dtype=torch.bool)
        if batch_pool and positive_mask is not None:  # in-batch false negatives stay excluded
            own = own | positive_mask.gather(1, idx)
        if batch_pool and labels is not None:
            own = own | (labels[idx] == labels.unsqueeze(1))
        return self.loss(qh, kh, positive_mask=own, negatives=negatives)

    def all_pool_infonce(self, qh: torch.Tensor, kh: torch.Tensor, ph: torch.Tensor,
                         anchor_ids: torch.Tensor) -> torch.Tensor:
        """InfoNCE of ``qh [B, D]`` with positives ``kh [B, D]`` against every pool row ``ph [P, D]``
        except the anchor's own (``anchor_ids [B]``), whose slot holds the positive: the logits
        ``[B, P]`` with the own slot overwritten, then one fused cross-entropy (no ``[B, P]`` mask).
        Same value as ``info_nce(qh, kh, negatives=ph, positive_mask=own rows)``."""
        t = self.cfg.temperature
        if self.cfg.similarity == "cosine":
            qh, kh, ph = (F.normalize(x, dim=-1, eps=1e-8) for x in (qh, kh, ph))
        qs = qh * (1.0 / t)
        logits = qs @ ph.t()
        if not torch.equal(kh, ph[anchor_ids]):  # graph views: the positive already sits in its slot
            rows = torch.arange(qh.shape[0], device=qh.device)
            logits = logits.index_put((rows, anchor_ids), (qs * kh).sum(-1))
        return F.cross_entropy(logits, anchor_ids)

    @torch.no_grad()
    def rank_pool(self, ph: torch.Tensor, depth: int, chunk: int = 2048) -> torch.Tensor:
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
    def sample(self, qh: torch.Tensor, ph: torch.Tensor, anchor_ids: torch.Tensor | None,
               pool_weights: torch.Tensor | None, pool_key: str | None = None) -> torch.Tensor:
        """Indices ``[B, n]`` into the pool."""
        b, p, n = qh.shape[0], ph.shape[0], self.cfg.n_negatives
        dev = qh.device
        g = self.generator

        def uniform(rows: int, cols: int) -> torch.Tensor:
            return torch.randint(0, p, (rows, cols), generator=g).to(dev)

        kind = self.cfg.negatives
        if kind == "uniform":
            return uniform(b, n)
        if kind == "popularity":
            w = torch.ones(p) if pool_weights is None else pool_weights.detach().float().cpu().clamp_min(0)
            w = w.pow(self.cfg.popularity_alpha)
            if float(w.sum()) <= 0:
                w = torch.ones(p)
            return torch.multinomial(w, b * n, replacement=True, generator=g).view(b, n).to(dev)
        # hard: skip the top ranks, sample from the band after them, mix with easy negatives
        n_hard = int(round(n * self.cfg.hard_ratio))
        skip = min(self.cfg.hard_skip_top, max(p - 2, 0))
        band = max(1, min(self.cfg.hard_band, p - skip))
        depth = min(skip + band, p)
        refresh = self.cfg.hard_refresh_every
        if pool_key is not None and anchor_ids is not None and refresh > 0 and p > 1:
            calls = self._hard_calls.get(pool_key, 0)
            self._hard_calls[pool_key] = calls + 1
            ranks, width = self._hard_ranks.get(pool_key), min(depth, p - 1)
            if ranks is None or calls % refresh == 0 or ranks.shape != (p, width):
                ranks = self._hard_ranks[pool_key] = self.rank_pool(ph.detach(), width)
            top = ranks[anchor_ids][:, min(skip, ranks.shape[1] - 1):]
        else:
            sim = qh.detach() @ ph.detach().t()
            if anchor_ids is not None:
                sim[torch.arange(b, device=dev), anchor_ids] = float("-inf")
            top = torch.topk(sim, depth, dim=1).indices[:, skip:]
        pick = torch.randint(0, top.shape[1], (b, n_hard), generator=g).to(dev)
        hard = top.gather(1, pick)
        return torch.cat([hard, uniform(b, n - n_hard)], dim=1)
