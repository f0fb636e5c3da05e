"""SGL: Self-supervised Graph Learning (Wu et al., SIGIR 2021).

LightGCN + BPR, plus InfoNCE between two augmented views of each node (users and items of the
batch, unique). Views: edge dropout (ED), node dropout (ND) or random walk (RW: a different
dropped graph per layer), re-sampled at the start of every epoch (``sgl.augment``,
``sgl.drop_ratio`` ρ). ``ssl.weight`` λ and ``ssl.temperature`` τ come from config.

Default ``ssl.warmup_epochs = 3`` (not in the paper): BPR alone for 3 epochs, because from the
xavier initialisation the contrastive gradient swamps BPR under Adam on sparse data (BPR does not
move for hundreds of steps; see docs/results.md). Set it to 0 for the paper's schedule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from contrastrec.augment.graph import EdgeDropout, NodeDropout, RandomWalk
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GraphModel


@dataclass
class SGLParams:
    augment: Literal["ed", "nd", "rw"] = "ed"  # edge dropout | node dropout | random walk (per-layer graphs)
    drop_ratio: float = 0.1  # ρ


class SGL(GraphModel):
    NAME = "sgl"
    DESCRIPTION = "SGL graph augmentation contrast, sgl.augment=ed|nd|rw (Wu et al. SIGIR 2021)"
    Params = SGLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.2, "ssl.weight": 0.1,
                "reg_weight": 1e-4, "ssl.warmup_epochs": 3}
    SPACE = {**GraphModel.SPACE, **SSL_SPACE, "sgl.drop_ratio": {"type": "float", "low": 0.05, "high": 0.5}}
    AUGMENTS = {"ed": EdgeDropout, "nd": NodeDropout, "rw": RandomWalk}
    ROW_RESTRICTED = True

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p = self.params
        self.augment = self.AUGMENTS[p.augment](
            dataset.train.users, dataset.train.items, self.n_users, self.n_items, p.drop_ratio
        )
        self.views: list = []

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if not 0 <= cfg.params.drop_ratio < 1:
            raise ConfigError(f"sgl.drop_ratio must be in [0, 1), got {cfg.params.drop_ratio}")

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if not self.ssl_active():
            self.views = []
            return
        g, dev = self.epoch_generator(7919, epoch), self.device
        self.views = [[a.to(dev) for a in self.augment(self.cfg.n_layers, generator=g)] for _ in range(2)]

    def ssl_terms(self, batch, user_emb, item_emb):
        if not self.views:
            return {}
        users, items = torch.unique(batch["users"]), torch.unique(batch["pos"])

        def view(k, rows):
            if rows is None:
                return self.encoder(adj=self.views[k])
            return self.encoder.forward_rows(rows, adj=self.views[k])

        return {"ssl": self.cfg.ssl.weight * self.view_contrast(users, items, view)}

    def integrated_views(self):
        return self.encoder(adj=self.views[0]), self.encoder(adj=self.views[1])
