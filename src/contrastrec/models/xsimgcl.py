"""XSimGCL (Yu et al., TKDE 2023): one perturbed propagation serves both tasks. The recommendation
branch uses the (noisy, in training) layer mean; the contrastive views are that final mean and the
output of layer l* (``xsimgcl.layer_cl``) of the same pass. Clean propagation at evaluation time.
``layer_aggregate: sum`` sums layers 1..L instead of averaging them; ``ssl.anchors`` chooses the
contrasted nodes (with explicit negatives).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastrec.augment.embedding import perturb
from contrastrec.config import Config, ConfigError
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GRAPH_DEMO, LAYERS_SPACE, GraphModel
from contrastrec.models.ssl import ANCHORS, anchor_sets


@dataclass
class XSimGCLParams:
    eps: float = 0.2  # ε: L2 norm of the noise added to every layer
    layer_cl: int = 1  # l*: the layer contrasted with the final layer mean


class XSimGCL(GraphModel):
    NAME = "xsimgcl"
    DESCRIPTION = "XSimGCL cross-layer contrast in one perturbed pass (Yu et al. TKDE 2023)"
    Params = XSimGCLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.15, "ssl.weight": 0.2,
                "reg_weight": 1e-4}
    SPACE = {**GraphModel.SPACE, **LAYERS_SPACE, **SSL_SPACE, "xsimgcl.eps": {"type": "float", "low": 0.01, "high": 0.5, "log": True}}
    DEMO = GRAPH_DEMO
    ROW_RESTRICTED = True
    LAYER_AGGREGATE = True
    SSL_ANCHORS = ANCHORS

    def __init__(self, cfg: Config, dataset):
        super().__init__(cfg, dataset)
        self.eps, self.layer_cl = self.params.eps, self.params.layer_cl
        self._cl: torch.Tensor | None = None  # layer l* of the last training pass (explicit negatives)

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.params.eps < 0:
            raise ConfigError(f"xsimgcl.eps must be >= 0, got {cfg.params.eps}")
        if not 1 <= cfg.params.layer_cl <= cfg.n_layers:
            raise ConfigError(f"xsimgcl.layer_cl must be in [1, n_layers={cfg.n_layers}], got {cfg.params.layer_cl}")

    def _noise(self):
        """The training-time perturbation of every layer (None at evaluation: clean propagation)."""
        return (lambda x: perturb(x, self.eps, training=True)) if self.training else None

    def _pass(self):
        layers = self.encoder.propagate(perturb=self._noise())
        final = self.encoder.combine_layers(layers[1:])
        return final, layers[self.layer_cl]

    def integrated_views(self):
        final, cl = self._pass()
        return self.encoder.split(final), self.encoder.split(cl)

    def rows_forward(self, rows, with_views):
        """One perturbed pass at the batch's rows: the rec branch is its layer mean; the views are
        that mean and layer l* (the recommendation pass itself is noisy in training)."""
        layers = self.encoder.propagate_rows(rows, perturb=self._noise())
        final = self.encoder.combine_layers(layers[1:])
        return final, ((final, layers[self.layer_cl]) if with_views else None)

    def row_restricted(self) -> bool:
        # explicit negatives draw from whole tables: the full pass, whose layer l* is kept for the views
        return super().row_restricted() and self.cfg.ssl.negatives == "in_batch"

    def embeddings(self):
        final, cl = self._pass()
        self._cl = cl if self.training else None  # the same perturbed pass serves both tasks
        return self.encoder.split(final)

    def ssl_terms(self, batch, user_emb, item_emb):
        """Explicit negatives: the views are the full pass's layer mean and layer l* (whole tables)."""
        cu, ci = self.encoder.split(self._cl)
        uu, ii = anchor_sets(self.cfg.ssl.anchors, batch["users"], batch["pos"], batch["neg"])
        return {"ssl": self.cfg.ssl.weight * self.node_contrast(uu, ii, user_emb, item_emb, cu, ci)}
