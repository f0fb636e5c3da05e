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
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.clustering import kmeans
from contrastrec.models.graph_base import GraphModel
from contrastrec.samplers import same_label_mask


@dataclass
class NCLParams:
    struct_weight: float = 1e-4  # weight of the structure contrast
    proto_weight: float = 8e-5  # weight of the prototype contrast
    alpha: float = 1.0  # weight of the item side in the structure contrast
    n_clusters: int = 1000  # k-means prototypes per side
    warmup_epochs: int = 20  # epochs before the prototype contrast starts
    hyper_layers: int = 1  # the even layer 2*hyper_layers is the structural neighbour


class NCL(GraphModel):
    NAME = "ncl"
    DESCRIPTION = "NCL structural + prototype neighbour contrast (Lin et al. WWW 2022)"
    Params = NCLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 3, "ssl.temperature": 0.1,
                "ssl.weight": 1.0, "reg_weight": 1e-4}
    SPACE = {**GraphModel.SPACE, "ssl.temperature": {"type": "float", "low": 0.05, "high": 1.0, "log": True},
             "ncl.struct_weight": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True},
             "ncl.proto_weight": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True}}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p = self.params
        self.hyper = p.hyper_layers
        self.user_proto: tuple[torch.Tensor, torch.Tensor] | None = None
        self.item_proto: tuple[torch.Tensor, torch.Tensor] | None = None
        self._epoch = 0
        if min(self.n_users, self.n_items) < p.n_clusters:
            raise ConfigError(
                f"ncl: ncl.n_clusters={p.n_clusters} exceeds the number of users ({self.n_users}) or items "
                f"({self.n_items}); k-means needs at least as many points as clusters"
            )

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema == "integrated":
            raise ConfigError("ncl: schema=integrated is not defined (NCL contrasts a node with its neighbours and "
                              "prototypes, not two views of an interaction); use joint or pretrain_finetune")
        if 2 * cfg.params.hyper_layers > cfg.n_layers:
            raise ConfigError(f"ncl: 2*ncl.hyper_layers must be <= n_layers ({cfg.n_layers})")

    @torch.no_grad()
    def on_epoch_start(self, epoch: int) -> None:
        """E-step: k-means prototypes of the current layer-0 embeddings (after the warm-up)."""
        super().on_epoch_start(epoch)
        self._epoch = epoch
        if epoch < self.params.warmup_epochs:
            return
        u0, i0 = self.encoder.layer0()
        k = self.params.n_clusters
        uc, ua = kmeans(F.normalize(u0, dim=1), k, seed=self.cfg.seed + epoch)
        ic, ia = kmeans(F.normalize(i0, dim=1), k, seed=self.cfg.seed + epoch)
        self.user_proto = (F.normalize(uc, dim=1), ua)
        self.item_proto = (F.normalize(ic, dim=1), ia)

    def loss_terms(self, batch):
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        layers = self.encoder.propagate()
        user_emb, item_emb = self.encoder.split(torch.stack(layers, 0).mean(0))
        terms = self.main_terms(batch, user_emb[users], item_emb[pos], item_emb[neg])
        if not self.ssl_active():
            return terms
        p, lam = self.params, self.cfg.ssl.weight
        uu, ii = torch.unique(users), torch.unique(pos)
        u0, i0 = self.encoder.split(layers[0])
        un, inb = self.encoder.split(layers[2 * self.hyper])
        struct = (self.ssl(un[uu], u0[uu], pool=u0, anchor_ids=uu, pool_weights=self.user_pop)
                  + p.alpha * self.ssl(inb[ii], i0[ii], pool=i0, anchor_ids=ii, pool_weights=self.item_pop))
        terms["ssl_struct"] = lam * p.struct_weight * struct
        if self.user_proto is not None and self._epoch >= p.warmup_epochs:
            terms["ssl_proto"] = lam * p.proto_weight * (self._proto(u0[uu], self.user_proto, uu)
                                                         + self._proto(i0[ii], self.item_proto, ii))
        return terms

    def _proto(self, x: torch.Tensor, proto, idx: torch.Tensor) -> torch.Tensor:
        """The configured SSL loss of each node ``x [B, D]`` against its cluster's prototype; with
        InfoNCE every other prototype is a negative (a softmax over all prototypes)."""
        cent, assign = proto
        a = assign[idx]
        if self.cfg.ssl.loss == "infonce":
            return self.ssl(x, cent[a], pool=cent, anchor_ids=a, negatives="all")
        return self.ssl(x, cent[a], positive_mask=same_label_mask(a, include_diagonal=True), negatives="in_batch")
