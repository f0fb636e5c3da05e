"""NCL: Neighborhood-enriched Contrastive Learning (Lin et al., WWW 2022).

* Structure contrast: a node's layer-0 embedding vs its even-layer (2·``graph.hyper_layers``)
  representation, which aggregates its structural (homogeneous) neighbours.
* Prototype contrast: a node's layer-0 embedding vs the k-means prototype of its cluster
  (``graph.n_clusters``), recomputed every epoch (E-step) with faiss on CPU; starts after
  ``graph.warmup_epochs`` epochs, as in the paper.
Both use the configured SSL loss over the batch's unique users and items (negatives: the other
nodes of the batch for structure, the other prototypes for prototype contrast).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.clustering import kmeans
from contrastrec.models.graph_base import GraphModel


class NCL(GraphModel):
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 3, "ssl.temperature": 0.1,
                "graph.struct_weight": 1e-4, "graph.proto_weight": 8e-5, "graph.alpha": 1.0,
                "graph.n_clusters": 1000, "graph.warmup_epochs": 20, "graph.hyper_layers": 1, "reg_weight": 1e-4}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        g = cfg.graph
        self.hyper = g.hyper_layers
        self.user_proto: tuple[torch.Tensor, torch.Tensor] | None = None
        self.item_proto: tuple[torch.Tensor, torch.Tensor] | None = None
        self._epoch = 0
        if min(self.n_users, self.n_items) < g.n_clusters:
            raise ConfigError(
                f"ncl: graph.n_clusters={g.n_clusters} exceeds the number of users ({self.n_users}) or items "
                f"({self.n_items}); k-means needs at least as many points as clusters"
            )

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.encoder not in ("", "lightgcn"):
            raise ConfigError("ncl needs the lightgcn encoder")
        if 2 * cfg.graph.hyper_layers > cfg.n_layers:
            raise ConfigError(f"ncl: 2*graph.hyper_layers must be <= n_layers ({cfg.n_layers})")

    @torch.no_grad()
    def on_epoch_start(self, epoch: int) -> None:
        """E-step: k-means prototypes of the current layer-0 embeddings (after the warm-up)."""
        self._epoch = epoch
        self.ssl.reseed(self.cfg.seed * 31 + epoch)
        if epoch < self.cfg.graph.warmup_epochs:
            return
        u0, i0 = self.encoder.layer0()
        k = self.cfg.graph.n_clusters
        uc, ua = kmeans(F.normalize(u0, dim=1), k, seed=self.cfg.seed + epoch)
        ic, ia = kmeans(F.normalize(i0, dim=1), k, seed=self.cfg.seed + epoch)
        self.user_proto = (F.normalize(uc, dim=1), ua)
        self.item_proto = (F.normalize(ic, dim=1), ia)

    def loss_terms(self, batch):
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        layers = self.encoder.propagate()
        user_emb, item_emb = self.encoder.split(torch.stack(layers, 0).mean(0))
        terms = {"rec": self.rec_loss(user_emb[users], item_emb[pos], item_emb[neg], batch)}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, neg)
        if not self.ssl_active():
            return terms
        g = self.cfg.graph
        uu, ii = torch.unique(users), torch.unique(pos)
        u0, i0 = self.encoder.split(layers[0])
        un, inb = self.encoder.split(layers[2 * self.hyper])
        struct = (self.ssl(un[uu], u0[uu], pool=u0, anchor_ids=uu, pool_weights=self.user_pop)
                  + g.alpha * self.ssl(inb[ii], i0[ii], pool=i0, anchor_ids=ii, pool_weights=self.item_pop))
        terms["ssl_struct"] = g.struct_weight * struct
        if self.user_proto is not None and self._epoch >= g.warmup_epochs:
            terms["ssl_proto"] = g.proto_weight * (self._proto(u0[uu], self.user_proto, uu)
                                                   + self._proto(i0[ii], self.item_proto, ii))
        return terms

    def _proto(self, x: torch.Tensor, proto, idx: torch.Tensor) -> torch.Tensor:
        """InfoNCE of each node against all prototypes; its own cluster's prototype is the positive."""
        cent, assign = proto
        logits = F.normalize(x, dim=1) @ cent.t() / self.cfg.ssl.temperature
        return F.cross_entropy(logits, assign[idx])
