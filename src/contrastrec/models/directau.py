"""DirectAU (Wang et al., KDD 2022): optimise alignment and uniformity directly (integrated schema:
one loss does both). Loss = align(user, positive item) + γ·(unif(users) + unif(items))/2 over the
batch (unique users / items for uniformity), on an MF encoder by default (``encoder=lightgcn`` works).
"""
from __future__ import annotations

import torch

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.losses import functional as LF
from contrastrec.models.graph_base import GraphModel


class DirectAU(GraphModel):
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "mf", "schema": "integrated", "graph.gamma": 1.0,
                "batch_size": 1024, "reg_weight": 0.0, "weight_decay": 1e-6}

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema != "integrated":
            raise ConfigError("directau is an integrated model: its one loss does both tasks (schema=integrated)")

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.gamma = cfg.graph.gamma

    def loss_terms(self, batch):
        users, pos = batch["users"], batch["pos"]
        user_emb, item_emb = self.embeddings()
        u, i = user_emb[users], item_emb[pos]
        align = LF.alignment_loss(u, i)
        unif = 0.5 * (LF.uniformity_loss(user_emb[torch.unique(users)]) + LF.uniformity_loss(item_emb[torch.unique(pos)]))
        return {"rec": align + self.gamma * unif}
