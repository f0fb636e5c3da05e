"""SGL: Self-supervised Graph Learning (Wu et al., SIGIR 2021).

LightGCN + BPR, plus InfoNCE between two augmented views of each node (users and items of the
batch, unique). Views: edge dropout (ED), node dropout (ND) or random walk (RW: a different
dropped graph per layer), re-sampled at the start of every epoch (``sgl.augment``,
``sgl.drop_ratio`` ρ). ``ssl.weight`` λ and ``ssl.temperature`` τ come from config.

SSLRec's SGL differs in ways that are options here: its views are redrawn at every step
(``sgl.resample: step``) from Â with each edge dropped and the kept entries keeping their weights
(``sgl.normalize: full``; the SGL authors re-normalise the kept graph, ``kept``); its anchors are
every user, positive and negative item of the batch with duplicates kept, each against the whole
table of the other view (``ssl.anchors: batch_negatives``, ``ssl.negatives: all``); its layers are
summed (``layer_aggregate: sum``).

Default ``ssl.warmup_epochs = 3`` (not in the paper): BPR alone for 3 epochs, because from the
xavier initialisation the contrastive gradient swamps BPR under Adam on sparse data (BPR does not
move for hundreds of steps; see docs/results.md). Set it to 0 for the paper's schedule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from contrastrec.augment.graph import EdgeDropout, NodeDropout, RandomWalk
from contrastrec.augment.sparse_dropout import SparseEdgeDropout
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GRAPH_DEMO, LAYERS_SPACE, GraphModel
from contrastrec.models.ssl import ANCHORS, anchor_sets

VIEW_STREAM = "sgl.views"  # the views' draws (contrastrec.rng)


@dataclass
class SGLParams:
    augment: Literal["ed", "nd", "rw"] = "ed"  # edge dropout | node dropout | random walk (per-layer graphs)
    drop_ratio: float = 0.1  # ρ
    resample: Literal["epoch", "step"] = "epoch"  # when the two views are redrawn: every epoch (authors) | step (SSLRec)
    # the dropped graph's weights: "kept" = D^-1/2 A D^-1/2 of the kept edges (authors) | "full" = the kept
    # entries keep their weights in Â, no renormalisation or rescaling (SSLRec's EdgeDrop; ed and rw)
    normalize: Literal["kept", "full"] = "kept"


class SGL(GraphModel):
    NAME = "sgl"
    DESCRIPTION = "SGL graph augmentation contrast, sgl.augment=ed|nd|rw (Wu et al. SIGIR 2021)"
    Params = SGLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.2, "ssl.weight": 0.1,
                "reg_weight": 1e-4, "ssl.warmup_epochs": 3}
    SPACE = {**GraphModel.SPACE, **LAYERS_SPACE, **SSL_SPACE, "sgl.drop_ratio": {"type": "float", "low": 0.05, "high": 0.5}}
    DEMO = GRAPH_DEMO
    AUGMENTS = {"ed": EdgeDropout, "nd": NodeDropout, "rw": RandomWalk}
    ROW_RESTRICTED = True
    LAYER_AGGREGATE = True
    SSL_ANCHORS = ANCHORS

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p = self.params
        if p.normalize == "kept":
            self.augment = self.AUGMENTS[p.augment](
                dataset.train.users, dataset.train.items, self.n_users, self.n_items, p.drop_ratio
            )
        else:  # entries of the training graph Â, dropped in place
            self.dropper = SparseEdgeDropout(self.encoder.adj)
        self.views: list = []
        self._view_gen: torch.Generator | None = None  # resample=step: the epoch's generator, drawn at every step

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if not 0 <= cfg.params.drop_ratio < 1:
            raise ConfigError(f"sgl.drop_ratio must be in [0, 1), got {cfg.params.drop_ratio}")
        if cfg.params.normalize == "full" and cfg.params.augment == "nd":
            raise ConfigError("sgl.normalize=full drops entries of Â edge by edge (augment ed or rw); node dropout "
                              "(sgl.augment=nd) re-normalises the kept graph (use sgl.normalize=kept)")

    def _draw_views(self, g: torch.Generator) -> list[list[torch.Tensor]]:
        """The two views' adjacencies (one per layer) drawn from ``g``."""
        p, n = self.params, self.cfg.n_layers
        if p.normalize == "kept":
            dev = self.device
            return [[a.to(dev) for a in self.augment(n, generator=g)] for _ in range(2)]
        if p.augment == "ed":  # one dropped graph shared by the layers
            return [[self.dropper(p.drop_ratio, g, rescale=False)] * n for _ in range(2)]
        return [[self.dropper(p.drop_ratio, g, rescale=False) for _ in range(n)] for _ in range(2)]

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self.views, self._view_gen = [], None
        if not self.ssl_active():
            return
        g = self.stream(VIEW_STREAM, epoch)
        if self.params.resample == "step":
            self._view_gen = g
            return
        self.views = self._draw_views(g)

    def step_views(self) -> list[list[torch.Tensor]]:
        """This step's two views: the epoch's, or (``resample: step``) two fresh ones."""
        if self._view_gen is not None:
            return self._draw_views(self._view_gen)
        return self.views

    def ssl_terms(self, batch, user_emb, item_emb):
        views = self.step_views()
        if not views:
            return {}
        us, its = anchor_sets(self.cfg.ssl.anchors, batch["users"], batch["pos"], batch["neg"])
        users, items = (us[0], its[0]) if self.cfg.ssl.anchors == "unique" else (us, its)

        def view(k, rows):
            if rows is None:
                return self.encoder(adj=views[k])
            return self.encoder.forward_rows(rows, adj=views[k])

        return {"ssl": self.cfg.ssl.weight * self.view_contrast(users, items, view)}

    def integrated_views(self):
        views = self.step_views()
        return self.encoder(adj=views[0]), self.encoder(adj=views[1])
