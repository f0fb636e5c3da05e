"""Matrix factorization trained with BPR (Rendle et al., UAI 2009)."""
from __future__ import annotations

from contrastrec.models.graph_base import GraphModel


class MF(GraphModel):
    NAME = "mf"
    DESCRIPTION = "matrix factorization with BPR (Rendle et al. 2009)"
    DEMO = {"epochs": 20, "lr": 5e-3, "batch_size": 1024}
    ENCODERS = ("mf",)
    uses_graph = False
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "mf", "lr": 1e-3, "reg_weight": 1e-4}
