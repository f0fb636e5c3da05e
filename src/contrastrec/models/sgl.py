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

import torch

from contrastrec.augment.graph import EdgeDropout, NodeDropout, RandomWalk
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.graph_base import GraphModel


class SGL(GraphModel):
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.2, "ssl.weight": 0.1,
                "sgl.drop_ratio": 0.1, "sgl.augment": "ed", "reg_weight": 1e-4,
                "ssl.warmup_epochs": 3}
    AUGMENTS = {"ed": EdgeDropout, "nd": NodeDropout, "rw": RandomWalk}

    ROW_RESTRICTED = True

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.augment = self.AUGMENTS[cfg.sgl.augment](
            dataset.train.users, dataset.train.items, self.n_users, self.n_items, cfg.sgl.drop_ratio
        )
        self.views: list = []

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.encoder not in ("", "lightgcn"):
            raise ConfigError("sgl needs the lightgcn encoder (graph augmentations act on the graph)")

    def on_epoch_start(self, epoch: int) -> None:
        self.ssl.reseed(self.cfg.seed * 31 + epoch)
        if not self.ssl_active():
            self.views = []
            return
        g = torch.Generator().manual_seed(self.cfg.seed * 7919 + epoch)
        dev = self.device
        self.views = [[a.to(dev) for a in self.augment(self.cfg.n_layers, generator=g)] for _ in range(2)]

    def ssl_terms(self, batch, user_emb, item_emb):
        if not self.views or not self.ssl_active():
            return {}
        users, items = torch.unique(batch["users"]), torch.unique(batch["pos"])

        def view(k, rows):
            if rows is None:
                return self.encoder(adj=self.views[k])
            return self.encoder.forward_rows(rows, adj=self.views[k])

        return {"ssl": self.cfg.ssl.weight * self.view_contrast(users, items, view)}
