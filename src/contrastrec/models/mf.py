"""Matrix factorization trained with BPR (Rendle et al., UAI 2009)."""
from __future__ import annotations

from contrastrec.models.graph_base import GraphModel


class MF(GraphModel):
    uses_graph = False
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "mf", "lr": 1e-3, "reg_weight": 1e-4}
