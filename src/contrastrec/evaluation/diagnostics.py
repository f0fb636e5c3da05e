"""Representation diagnostics: alignment and uniformity (Wang & Isola, ICML 2020).

With ``f(x) = x / ||x||``:

* ``alignment(x, y, alpha)  = mean_i ||f(x_i) - f(y_i)||^alpha`` over positive pairs (lower is
  better aligned);
* ``uniformity(x, t)        = log mean_{i<j} exp(-t ||f(x_i) - f(x_j)||^2)`` over distinct pairs
  (lower is more uniform; computed with a log-sum-exp for stability).

``alignment`` and ``uniformity`` are differentiable (usable as losses, e.g. DirectAU);
``embedding_diagnostics`` is a no-grad report returning Python floats.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from contrastrec.rng import stream_seed


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x))


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x if x.is_floating_point() else x.float(), dim=-1)


def _subsample_rows(n: int, max_points: int | None, seed: int, device) -> torch.Tensor | None:
    """Seeded random subset of ``min(n, max_points)`` row indices, or None for all rows."""
    if max_points is None or n <= max_points:
        return None
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=g)[: int(max_points)].to(device)


def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Mean ``||f(x_i) - f(y_i)||_2^alpha`` of L2-normalised positive pairs ``(x_i, y_i)``."""
    x, y = _as_tensor(x), _as_tensor(y)
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(f"x and y must be 2-D with equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("alignment needs at least one pair")
    x, y = _normalize(x), _normalize(y)
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniformity(
    x: torch.Tensor, t: float = 2.0, max_points: int | None = None, seed: int = 0
) -> torch.Tensor:
    """``log mean_{i<j} exp(-t ||f(x_i) - f(x_j)||^2)`` over distinct pairs of rows.

    With ``max_points`` set, a seeded random subset of at most that many rows is used (memory is
    O(max_points^2)).
    """
    x = _as_tensor(x)
    if x.dim() != 2:
        raise ValueError(f"x must be 2-D, got shape {tuple(x.shape)}")
    idx = _subsample_rows(x.shape[0], max_points, seed, x.device)
    if idx is not None:
        x = x[idx]
    n = x.shape[0]
    if n < 2:
        raise ValueError("uniformity needs at least two points")
    x = _normalize(x)
    sq = torch.pdist(x, p=2).pow(2)  # n(n-1)/2 distinct pairs
    return torch.logsumexp(sq.mul(-t), dim=0) - math.log(sq.shape[0])


def embedding_diagnostics(
    user_emb,
    item_emb,
    train_users,
    train_items,
    max_points: int = 5000,
    seed: int = 0,
    max_pairs: int = 100_000,
    alpha: float = 2.0,
    t: float = 2.0,
) -> dict[str, float]:
    """Alignment over training ``(user, item)`` pairs and uniformity of users and items.

    Returns ``{"alignment", "uniformity_user", "uniformity_item", "uniformity"}`` where
    ``uniformity`` is the mean of the user and item values. At most ``max_pairs`` pairs and
    ``max_points`` rows per side are used (seeded random subsets).
    """
    user_emb, item_emb = _as_tensor(user_emb), _as_tensor(item_emb)
    tu = _as_tensor(train_users).to(torch.long).reshape(-1)
    ti = _as_tensor(train_items).to(torch.long).reshape(-1)
    if tu.shape != ti.shape:
        raise ValueError("train_users and train_items must have the same length")
    with torch.no_grad():
        user_emb = user_emb.detach()
        item_emb = item_emb.detach()
        pidx = _subsample_rows(tu.shape[0], max_pairs, stream_seed(seed, "diagnostics.pairs"), tu.device)
        if pidx is not None:
            tu, ti = tu[pidx], ti[pidx]
        tu, ti = tu.to(user_emb.device), ti.to(item_emb.device)
        align = float(alignment(user_emb[tu], item_emb[ti].to(user_emb.device), alpha=alpha))
        uu = float(uniformity(user_emb, t=t, max_points=max_points, seed=stream_seed(seed, "diagnostics.users")))
        ui = float(uniformity(item_emb, t=t, max_points=max_points, seed=stream_seed(seed, "diagnostics.items")))
    return {
        "alignment": align,
        "uniformity_user": uu,
        "uniformity_item": ui,
        "uniformity": (uu + ui) / 2.0,
    }


__all__ = ("alignment", "uniformity", "embedding_diagnostics")
