"""LightGCL (Cai et al., "LightGCL: Simple Yet Effective Graph Contrastive Learning for
Recommendation", ICLR 2023; authors' code HKUDS/LightGCL, also in SSLRec).

Two views of every node from one propagation, no random graph augmentation:

* local: LightGCN over the normalised graph Â, layers ``E_0 .. E_L`` (optionally with the authors'
  edge dropout, ``lightgcl.dropout``, default 0 as in their code);
* global: the rank-q SVD graph ``Â_svd = U_q S_q V_q^T`` (:class:`~contrastrec.augment.svd.SVDView`,
  ``lightgcl.q``, computed once), whose layer l propagates the *local* layer l-1:
  ``G_l = Â_svd E_{l-1}``, ``G_0 = E_0`` (as in the authors' code and the paper's Eq. 5).

Recommendation branch: LightGCN + BPR on the local view (:meth:`GraphModel.main_terms`). SSL: the
configured ``ssl.loss`` (InfoNCE) with the global view as the query and the local view as the key
for each unique user and positive item of the batch (:meth:`GraphModel.node_contrast`; with
``ssl.negatives: all`` the denominator runs over the whole local table, as in the authors' code).
Both views sum their layers (``lightgcl.aggregate: sum``, the authors' code; ``mean`` is LightGCN's).
Defaults from the authors' code for Yelp and Gowalla: τ = 0.2, λ1 = ``ssl.weight`` = 0.2, raw dot
products (``ssl.similarity: dot``), q = 5, 2 layers, no edge dropout, L2 λ2 = 1e-7 on all parameters
at every step, i.e. Adam ``weight_decay`` = 2e-7 (Gowalla: 0), no separate ``reg`` term.

Dot products of xavier-initialised embeddings are small, so the contrastive term does not swamp BPR
at the start and no ``ssl.warmup_epochs`` is needed (measured on synthetic data: with
``ssl.similarity: cosine`` BPR stalls from the first epoch, as SGL's and SimGCL's do, unless warmed up).

The positive logit of the InfoNCE numerator is clamped to [-5, 5] (``ssl.pos_clamp`` 5, the authors'
code; the denominator keeps it unclamped): without it, dot products let the term fall towards 0 by
inflating the positive pairs, the embeddings grow and validation peaks within 2 epochs (our first
yelp-sslrec run, made without the clamp). Differences from the authors' code: the SSL anchors are
the batch's unique users and positive items (the authors: every user of the batch, and its positive
and negative items); ``ssl.negatives`` defaults to in-batch (theirs: the whole table, ``all``); the
edge dropout drops an edge in both directions at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from contrastrec.augment.sparse_dropout import SparseEdgeDropout
from contrastrec.augment.svd import SVDView
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel
from contrastrec.rng import stream_seed


@dataclass
class LightGCLParams:
    q: int = 5  # rank of the truncated SVD of the normalised interaction matrix
    dropout: float = 0.0  # edge dropout of the local view per step (kept weights x 1/(1-p), no renormalisation)
    aggregate: Literal["sum", "mean"] = "sum"  # layer aggregation of both views: the authors' sum or LightGCN's mean


class LightGCL(GraphModel):
    NAME = "lightgcl"
    DESCRIPTION = "LightGCL SVD global view vs LightGCN local view (Cai et al. ICLR 2023)"
    Params = LightGCLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 2, "ssl.temperature": 0.2,
                "ssl.weight": 0.2, "ssl.similarity": "dot", "ssl.pos_clamp": 5.0, "reg_weight": 0.0,
                "weight_decay": 2e-7}
    SPACE = {**GraphModel.SPACE, **SSL_SPACE, "lightgcl.q": {"type": "int", "low": 1, "high": 20},
             "lightgcl.dropout": {"type": "float", "low": 0.0, "high": 0.5},
             "weight_decay": {"type": "float", "low": 1e-9, "high": 1e-4, "log": True}}
    DEMO = GRAPH_DEMO

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p, tr = self.params, dataset.train
        try:
            self.svd = SVDView(tr.users, tr.items, self.n_users, self.n_items, q=p.q, seed=stream_seed(cfg.seed, "lightgcl.svd"))
        except ValueError as e:
            raise ConfigError(f"lightgcl.q: {e}") from None
        self.edge_dropout = SparseEdgeDropout(self.encoder.adj) if p.dropout > 0 else None

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.params.q < 1:
            raise ConfigError(f"lightgcl.q must be >= 1, got {cfg.params.q}")
        if not 0 <= cfg.params.dropout < 1:
            raise ConfigError(f"lightgcl.dropout must be in [0, 1), got {cfg.params.dropout}")
        if cfg.n_layers < 1:
            raise ConfigError("lightgcl needs n_layers >= 1 (with 0 layers its two views are the same)")

    # ------------------------------------------------------------------ views
    def local_layers(self) -> list[torch.Tensor]:
        """``[E_0, ..., E_L]`` of the local view (the step's edge-dropped graph while training)."""
        adj = None
        if self.edge_dropout is not None and self.training:
            adj = self.edge_dropout(self.params.dropout)
        return self.encoder.propagate(adj=adj)

    def _aggregate(self, layers: list[torch.Tensor]) -> torch.Tensor:
        out = torch.stack(layers, 0)
        return out.sum(0) if self.params.aggregate == "sum" else out.mean(0)

    def embeddings(self):
        """The local view (clean graph): the layer sum or mean (``lightgcl.aggregate``)."""
        return self.encoder.split(self._aggregate(self.encoder.propagate()))

    def views(self, layers: list[torch.Tensor] | None = None):
        """``((G_u, G_i), (E_u, E_i))``: the global (SVD) and the local view (whole tables)."""
        layers = self.local_layers() if layers is None else layers
        return self.encoder.split(self._aggregate(self.svd.from_layers(layers))), \
            self.encoder.split(self._aggregate(layers))

    integrated_views = views  # schema=integrated: an interaction seen across the global and local views

    def loss_terms(self, batch):
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        layers = self.local_layers()
        if not self.ssl_active():
            u, i = self.encoder.split(self._aggregate(layers))
            return self.main_terms(batch, u[users], i[pos], i[neg])
        (gu, gi), (u, i) = self.views(layers)
        terms = self.main_terms(batch, u[users], i[pos], i[neg])
        uu, ii = torch.unique(users), torch.unique(pos)
        terms["ssl"] = self.cfg.ssl.weight * self.node_contrast(uu, ii, gu, gi, u, i)
        return terms
