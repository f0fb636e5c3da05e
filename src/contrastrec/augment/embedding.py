"""Embedding-space augmentation: uniform random noise (SimGCL, Yu et al., "Are Graph Augmentations
Necessary? Simple Graph Contrastive Learning for Recommendation", SIGIR 2022; XSimGCL, Yu et al.,
"XSimGCL: Towards Extremely Simple Graph Contrastive Learning for Recommendation", TKDE 2023).

``Delta = eps * sign(e) * normalize(U(0, 1)^D)``: a random direction in the positive orthant,
L2-normalized per row, scaled to length ``eps`` and flipped into the orthant of the embedding, so
the perturbation is small (``||Delta|| = eps``) and never moves ``e`` to another hyper-octant.
Defaults: ``eps = 0.1`` (SimGCL; the SELFRec reference config ``SimGCL: -eps 0.1``); XSimGCL's
reference config uses 0.2.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from contrastrec.augment._common import rand_bulk

__all__ = ["uniform_noise", "perturb", "EmbeddingNoise"]


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (eps >= 0) or eps == float("inf"):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    return float(eps)


def uniform_noise(
    emb: torch.Tensor, eps: float, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """SimGCL noise for ``emb``.

    Args:
        emb: ``FloatTensor[..., D]`` (e.g. ``[N, D]`` node embeddings of one layer).
        eps: noise magnitude (L2 norm of each row of the noise).
        training: ``False`` returns zeros.
    Returns:
        ``FloatTensor`` like ``emb``: ``sign(emb) * normalize(U(0,1)) * eps``. Rows have norm
        ``eps`` wherever ``emb`` has no zero entries (``sign(0) = 0`` removes those components).
        The noise carries no gradient; the caller adds it (``emb + noise``).
    """
    eps = _check_eps(eps)
    if not training or eps == 0.0:
        return torch.zeros_like(emb)
    u = rand_bulk(emb.shape, generator, emb.device, dtype=emb.dtype if emb.is_floating_point() else torch.float32)
    # in place (same values as sign(emb) * F.normalize(u) * eps, fewer temporaries: this runs on every
    # layer of every view at every step)
    u.div_(torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min_(1e-12)).mul_(eps)
    return u.mul_(torch.sign(emb.detach()))


def perturb(
    emb: torch.Tensor, eps: float, training: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``emb + uniform_noise(emb, eps, training, generator)`` (a new tensor; gradients flow to emb)."""
    if not training or _check_eps(eps) == 0.0:
        return emb.clone()
    return emb + uniform_noise(emb, eps, training=True, generator=generator)


class EmbeddingNoise(nn.Module):
    """Module form of :func:`perturb`: ``EmbeddingNoise(eps=0.1)(emb [..., D], generator=None)``
    returns ``emb + noise`` in training mode and ``emb`` (a copy) in eval mode."""

    def __init__(self, eps: float = 0.1):
        super().__init__()
        self.eps = _check_eps(eps)

    def noise(self, emb: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return uniform_noise(emb, self.eps, training=self.training, generator=generator)

    def forward(self, emb: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return perturb(emb, self.eps, training=self.training, generator=generator)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
