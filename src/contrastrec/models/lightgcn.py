"""LightGCN (He et al., SIGIR 2020): layer-mean propagation over Â, BPR, L2 on batch layer-0 embeddings."""
from __future__ import annotations

from contrastrec.models.graph_base import GraphModel


class LightGCN(GraphModel):
    NAME = "lightgcn"
    DESCRIPTION = "LightGCN (He et al. SIGIR 2020)"
    SPACE = {**GraphModel.SPACE, "n_layers": {"type": "int", "low": 1, "high": 4}}
    DEMO = {"epochs": 20, "lr": 5e-3, "batch_size": 1024}
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 2, "reg_weight": 1e-4}
    ROW_RESTRICTED = True
