"""Projection heads g(.) between the encoder and the contrastive loss.

SimCLR (Chen et al., "A simple framework for contrastive learning of visual representations",
ICML 2020) showed that computing the contrastive loss on ``g(h)`` rather than on ``h`` improves the
representation ``h``; the head is used for the SSL branch only. Heads accept any leading shape
``[..., dim]`` (e.g. [B, D] or [B, L, D] for sequences).
"""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["HEADS", "LinearHead", "MLPHead", "make_head"]

HEADS = ("none", "linear", "mlp")


def _check_dim(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


class LinearHead(nn.Module):
    """``g(h) = W h + b``: ``[..., dim] -> [..., out_dim]`` (``out_dim`` defaults to ``dim``)."""

    def __init__(self, dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        _check_dim("dim", dim)
        out_dim = dim if out_dim is None else _check_dim("out_dim", out_dim)
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class MLPHead(nn.Module):
    """SimCLR head ``Linear -> [BatchNorm1d] -> ReLU -> Linear``: ``[..., dim] -> [..., out_dim]``.

    ``hidden_dim`` and ``out_dim`` default to ``dim``. Batch norm statistics are taken over all
    leading dimensions (the input is flattened to ``[N, hidden_dim]`` for it).
    """

    def __init__(self, dim: int, hidden_dim: int | None = None, out_dim: int | None = None,
                 batch_norm: bool = False) -> None:
        super().__init__()
        _check_dim("dim", dim)
        hidden_dim = dim if hidden_dim is None else _check_dim("hidden_dim", hidden_dim)
        out_dim = dim if out_dim is None else _check_dim("out_dim", out_dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.bn = nn.BatchNorm1d(hidden_dim) if batch_norm else None
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        if self.bn is not None:
            shape = h.shape
            h = self.bn(h.reshape(-1, shape[-1])).reshape(shape)
        return self.fc2(self.act(h))


def make_head(kind: str = "none", dim: int | None = None, hidden_dim: int | None = None,
              out_dim: int | None = None, batch_norm: bool = False) -> nn.Module:
    """Projection head by name: ``"none"`` (``nn.Identity``), ``"linear"`` or ``"mlp"``.

    ``hidden_dim`` and ``batch_norm`` only apply to ``"mlp"`` (ignored otherwise). ``"none"`` cannot
    change the dimension: ``out_dim`` different from ``dim`` raises ``ValueError``, as does an
    unknown ``kind``.
    """
    if kind not in HEADS:
        raise ValueError(f"unknown head {kind!r}; valid choices: {', '.join(HEADS)}")
    if kind == "none":
        if out_dim is not None and dim is not None and out_dim != dim:
            raise ValueError(f"head 'none' keeps the dimension; out_dim={out_dim} != dim={dim}")
        return nn.Identity()
    if dim is None:
        raise ValueError(f"head {kind!r} needs dim")
    if kind == "linear":
        return LinearHead(dim, out_dim)
    return MLPHead(dim, hidden_dim, out_dim, batch_norm)
