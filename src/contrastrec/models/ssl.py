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

Anchors (``ssl.anchors``, graph models that declare ``SSL_ANCHORS``; :func:`anchor_sets`): the nodes
of a pairwise batch ``(users [B], pos [B], neg [B, k])`` that are contrasted:

* ``unique``: the batch's unique users and unique positive items (two terms);
* ``batch``: every row's user and positive item, duplicates kept (two terms; SSLRec's SimGCL / NCL);
* ``batch_negatives``: also every sampled negative item (three terms; SSLRec's SGL).

Each set is one term, its mean over the set's rows; the terms are summed. For ``batch`` and
``batch_negatives`` with one negative per row this is SSLRec's reduction (each InfoNCE summed over
its rows, the sum divided by the batch size B). Duplicated anchors would be in-batch negatives of
themselves, so these two need explicit negatives (``ssl.negatives: all`` is SSLRec's whole table).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.config import Config, ConfigError, SSLConfig
from contrastrec.heads import make_head
from contrastrec.losses import functional as LF
from contrastrec.losses import make_ssl_loss
from contrastrec.losses.pool_lse import pool_logsumexp
from contrastrec.samplers.pool import MINED, PoolMiner

EXPLICIT_NEGATIVE_LOSSES = ("infonce", "triplet")
ANCHORS = ("unique", "batch", "batch_negatives")


def anchor_sets(mode: str, users: torch.Tensor, pos: torch.Tensor,
                neg: torch.Tensor | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The SSL anchors of a pairwise batch under ``ssl.anchors = mode``: ``(user_sets, item_sets)``,
    lists of node-id tensors (users; items without the ``n_users`` offset). Each set is one loss
    term (mean over its rows); the model sums the terms. ``users, pos [B]``, ``neg [B, k]``."""
    if mode == "unique":
        return [torch.unique(users)], [torch.unique(pos)]
    if mode == "batch":
        return [users], [pos]
    if mode == "batch_negatives":
        if neg is None:
            raise ValueError("ssl.anchors=batch_negatives needs the batch's negatives")
        return [users], [pos, neg.reshape(-1)]
    raise ValueError(f"unknown ssl.anchors {mode!r}; valid: {', '.join(ANCHORS)}")


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
    if s.anchors != "unique" and cfg.schema != "integrated":
        from contrastrec.config import model_class

        allowed = getattr(model_class(cfg.model), "SSL_ANCHORS", ())
        if allowed and s.anchors not in allowed:
            raise ConfigError(f"ssl.anchors={s.anchors} is not available for model {cfg.model} "
                              f"(it takes {', '.join(allowed)})")
        if allowed and s.negatives == "in_batch":
            raise ConfigError(f"ssl.anchors={s.anchors} keeps the batch's duplicate nodes, which in-batch negatives "
                              "would contrast with themselves; use ssl.negatives=all (SSLRec: the whole table of "
                              "the other view) or another explicit-negative sampler")


class SSLBranch(nn.Module):
    def __init__(self, cfg: SSLConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.head = make_head(cfg.head, dim, batch_norm=cfg.head_batch_norm)
        from contrastrec.config import ssl_loss_keys

        self.loss = make_ssl_loss(cfg.loss, **{k: getattr(cfg, k) for k in ssl_loss_keys(cfg.loss)})
        # explicit negatives: the miner (samplers/pool.py) returns pool rows, which the loss is handed
        self.miner = None
        if cfg.negatives in MINED:
            self.miner = PoolMiner(cfg.negatives, cfg.n_negatives, alpha=cfg.popularity_alpha,
                                   skip_top=cfg.hard_skip_top, band=cfg.hard_band, hard_ratio=cfg.hard_ratio,
                                   refresh_every=cfg.hard_refresh_every)

    def reseed(self, seed: int) -> None:
        """Called at every epoch start: reseeds the miner's draws and restarts its refresh schedule
        (the first call of each epoch re-ranks), so a resumed run repeats an uninterrupted one."""
        if self.miner is not None:
            self.miner.reseed(seed)

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
        negatives: str | None = None,
    ) -> torch.Tensor:
        """q, k: ``[B, D]`` positive pairs. ``pool [P, D]``: candidate negatives (default ``k``),
        ``anchor_ids [B]``: each anchor's row in the pool (excluded from its negatives; default
        ``arange(B)`` when the pool is ``k``), ``pool_weights [P]``: popularity of the pool rows,
        ``pool_key``: names a pool that is a whole table (hard negatives then reuse its ranking).
        ``negatives``: overrides ``ssl.negatives`` for a term whose negatives the method fixes
        (NCL's prototype contrast: ``all`` prototypes)."""
        kind = negatives or self.cfg.negatives
        qh, kh = self.head(q), self.head(k)
        if kind == "in_batch":
            return self.loss(qh, kh, labels=labels, positive_mask=positive_mask)
        batch_pool = pool is None
        if kind == "all":
            if batch_pool:
                return self.loss(qh, kh, labels=labels, positive_mask=positive_mask)
            if anchor_ids is None:
                raise ValueError("ssl.negatives=all with a pool needs anchor_ids (each anchor's own pool row)")
            return self.all_pool_infonce(qh, kh, self.head(pool), anchor_ids)
        if batch_pool:
            pool, ph, anchor_ids = k, kh, torch.arange(k.shape[0], device=k.device)
        else:
            ph = self.head(pool)
        idx = self.miner.mine(qh, ph, anchor_ids, pool_weights, None if batch_pool else pool_key)
        negatives = ph[idx]  # [B, n, D]
        own = idx == anchor_ids.unsqueeze(1) if anchor_ids is not None else torch.zeros_like(idx, dtype=torch.bool)
        if batch_pool and positive_mask is not None:  # in-batch false negatives stay excluded
            own = own | positive_mask.gather(1, idx)
        if batch_pool and labels is not None:
            own = own | (labels[idx] == labels.unsqueeze(1))
        if self.cfg.loss == "triplet":
            # the same masks as InfoNCE: a masked draw contributes nothing; each anchor's hinge is
            # averaged over its valid negatives (0 if none). TripletLoss refuses masks together with
            # explicit negatives, so the functional form (negative_mask = True where valid) is used.
            return LF.triplet_loss(qh, kh, negatives, self.loss.margin, self.loss.distance, negative_mask=~own)
        return self.loss(qh, kh, positive_mask=own, negatives=negatives)

    def all_pool_infonce(self, qh: torch.Tensor, kh: torch.Tensor, ph: torch.Tensor,
                         anchor_ids: torch.Tensor) -> torch.Tensor:
        """InfoNCE of ``qh [B, D]`` with positives ``kh [B, D]`` against every pool row ``ph [P, D]``
        except the anchor's own (``anchor_ids [B]``), whose slot holds the positive. The denominator
        is :func:`~contrastrec.losses.pool_lse.pool_logsumexp` (blocked: no ``[B, P]`` matrix is kept).
        Same value as ``info_nce(qh, kh, negatives=ph, positive_mask=own rows, pos_clamp=ssl.pos_clamp)``."""
        t = self.cfg.temperature
        if self.cfg.similarity == "cosine":
            qh, kh, ph = (F.normalize(x, dim=-1, eps=1e-8) for x in (qh, kh, ph))
        qs = qh * (1.0 / t)
        own = ph[anchor_ids]
        if torch.equal(kh, own):  # graph views: the positive already sits in its slot
            pos, replace = (qs * own).sum(-1), None
        else:
            pos = replace = (qs * kh).sum(-1)
        loss = pool_logsumexp(qs, ph, anchor_ids, replace) - pos
        if self.cfg.pos_clamp:  # the numerator's positive logit clamped (LF.info_nce, pos_clamp)
            loss = loss + LF._clamp_correction(pos, self.cfg.pos_clamp)
        return loss.mean()
