"""HCCF (Xia et al., "Hypergraph Contrastive Collaborative Filtering", SIGIR 2022; authors' code
akaxlh/HCCF ``torchVersion/``, also SSLRec ``models/general_cf/hccf.py`` with ``config/modelconf/hccf.yml``).

Two views of every node, computed together layer by layer from ``E_0`` (the embedding tables):

* local: one LightGCN layer over the normalised graph Â, edge-dropped afresh at every layer while
  training: ``Z_l = drop(Â) E_{l-1}``;
* global: a learnable hypergraph per node type (:class:`~contrastrec.augment.hypergraph.LearnableHypergraph`):
  ``Λ_u = s · E_u^0 W_u`` (``[n_users, K]``, ``K`` = ``hccf.n_hyperedges``, ``W_u [D, K]`` learnable;
  items alike), ``Γ_l = σ(Λ σ(Λᵀ E_{l-1}))`` per node type, with the entries of Λ dropped afresh at
  every layer while training;
* ``E_l = Z_l + Γ_l``; the final embedding is the layer *sum* ``E_0 + E_1 + ... + E_L`` (scoring uses
  it, with no dropout).

Recommendation branch: BPR on the final embedding (:meth:`GraphModel.main_terms`). SSL, at every layer:
the configured ``ssl.loss`` (InfoNCE, cosine, τ = 0.1) with the local view ``Z_l`` (detached, as in
both reference codes: the contrast trains the hypergraph view only) as the query and the hypergraph
view ``Γ_l`` as the key, for each unique user and unique positive item of the batch
(:meth:`GraphModel.node_contrast`); the layer terms are summed and weighted by ``ssl.weight``.
L2: the reference codes add ``reg · Σ ||θ||²`` over *all* parameters (embeddings and ``W``) at every
step, i.e. Adam ``weight_decay = 2 · reg``; defaults from SSLRec's ``hccf.yml`` (reg 1e-7 -> weight
decay 2e-7, no separate ``reg`` term), keep rate 0.5 (``hccf.dropout`` 0.5), 2 layers, 128 hyperedges,
LeakyReLU slope 1.0 (the identity), mult 1.0, τ 0.1, cl_weight (``ssl.weight``) 1.0.

``ssl.negatives``: in-batch by default, as the authors' torch code (``contrastLoss``: the denominator
runs over the batch's unique nodes in the hypergraph view); SSLRec's ``cal_infonce_loss_spec_nodes``
runs it over the whole table of the hypergraph view, which is ``ssl.negatives: all`` here.

schema=integrated: the two views are the local and the hypergraph layer sums ``E_0 + Σ Z_l`` and
``E_0 + Σ Γ_l`` (an interaction seen across them, :meth:`GraphModel.integrated_terms`).

Differences from the reference codes: the edge dropout drops an undirected edge in both directions at
once (:class:`~contrastrec.augment.sparse_dropout.SparseEdgeDropout`; theirs draw the two directions
independently); no ``+1e-8`` inside the normalisation and the denominator of the InfoNCE. The paper's
version (the authors' TensorFlow code) has, besides, residual fully-connected layers across the
hyperedges, LeakyReLU activations, a residual ``+ E_{l-1}`` in ``E_l`` and a projection in the
contrast; the authors' torch code and SSLRec drop them, and so does this model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastrec.augment.hypergraph import LearnableHypergraph, drop_entries
from contrastrec.augment.sparse_dropout import SparseEdgeDropout
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.graph import sym_spmm
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel


@dataclass
class HCCFParams:
    n_hyperedges: int = 128  # K: learnable hyperedges per node type (SSLRec hyper_num)
    dropout: float = 0.5  # 1 - keep_rate: edge dropout of Â and entry dropout of Λ, per layer, training only
    leaky: float = 1.0  # LeakyReLU slope of the hypergraph message passing (1.0: the identity)
    mult: float = 1.0  # scale s of the hyperedge memberships Λ = s · E W


class HCCF(GraphModel):
    NAME = "hccf"
    DESCRIPTION = "HCCF learnable hypergraph view vs LightGCN local view (Xia et al. SIGIR 2022)"
    Params = HCCFParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 2, "ssl.temperature": 0.1,
                "ssl.weight": 1.0, "ssl.similarity": "cosine", "reg_weight": 0.0, "weight_decay": 2e-7}
    SPACE = {**GraphModel.SPACE, **SSL_SPACE,
             "hccf.dropout": {"type": "float", "low": 0.0, "high": 0.75},
             "hccf.n_hyperedges": {"type": "categorical", "choices": [32, 64, 128, 256]},
             "hccf.leaky": {"type": "categorical", "choices": [1.0, 0.5, 0.1]},
             "weight_decay": {"type": "float", "low": 1e-9, "high": 1e-4, "log": True}}
    DEMO = {**GRAPH_DEMO, "lr": 5e-3}  # at the shared 2e-2 its validation stalls early
    STREAM = "hccf.dropout"  # the dropout draws (contrastrec.rng)

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p, d = self.params, cfg.embedding_dim
        self.user_hyper = LearnableHypergraph(d, p.n_hyperedges, negative_slope=p.leaky, scale=p.mult)
        self.item_hyper = LearnableHypergraph(d, p.n_hyperedges, negative_slope=p.leaky, scale=p.mult)
        self.edge_dropout = SparseEdgeDropout(self.encoder.adj) if p.dropout > 0 else None
        self._gen: torch.Generator | None = None

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        p = cfg.params
        if p.n_hyperedges < 1:
            raise ConfigError(f"hccf.n_hyperedges must be >= 1, got {p.n_hyperedges}")
        if not 0 <= p.dropout < 1:
            raise ConfigError(f"hccf.dropout must be in [0, 1), got {p.dropout}")
        if p.mult <= 0:
            raise ConfigError(f"hccf.mult must be > 0, got {p.mult} (the hypergraph view would be 0)")
        if cfg.n_layers < 1:
            raise ConfigError("hccf needs n_layers >= 1 (its views are the layers' local and hypergraph parts)")

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen = self.stream(self.STREAM, epoch)  # the epoch's dropout masks: resumable

    # ------------------------------------------------------------------ views
    def propagate(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """``(layers [E_0..E_L], local [Z_1..Z_L], hyper [Γ_1..Γ_L])``, each ``[n_users + n_items, D]``;
        in training mode with the step's dropout (``hccf.dropout``), drawn from the epoch's generator."""
        enc, nu = self.encoder, self.n_users
        u0, i0 = enc.layer0()
        p = self.params.dropout if self.training else 0.0
        g = self._gen if self.training else None
        lam_u, lam_i = self.user_hyper.incidence(u0), self.item_hyper.incidence(i0)
        x = torch.cat([u0, i0], 0)
        layers, local, hyper = [x], [], []
        for _ in range(self.cfg.n_layers):
            adj = self.edge_dropout(p, generator=g) if p > 0 else enc.adj
            z = sym_spmm(adj, x)
            gam = torch.cat([self.user_hyper.propagate(drop_entries(lam_u, p, g), x[:nu]),
                             self.item_hyper.propagate(drop_entries(lam_i, p, g), x[nu:])], 0)
            x = z + gam
            local.append(z)
            hyper.append(gam)
            layers.append(x)
        return layers, local, hyper

    def embeddings(self):
        """The final embedding: the sum of the layers ``E_0 + ... + E_L`` (no dropout in eval mode)."""
        return self.encoder.split(torch.stack(self.propagate()[0], 0).sum(0))

    def integrated_views(self):
        """schema=integrated: the local and the hypergraph view, ``E_0 + Σ Z_l`` and ``E_0 + Σ Γ_l``."""
        layers, local, hyper = self.propagate()
        return (self.encoder.split(torch.stack([layers[0]] + local, 0).sum(0)),
                self.encoder.split(torch.stack([layers[0]] + hyper, 0).sum(0)))

    def loss_terms(self, batch):
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        layers, local, hyper = self.propagate()
        u, i = self.encoder.split(torch.stack(layers, 0).sum(0))
        terms = self.main_terms(batch, u[users], i[pos], i[neg])
        if self.ssl_active():
            uu, ii = self.cap_anchors(torch.unique(users)), self.cap_anchors(torch.unique(pos))  # one sample, all layers
            split = self.encoder.split
            terms["ssl"] = self.cfg.ssl.weight * sum(
                self.node_contrast(uu, ii, *split(z.detach()), *split(gam)) for z, gam in zip(local, hyper))
        return terms
