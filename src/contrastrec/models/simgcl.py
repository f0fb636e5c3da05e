"""SimGCL (Yu et al., SIGIR 2022): no graph augmentation; two views from uniform noise added to
every layer's embeddings (random direction, L2 norm ε, signs matched to the embedding).

The layer mean excludes layer 0, as in the authors' code. The recommendation branch is the
clean propagation; InfoNCE is between the two noisy views over the batch's unique users and
items. ``graph.eps`` ε, ``ssl.temperature`` τ and ``ssl.weight`` λ come from config.

Default ``ssl.warmup_epochs = 3`` (not in the paper; 0 restores its schedule): BPR alone first, for
the reason given in :mod:`contrastrec.models.sgl`.
"""
from __future__ import annotations

import torch

from contrastrec.augment.embedding import perturb, uniform_noise
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.graph_base import GraphModel


class SimGCL(GraphModel):
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.2, "ssl.weight": 0.5,
                "graph.eps": 0.1, "reg_weight": 1e-4,
                "ssl.warmup_epochs": 3}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.eps = cfg.graph.eps

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.encoder not in ("", "lightgcn"):
            raise ConfigError(f"{cls.__name__.lower()} needs the lightgcn encoder")
        if cfg.graph.eps < 0:
            raise ConfigError("graph.eps must be >= 0")

    def on_epoch_start(self, epoch: int) -> None:
        self.ssl.reseed(self.cfg.seed * 31 + epoch)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        return perturb(x, self.eps, training=self.training)

    ROW_RESTRICTED = True

    def embeddings(self):
        return self.encoder(include_layer0=False)

    def rows_embeddings(self, rows):
        return self.encoder.forward_rows(rows, include_layer0=False)

    def _view(self, k: int, rows):
        if rows is None:
            return self.encoder(perturb=self._noise, include_layer0=False)
        return self.encoder.forward_rows(rows, perturb=self._noise, include_layer0=False)

    SHARED_PROPAGATION = True
    """Joint steps differentiate one propagation for the clean and both noisy views (see
    :meth:`_shared_loss_terms`); ``False`` propagates and differentiates each view on its own, as
    the authors' code does (same values and gradients; ``benchmarks/graph_speed.py`` times both)."""

    def loss_terms(self, batch):
        shared = (self.SHARED_PROPAGATION and self.ROW_RESTRICTED and self.cfg.schema != "integrated"
                  and self.cfg.ssl.negatives == "in_batch" and self.ssl_active())
        if not shared:
            return super().loss_terms(batch)
        return self._shared_loss_terms(batch)

    def _shared_loss_terms(self, batch):
        """The joint terms from one differentiable propagation: the clean view and the two noisy
        views differ by gradient-free additive noise, so they are the clean propagation plus the
        propagated noise (:meth:`LightGCNEncoder.propagate_rows_views`), and the backward of all
        three costs one propagation's. Same values and gradients as three propagations."""
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        rows, iu, ip, ineg, ju, ji = self.batch_rows(users, pos, neg, with_unique=True)
        noise = lambda x: uniform_noise(x, self.eps)  # noqa: E731
        clean, v1, v2 = (torch.stack(layers[1:], 0).mean(0) if len(layers) > 1 else layers[0]
                         for layers in self.encoder.propagate_rows_views(rows, [None, noise, noise]))
        terms = {"rec": self.rec_loss(clean[iu], clean[ip], clean[ineg], batch)}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, neg)
        terms["ssl"] = self.cfg.ssl.weight * (self.ssl(v1[ju], v2[ju]) + self.ssl(v1[ji], v2[ji]))
        return terms

    def ssl_terms(self, batch, user_emb, item_emb):
        if not self.ssl_active():
            return {}
        users, items = torch.unique(batch["users"]), torch.unique(batch["pos"])
        return {"ssl": self.cfg.ssl.weight * self.view_contrast(users, items, self._view)}
