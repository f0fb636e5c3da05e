"""NCL: Neighborhood-enriched Contrastive Learning (Lin et al., WWW 2022).

* Structure contrast: a node's layer-0 embedding vs its even-layer (2·``ncl.hyper_layers``)
  representation, which aggregates its structural (homogeneous) neighbours; the configured SSL
  loss over the batch's unique users and items (negatives: the other nodes of the batch, or
  ``ssl.negatives`` drawn from the layer-0 table).
* Prototype contrast: a node's layer-0 embedding vs the k-means prototype of its cluster
  (``ncl.n_clusters``), recomputed every epoch (E-step) with faiss on CPU; starts after
  ``ncl.warmup_epochs`` epochs, as in the paper. With ``ssl.loss=infonce`` the negatives are all
  the other prototypes (the paper's form); another ``ssl.loss`` is applied in its in-batch form
  (the batch's prototypes, nodes of the same cluster masked).

L = L_rec + λ·(``ncl.struct_weight``·L_struct + ``ncl.proto_weight``·L_proto), λ = ``ssl.weight``
(default 1: the paper weighs the two terms separately). ``schema=integrated`` is refused: NCL
contrasts a node with its neighbours and prototypes, not two views of an interaction.

The even layer may lie deeper than the output: with 2·``ncl.hyper_layers`` > ``n_layers`` the
propagation runs 2·hyper_layers layers and the output combines layers 0..``n_layers`` (as the
authors' and SSLRec's code do). Options for SSLRec's NCL: ``layer_aggregate: sum`` (its output is
the layer sum), ``ssl.anchors: batch`` (every row's user and positive item, duplicates kept, with
``ssl.negatives: all``), ``ncl.cluster_every`` (its k-means runs every ``epoch_period`` = 3 epochs;
the prototypes between E-steps are checkpointed, so a resumed run reuses them) and
``ncl.kmeans_normalize: false`` (it clusters the raw layer-0 embeddings).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.clustering import kmeans
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel
from contrastrec.models.ssl import anchor_sets
from contrastrec.samplers import same_label_mask
from contrastrec.rng import stream_seed


@dataclass
class NCLParams:
    struct_weight: float = 1e-4  # weight of the structure contrast
    proto_weight: float = 8e-5  # weight of the prototype contrast
    alpha: float = 1.0  # weight of the item side in the structure contrast
    n_clusters: int = 1000  # k-means prototypes per side
    warmup_epochs: int = 20  # epochs before the prototype contrast starts
    hyper_layers: int = 1  # the even layer 2*hyper_layers is the structural neighbour
    cluster_every: int = 1  # epochs between k-means E-steps (after the warm-up)
    kmeans_normalize: bool = True  # cluster the L2-normalised layer-0 embeddings (false: the raw ones, SSLRec)


class NCL(GraphModel):
    NAME = "ncl"
    DESCRIPTION = "NCL structural + prototype neighbour contrast (Lin et al. WWW 2022)"
    Params = NCLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 3, "ssl.temperature": 0.1,
                "ssl.weight": 1.0, "reg_weight": 1e-4}
    LAYER_AGGREGATE = True
    SSL_ANCHORS = ("unique", "batch")
    CAPS_ANCHORS = False  # its structure / prototype contrasts pick their nodes in its own step
    SPACE = {**GraphModel.SPACE, "ssl.temperature": {"type": "float", "low": 0.05, "high": 1.0, "log": True},
             "ncl.struct_weight": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True},
             "ncl.proto_weight": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True},
             # the prototypes' granularity: how coarse the semantic-neighbour view is
             "ncl.n_clusters": {"type": "categorical", "choices": [50, 100, 500, 1000]}}
    DEMO = {**GRAPH_DEMO, "ncl.n_clusters": 50, "ncl.warmup_epochs": 3}  # prototypes: fewer than users

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p = self.params
        self.hyper = p.hyper_layers
        self.user_proto: tuple[torch.Tensor, torch.Tensor] | None = None
        self.item_proto: tuple[torch.Tensor, torch.Tensor] | None = None
        self._epoch = 0
        self.depth = max(cfg.n_layers, 2 * self.hyper)  # layers propagated
        if min(self.n_users, self.n_items) < p.n_clusters:
            raise ConfigError(
                f"ncl: ncl.n_clusters={p.n_clusters} exceeds the number of users ({self.n_users}) or items "
                f"({self.n_items}); k-means needs at least as many points as clusters"
            )
        if p.cluster_every > 1:  # the prototypes outlive an epoch: buffers, so that checkpoints hold them
            d, k = cfg.embedding_dim, p.n_clusters
            self.register_buffer("proto_ready", torch.zeros((), dtype=torch.bool))
            self.register_buffer("proto_user_cent", torch.zeros(k, d))
            self.register_buffer("proto_user_assign", torch.zeros(self.n_users, dtype=torch.long))
            self.register_buffer("proto_item_cent", torch.zeros(k, d))
            self.register_buffer("proto_item_assign", torch.zeros(self.n_items, dtype=torch.long))

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema == "integrated":
            raise ConfigError("ncl: schema=integrated is not defined (NCL contrasts a node with its neighbours and "
                              "prototypes, not two views of an interaction); use joint or pretrain_finetune")
        if cfg.params.hyper_layers < 1:
            raise ConfigError(f"ncl.hyper_layers must be >= 1, got {cfg.params.hyper_layers}")
        if cfg.params.cluster_every < 1:
            raise ConfigError(f"ncl.cluster_every must be >= 1, got {cfg.params.cluster_every}")

    @torch.no_grad()
    def on_epoch_start(self, epoch: int) -> None:
        """E-step: k-means prototypes of the current layer-0 embeddings (after the warm-up, every
        ``ncl.cluster_every`` epochs; in between the last E-step's prototypes are kept)."""
        super().on_epoch_start(epoch)
        self._epoch = epoch
        p = self.params
        if epoch < p.warmup_epochs:
            return
        if (epoch - p.warmup_epochs) % p.cluster_every:
            if self.user_proto is None and p.cluster_every > 1 and bool(self.proto_ready):  # resumed between E-steps
                self.user_proto = (self.proto_user_cent.clone(), self.proto_user_assign.clone())
                self.item_proto = (self.proto_item_cent.clone(), self.proto_item_assign.clone())
            return
        u0, i0 = self.encoder.layer0()
        if p.kmeans_normalize:
            u0, i0 = F.normalize(u0, dim=1), F.normalize(i0, dim=1)
        k = p.n_clusters
        uc, ua = kmeans(u0, k, seed=stream_seed(self.cfg.seed, "ncl.kmeans.users", epoch, bits=31))
        ic, ia = kmeans(i0, k, seed=stream_seed(self.cfg.seed, "ncl.kmeans.items", epoch, bits=31))
        self.user_proto = (F.normalize(uc, dim=1), ua)
        self.item_proto = (F.normalize(ic, dim=1), ia)
        if p.cluster_every > 1:
            self.proto_user_cent.copy_(self.user_proto[0])
            self.proto_user_assign.copy_(ua)
            self.proto_item_cent.copy_(self.item_proto[0])
            self.proto_item_assign.copy_(ia)
            self.proto_ready.fill_(True)

    def loss_terms(self, batch):
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        layers = self.encoder.propagate(n_layers=self.depth)
        user_emb, item_emb = self.encoder.split(self.encoder.combine_layers(layers[: self.cfg.n_layers + 1]))
        terms = self.main_terms(batch, user_emb[users], item_emb[pos], item_emb[neg])
        if not self.ssl_active():
            return terms
        p, lam = self.params, self.cfg.ssl.weight
        us, its = anchor_sets(self.cfg.ssl.anchors, users, pos)
        u0, i0 = self.encoder.split(layers[0])
        un, inb = self.encoder.split(layers[2 * self.hyper])
        struct = (sum(self.ssl(un[u], u0[u], pool=u0, anchor_ids=u, pool_weights=self.user_pop) for u in us)
                  + p.alpha * sum(self.ssl(inb[i], i0[i], pool=i0, anchor_ids=i, pool_weights=self.item_pop)
                                  for i in its))
        terms["ssl_struct"] = lam * p.struct_weight * struct
        if self.user_proto is not None and self._epoch >= p.warmup_epochs:
            terms["ssl_proto"] = lam * p.proto_weight * (sum(self._proto(u0[u], self.user_proto, u) for u in us)
                                                         + sum(self._proto(i0[i], self.item_proto, i) for i in its))
        return terms

    def _proto(self, x: torch.Tensor, proto, idx: torch.Tensor) -> torch.Tensor:
        """The configured SSL loss of each node ``x [B, D]`` against its cluster's prototype; with
        InfoNCE every other prototype is a negative (a softmax over all prototypes)."""
        cent, assign = proto
        a = assign[idx]
        if self.cfg.ssl.loss == "infonce":
            return self.ssl(x, cent[a], pool=cent, anchor_ids=a, negatives="all")
        return self.ssl(x, cent[a], positive_mask=same_label_mask(a, include_diagonal=True), negatives="in_batch")
