"""DirectAU (Wang et al., KDD 2022): optimise alignment and uniformity directly (integrated schema:
one loss does both). Loss = align(user, positive item) + γ·(unif(users) + unif(items))/2 over the
batch (unique users / items for uniformity), γ = ``directau.gamma``, on an MF encoder by default
(``encoder=lightgcn`` works). Its loss is fixed by the method, so the ``ssl.*`` keys are refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.losses import functional as LF
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel


@dataclass
class DirectAUParams:
    gamma: float = 1.0  # γ: weight of the uniformity term


class DirectAU(GraphModel):
    NAME = "directau"
    DESCRIPTION = "DirectAU alignment + uniformity, integrated (Wang et al. KDD 2022)"
    Params = DirectAUParams
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "mf", "schema": "integrated",
                "batch_size": 1024, "reg_weight": 0.0, "weight_decay": 1e-6}
    SPACE = {"lr": GraphModel.SPACE["lr"], "embedding_dim": GraphModel.SPACE["embedding_dim"],
             "directau.gamma": {"type": "float", "low": 0.2, "high": 5.0, "log": True},
             "weight_decay": {"type": "float", "low": 1e-8, "high": 1e-4, "log": True}}
    # its alignment/uniformity loss converges in fewer epochs on smaller batches (batch 1024 needs ~50 here)
    DEMO = {**GRAPH_DEMO, "batch_size": 256, "lr": 1e-2}

    @classmethod
    def sections(cls, cfg: Config) -> tuple[str, ...]:
        return ()

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        return {**super().inert_keys(cfg), "ssl.*": "DirectAU's loss (alignment + uniformity) is fixed by the method; "
                "directau.gamma weighs its uniformity term",
                "loss": "DirectAU's loss is fixed by the method",
                "reg_weight": "DirectAU's loss has no L2 term (use weight_decay)",
                "n_negatives": "DirectAU samples no negatives", "neg_sampler": "DirectAU samples no negatives"}

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema != "integrated":
            raise ConfigError("directau is an integrated model: its one loss does both tasks (schema=integrated)")
        if cfg.params.gamma < 0:
            raise ConfigError(f"directau.gamma must be >= 0, got {cfg.params.gamma}")

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.gamma = self.params.gamma

    def loss_terms(self, batch):
        users, pos = batch["users"], batch["pos"]
        user_emb, item_emb = self.embeddings()
        u, i = user_emb[users], item_emb[pos]
        align = LF.alignment_loss(u, i)
        unif = 0.5 * (LF.uniformity_loss(user_emb[torch.unique(users)]) + LF.uniformity_loss(item_emb[torch.unique(pos)]))
        return {"rec": align + self.gamma * unif}
