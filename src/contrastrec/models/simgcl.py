"""SimGCL (Yu et al., SIGIR 2022): no graph augmentation; two views from uniform noise added to
every layer's embeddings (random direction, L2 norm ε = ``simgcl.eps``, signs matched to the embedding).

The layer mean excludes layer 0, as in the authors' code (``simgcl.include_layer0: true`` includes
it, as SSLRec's SimGCL does, which also sums the layers: ``layer_aggregate: sum``). The
recommendation branch is the clean propagation; InfoNCE is between the two noisy views over the
batch's unique users and items (``ssl.anchors``). ``simgcl.eps`` ε, ``ssl.temperature`` τ and
``ssl.weight`` λ come from config.

Default ``ssl.warmup_epochs = 3`` (not in the paper; 0 restores its schedule): BPR alone first, for
the reason given in :mod:`contrastrec.models.sgl`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastrec.augment.embedding import perturb, uniform_noise
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GRAPH_DEMO, LAYERS_SPACE, GraphModel
from contrastrec.models.ssl import ANCHORS, anchor_sets


@dataclass
class SimGCLParams:
    eps: float = 0.1  # ε: L2 norm of the noise added to every layer
    include_layer0: bool = False  # the output combines layers 0..L (SSLRec) instead of 1..L (the authors)


class SimGCL(GraphModel):
    NAME = "simgcl"
    DESCRIPTION = "SimGCL noise-perturbed graph contrast (Yu et al. SIGIR 2022)"
    Params = SimGCLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.2, "ssl.weight": 0.5,
                "reg_weight": 1e-4, "ssl.warmup_epochs": 3}
    SPACE = {**GraphModel.SPACE, **LAYERS_SPACE, **SSL_SPACE, "simgcl.eps": {"type": "float", "low": 0.01, "high": 0.5, "log": True}}
    DEMO = GRAPH_DEMO
    LAYER_AGGREGATE = True
    SSL_ANCHORS = ANCHORS

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.eps = self.params.eps
        self.layer0 = self.params.include_layer0

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.params.eps < 0:
            raise ConfigError(f"{cls.NAME}.eps must be >= 0, got {cfg.params.eps}")

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        return perturb(x, self.eps, training=self.training)

    ROW_RESTRICTED = True

    def embeddings(self):
        return self.encoder(include_layer0=self.layer0)

    def rows_embeddings(self, rows):
        return self.encoder.forward_rows(rows, include_layer0=self.layer0)

    def _view(self, k: int, rows):
        if rows is None:
            return self.encoder(perturb=self._noise, include_layer0=self.layer0)
        return self.encoder.forward_rows(rows, perturb=self._noise, include_layer0=self.layer0)

    SHARED_PROPAGATION = True
    """Joint steps differentiate one propagation for the clean and both noisy views (see
    :meth:`rows_forward`); ``False`` propagates and differentiates each view on its own, as
    the authors' code does (same values and gradients; ``benchmarks/graph_speed.py`` times both)."""

    def rows_forward(self, rows, with_views):
        """With the views: one differentiable propagation for the clean and both noisy views (they
        differ by gradient-free additive noise, so each is the clean propagation plus the propagated
        noise, :meth:`LightGCNEncoder.propagate_rows_views`): the backward of all three costs one
        propagation's. Same values and gradients as three propagations."""
        if not (with_views and self.SHARED_PROPAGATION):
            return self.rows_embeddings(rows), None
        noise = lambda x: uniform_noise(x, self.eps)  # noqa: E731
        clean, v1, v2 = (self.encoder.combine_layers(layers if self.layer0 or len(layers) == 1 else layers[1:])
                         for layers in self.encoder.propagate_rows_views(rows, [None, noise, noise]))
        return clean, (v1, v2)

    def ssl_terms(self, batch, user_emb, item_emb):
        us, its = anchor_sets(self.cfg.ssl.anchors, batch["users"], batch["pos"], batch["neg"])
        users, items = (us[0], its[0]) if self.cfg.ssl.anchors == "unique" else (us, its)
        return {"ssl": self.cfg.ssl.weight * self.view_contrast(users, items, self._view)}

    def integrated_views(self):
        return self._view(0, None), self._view(1, None)
