"""BUIR (Lee et al., "Bootstrapping User and Item Representations for One-Class Collaborative
Filtering", SIGIR 2021; in SELFRec as BUIR with a LightGCN encoder, i.e. BUIR-NB).

Two encoders of the same architecture: the online encoder f_θ with a predictor q_θ (a linear
layer), and the target f_ξ, an exponential moving average of f_θ that gets no gradient
(:class:`~contrastrec.augment.momentum.MomentumTarget`, updated with momentum τ = ``buir.momentum``
after every optimizer step, through :meth:`Recommender.after_step`). For each interaction (u, i) of
the batch the online prediction of one side regresses on the target of the other, with no
negatives:

    L = ‖q̂(f_θ(u)) − ẑ(f_ξ(i))‖² + ‖q̂(f_θ(i)) − ẑ(f_ξ(u))‖²      (x̂ = x / ‖x‖; = 4 − 2cos − 2cos)

averaged over the batch. With the LightGCN encoder each forward pass (online and target each)
drops edges at a rate drawn uniformly from [0, ``buir.drop_rate``) (BUIR-NB's stochastic neighbour
augmentation; kept weights × 1/(1 − rate), :class:`~contrastrec.augment.sparse_dropout.SparseEdgeDropout`);
``encoder: mf`` is BUIR-ID (no augmentation). Scores: ``q(f_θ(u))·f_θ(i) + f_θ(u)·q(f_θ(i))`` on
the clean online encoder, exported as one dot product of concatenated vectors
(``[q(u), u]·[i, q(i)]``, dimension 2D).

Its loss is fixed by the method: the ``ssl.*`` keys are refused under ``schema: joint``. Under
``schema: integrated`` the configured ``ssl.loss`` replaces the bootstrap loss over the same two
views (online-predicted vs target), per docs/compose.md.

Defaults as SELFRec's conf/BUIR.yaml: LightGCN with 2 layers, τ = 0.995, drop rate 0.2, embedding 64,
batch 2048, lr 1e-3, no L2 term. SELFRec moves only the batch's rows of the target embeddings each
step; here the whole target moves (the paper's and its authors' update).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.augment.momentum import MomentumTarget
from contrastrec.augment.sparse_dropout import SparseEdgeDropout
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel


def bootstrap_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``mean_b ‖p_b/‖p_b‖ − z_b/‖z_b‖‖²`` (= 2 − 2 cos(p_b, z_b)); ``z`` (the target) gets no gradient."""
    return (F.normalize(p, dim=-1) - F.normalize(z.detach(), dim=-1)).pow(2).sum(-1).mean()


@dataclass
class BUIRParams:
    momentum: float = 0.995  # τ: target ← τ target + (1 − τ) online, after every step
    drop_rate: float = 0.2  # lightgcn: each forward drops edges at a rate drawn from [0, drop_rate)


class BUIR(GraphModel):
    NAME = "buir"
    DESCRIPTION = "BUIR bootstrapped online/momentum-target encoders, no negatives (Lee et al. SIGIR 2021)"
    Params = BUIRParams
    HAS_SSL = False  # one loss, the bootstrap loss, is the recommendation loss
    ENCODERS = ("mf", "lightgcn")
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 2, "reg_weight": 0.0,
                "batch_size": 2048, "lr": 1e-3}
    SPACE = {"lr": GraphModel.SPACE["lr"], "embedding_dim": GraphModel.SPACE["embedding_dim"],
             "buir.momentum": {"type": "float", "low": 0.9, "high": 0.999},
             "buir.drop_rate": {"type": "float", "low": 0.0, "high": 0.5}}
    DEMO = GRAPH_DEMO

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        p = self.params
        self.momentum, self.drop_rate = p.momentum, p.drop_rate
        dim = cfg.embedding_dim
        self.predictor = nn.Linear(dim, dim)
        adj = getattr(self.encoder, "adj", None)
        self.target = MomentumTarget(self.encoder, share=[adj] if adj is not None else [])
        self.edge_dropout = SparseEdgeDropout(adj) if adj is not None and self.drop_rate > 0 else None

    def _apply(self, fn, *args, **kwargs):  # the target keeps sharing the online encoder's adjacency
        out = super()._apply(fn, *args, **kwargs)
        if hasattr(self.encoder, "adj"):
            self.target.module.adj = self.encoder.adj
        return out

    # ------------------------------------------------------------------ what the model declares
    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema == "pretrain_finetune":
            raise ConfigError("buir has no self-supervised term to pre-train: its one loss is the bootstrap loss "
                              "(schema=joint, or schema=integrated with the configured ssl.loss)")
        if not 0 <= cfg.params.momentum <= 1:
            raise ConfigError(f"buir.momentum must be in [0, 1], got {cfg.params.momentum}")
        if not 0 <= cfg.params.drop_rate < 1:
            raise ConfigError(f"buir.drop_rate must be in [0, 1), got {cfg.params.drop_rate}")

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        out = {**super().inert_keys(cfg),
               "loss": "BUIR's loss (online prediction regressed on the momentum target) is fixed by the method",
               "n_negatives": "BUIR samples no negatives", "neg_sampler": "BUIR samples no negatives"}
        if cfg.schema == "joint":
            out["ssl.*"] = ("BUIR's loss (online prediction regressed on the momentum target, no negatives) is fixed "
                            "by the method; schema=integrated uses the configured ssl.loss over the same two views")
            out["reg_weight"] = "BUIR's loss has no L2 term (use weight_decay)"
        if (cfg.encoder or cls.DEFAULTS["encoder"]) == "mf":
            out["buir.drop_rate"] = "the mf encoder (BUIR-ID) has no graph edges to drop"
        return out

    # ------------------------------------------------------------------ pieces
    def _adj(self) -> torch.Tensor | None:
        """One forward pass's graph: edges dropped at a rate drawn from [0, drop_rate) while
        training (None: the encoder's own graph)."""
        if self.edge_dropout is None or not self.training:
            return None
        return self.edge_dropout(float(torch.rand(())) * self.drop_rate)

    @staticmethod
    def _tables(enc: nn.Module, adj) -> tuple[torch.Tensor, torch.Tensor]:
        return enc() if adj is None else enc(adj=adj)

    def _rows(self, enc: nn.Module, rows: torch.Tensor, adj) -> torch.Tensor:
        if hasattr(enc, "forward_rows"):
            return enc.forward_rows(rows, adj=adj)
        return torch.cat(self._tables(enc, adj), 0)[rows]

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Scoring tables ``[q(u), u]`` and ``[i, q(i)]`` (``[*, 2D]``) of the online encoder: their dot
        product is BUIR's score ``q(u)·i + u·q(i)``."""
        u, i = self.encoder()
        return torch.cat([self.predictor(u), u], -1), torch.cat([i, self.predictor(i)], -1)

    def integrated_views(self):
        """((q(f_θ(U)), q(f_θ(I))), (f_ξ(U), f_ξ(I))): online predictions and the target."""
        u, i = self._tables(self.encoder, self._adj())
        with torch.no_grad():
            target = self._tables(self.target.module, self._adj())
        return (self.predictor(u), self.predictor(i)), target

    # ------------------------------------------------------------------ contract
    def loss_terms(self, batch):
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos = batch["users"], batch["pos"]
        b = users.shape[0]
        rows, inv = torch.unique(torch.cat([users, pos + self.n_users]), return_inverse=True)
        online = self.predictor(self._rows(self.encoder, rows, self._adj()))
        with torch.no_grad():
            target = self._rows(self.target.module, rows, self._adj())
        iu, ii = inv[:b], inv[b:]
        return {"rec": bootstrap_loss(online[iu], target[ii]) + bootstrap_loss(online[ii], target[iu])}

    def after_step(self) -> None:
        self.target.update(self.encoder, self.momentum)
