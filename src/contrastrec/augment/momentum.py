"""Momentum (exponential moving average) target networks: BYOL (Grill et al., NeurIPS 2020), BUIR
(Lee et al., SIGIR 2021), MoCo's key encoder.

The target ``ξ`` is a copy of the online module ``θ`` that is not trained by gradient; after each
optimizer step it moves towards the online weights:

    ξ ← m ξ + (1 − m) θ        (m = momentum, e.g. 0.995)

* :func:`ema_` does that update on two parameter lists;
* :class:`MomentumTarget` holds the copy (``MomentumTarget(online)``: a deep copy, parameters with
  ``requires_grad=False``, so it is a submodule of the model and its weights are in ``state_dict``:
  a resumed run continues from the same target), ``target.update(online, momentum)`` and
  ``target(*args)`` (the copy's forward, without autograd).

Floating-point buffers (e.g. batch-norm statistics) are copied from the online module at each
update, as BYOL does; other buffers are left alone. Attributes of the online module that are not
parameters or buffers (e.g. a LightGCN encoder's adjacency, rebuilt from data) can be shared rather
than copied with ``share=[...]``.
"""
from __future__ import annotations

import copy
from typing import Iterable

import torch
import torch.nn as nn

__all__ = ["ema_", "MomentumTarget"]


def _check_momentum(momentum: float) -> float:
    m = float(momentum)
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
    return m


@torch.no_grad()
def ema_(target: Iterable[torch.Tensor], online: Iterable[torch.Tensor], momentum: float) -> None:
    """In place, for each pair: ``t ← m t + (1 − m) o``. The lists must match in length and shapes."""
    m = _check_momentum(momentum)
    target, online = list(target), list(online)
    if len(target) != len(online):
        raise ValueError(f"target has {len(target)} tensors, online {len(online)}")
    for t, o in zip(target, online):
        if t.shape != o.shape:
            raise ValueError(f"shape mismatch: target {tuple(t.shape)} vs online {tuple(o.shape)}")
        t.mul_(m).add_(o.detach().to(t.dtype), alpha=1.0 - m)


class MomentumTarget(nn.Module):
    """An EMA copy of ``online`` (see the module docstring). ``share``: objects reachable from
    ``online`` that the copy references instead of copying (the same object in both)."""

    def __init__(self, online: nn.Module, share: Iterable[object] = ()):
        super().__init__()
        memo = {id(obj): obj for obj in share}
        self.module = copy.deepcopy(online, memo)
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module, momentum: float) -> None:
        """``ξ ← m ξ + (1 − m) θ`` for every parameter; floating buffers are copied."""
        ema_(self.module.parameters(), online.parameters(), momentum)
        for t, o in zip(self.module.buffers(), online.buffers()):
            if t.is_floating_point() and t.shape == o.shape:
                t.copy_(o)

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.module(*args, **kwargs)
