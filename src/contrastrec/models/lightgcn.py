"""LightGCN (He et al., SIGIR 2020): layer-mean propagation over Â, BPR, L2 on batch layer-0 embeddings.

``layer_aggregate: sum`` sums the layers instead (SSLRec's LightGCN); ``lightgcn.edge_dropout`` p
trains on a freshly edge-dropped Â at every step (kept entries keep their weights: SSLRec's LightGCN,
``keep_rate = 1 - p``; 0, the default, is the paper's LightGCN). Evaluation propagates over Â.
"""
from __future__ import annotations

from dataclasses import dataclass

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.graph_base import GRAPH_DEMO, LAYERS_SPACE, GraphModel


@dataclass
class LightGCNParams:
    edge_dropout: float = 0.0  # training steps: each edge of Â dropped with this probability (no renormalisation)


class LightGCN(GraphModel):
    NAME = "lightgcn"
    DESCRIPTION = "LightGCN (He et al. SIGIR 2020)"
    Params = LightGCNParams
    SPACE = {**GraphModel.SPACE, **LAYERS_SPACE}
    DEMO = GRAPH_DEMO
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 2, "reg_weight": 1e-4}
    ROW_RESTRICTED = True
    LAYER_AGGREGATE = True

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        if self.params.edge_dropout > 0:
            self.encoder.set_edge_dropout(self.params.edge_dropout)

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if not 0 <= cfg.params.edge_dropout < 1:
            raise ConfigError(f"lightgcn.edge_dropout must be in [0, 1), got {cfg.params.edge_dropout}")

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        out = super().inert_keys(cfg)
        if (cfg.encoder or "lightgcn") == "mf":
            out["lightgcn.edge_dropout"] = "the mf encoder does not propagate over a graph"
        return out
