"""Matrix factorization trained with BPR (Rendle et al., UAI 2009)."""
from __future__ import annotations

import torch

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel


class MF(GraphModel):
    NAME = "mf"
    DESCRIPTION = "matrix factorization with BPR (Rendle et al. 2009)"
    DEMO = GRAPH_DEMO
    ENCODERS = ("mf",)
    uses_graph = False
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "mf", "lr": 1e-3, "reg_weight": 1e-4}

    # optimizer=lazy_adam: the step reads the batch's rows by lookups (sparse gradients), its L2 term too; under
    # adam the tables are indexed whole as before (same values, the trajectories of the recorded rows unchanged)
    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.lazy = cfg.optimizer == "lazy_adam"
        if self.lazy:
            self.encoder.user_emb.sparse = self.encoder.item_emb.sparse = True

    @classmethod
    def dense_tables(cls, cfg: Config) -> str:
        if cfg.schema == "integrated":
            return "schema=integrated contrasts against the whole item table"
        return ""

    def sparse_parameters(self) -> list[torch.nn.Parameter]:
        return [self.encoder.user_emb.weight, self.encoder.item_emb.weight] if self.lazy else []

    def row_restricted(self) -> bool:
        return self.lazy

    def rows_embeddings(self, rows: torch.Tensor) -> torch.Tensor:
        return self.encoder.lookup_rows(rows)

    def reg_loss(self, users, pos, neg, neg_layer0=None) -> torch.Tensor:
        if not self.lazy:
            return super().reg_loss(users, pos, neg, neg_layer0)
        u, i = self.encoder.user_emb, self.encoder.item_emb  # lookups: row-sparse gradients
        r = u(users).pow(2).sum() + i(pos).pow(2).sum() + i(neg).pow(2).sum()
        return self.reg_weight * 0.5 * r / users.shape[0]
