"""k-means for prototype / intent contrast (NCL, ICLRec): faiss on CPU, torch fallback."""
from __future__ import annotations

import numpy as np
import torch


class ClusteringError(ValueError):
    pass


def kmeans(x: torch.Tensor, k: int, n_iter: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster rows of ``x [N, D]`` into ``k`` clusters.

    Returns ``(centroids [k, D], assignment LongTensor[N])`` on ``x``'s device. Raises
    :class:`ClusteringError` when there are fewer points than clusters.
    """
    n = x.shape[0]
    if k <= 0:
        raise ClusteringError(f"number of clusters must be positive, got {k}")
    if n < k:
        raise ClusteringError(f"k-means: {n} points cannot form {k} clusters; lower the number of clusters to <= {n}")
    data = x.detach().float().cpu().numpy().astype(np.float32, copy=True)
    try:
        import faiss

        km = faiss.Kmeans(data.shape[1], k, niter=n_iter, seed=seed, verbose=False, max_points_per_centroid=256)
        km.train(data)
        _, assign = km.index.search(data, 1)
        cent = torch.from_numpy(km.centroids.copy())
        assign = torch.from_numpy(assign.ravel().astype(np.int64))
    except ImportError:  # pragma: no cover - faiss is a dependency; keep a pure-torch path anyway
        cent, assign = _torch_kmeans(torch.from_numpy(data), k, n_iter, seed)
    return cent.to(x.device), assign.to(x.device)


def _torch_kmeans(x: torch.Tensor, k: int, n_iter: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    cent = x[torch.randperm(x.shape[0], generator=g)[:k]].clone()
    for _ in range(n_iter):
        assign = torch.cdist(x, cent).argmin(1)
        sums = torch.zeros_like(cent).index_add_(0, assign, x)
        cnt = torch.bincount(assign, minlength=k).clamp_min(1).unsqueeze(1)
        cent = torch.where(cnt > 0, sums / cnt, cent)
    return cent, torch.cdist(x, cent).argmin(1)
