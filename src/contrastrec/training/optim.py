"""The optimizer of a run (config ``optimizer``).

* ``adam`` (default): ``torch.optim.Adam`` over every trainable parameter, with ``weight_decay``.
* ``lazy_adam``: for large catalogues. The tables a model declares sparse
  (:meth:`Recommender.sparse_parameters`: tables its training only looks rows up in, e.g. a
  sequential model's item table under ``loss=sampled_softmax`` or ``bce``) get sparse gradients
  and ``torch.optim.SparseAdam``: a step moves only the rows the batch touched, and only their
  moments (TensorFlow's "LazyAdam"; the bias correction counts the table's steps). Every other
  parameter gets ``torch.optim.Adam``. Dense Adam reads and writes the whole table (weights and two
  moments) every step, so with a fixed batch an epoch costs ``steps x items``, which grows as the
  square of the data when the catalogue grows with it; here a step costs the rows it touches.
  A row's moments decay only on the steps that touch it, so the trajectory differs from ``adam``
  (a different optimizer, not an approximation of the same one). No weight decay (refused).

Both expose ``step``, ``zero_grad``, ``state_dict`` and ``load_state_dict``; a checkpoint of one
does not load into the other (the config is saved with it, so a resume rebuilds the same one).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class TrainingError(RuntimeError):
    """Training cannot continue (for example a NaN loss); the best checkpoint so far is kept."""


class LazyAdam:
    """``SparseAdam`` for ``sparse`` parameters, ``Adam`` for ``dense`` ones; one step moves both."""

    def __init__(self, dense: list[nn.Parameter], sparse: list[nn.Parameter], lr: float, model_name: str = ""):
        if not sparse:
            raise ValueError("LazyAdam needs at least one sparse parameter")
        self.sparse = list(sparse)
        self.model_name = model_name
        self.optimizers = [torch.optim.SparseAdam(self.sparse, lr=lr)]
        if dense:
            self.optimizers.append(torch.optim.Adam(dense, lr=lr))

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for p in self.sparse:
            if p.grad is not None and not p.grad.is_sparse:
                raise TrainingError(
                    f"optimizer=lazy_adam: a table of shape {tuple(p.shape)} got a dense gradient, so model "
                    f"{self.model_name} reads it whole under these settings; use optimizer=adam")
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict[str, Any]:
        return {"lazy_adam": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        states = state.get("lazy_adam") if isinstance(state, dict) else None
        if states is None or len(states) != len(self.optimizers):
            raise ValueError("the checkpoint's optimizer state is not optimizer=lazy_adam's")
        for o, s in zip(self.optimizers, states):
            o.load_state_dict(s)


def build_optimizer(model: nn.Module, optimizer: str, lr: float, weight_decay: float = 0.0):
    """The optimizer ``optimizer`` (``adam`` | ``lazy_adam``) over ``model``'s trainable
    parameters at learning rate ``lr``; None when nothing is trainable."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return None
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer != "lazy_adam":
        raise ValueError(f"unknown optimizer {optimizer!r} (adam, lazy_adam)")
    if weight_decay:
        raise ValueError("optimizer=lazy_adam has no weight decay")
    sparse_ids = {id(p) for p in model.sparse_parameters() if p.requires_grad}
    sparse = [p for p in params if id(p) in sparse_ids]
    dense = [p for p in params if id(p) not in sparse_ids]
    if not sparse:  # e.g. the tables are frozen: nothing is sparse, Adam does it all
        return torch.optim.Adam(dense, lr=lr)
    return LazyAdam(dense, sparse, lr, getattr(model.cfg, "model", ""))
