"""Bipartite user-item graph utilities shared by graph encoders and graph augmentations.

Nodes ``0..n_users-1`` are users, ``n_users..n_users+n_items-1`` are items.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import warnings

import torch

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def bipartite_adjacency(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, weights: np.ndarray | None = None
) -> sp.csr_matrix:
    """Symmetric (n_users+n_items)^2 adjacency of the user-item graph (duplicates collapse to 1)."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64) + n_users
    w = np.ones(len(users), dtype=np.float32) if weights is None else np.asarray(weights, np.float32)
    n = n_users + n_items
    rows = np.concatenate([users, items])
    cols = np.concatenate([items, users])
    vals = np.concatenate([w, w])
    a = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    a.data = np.minimum(a.data, 1.0).astype(np.float32) if weights is None else a.data.astype(np.float32)
    return a


def sym_normalize(a: sp.csr_matrix) -> sp.csr_matrix:
    """D^{-1/2} A D^{-1/2}; isolated nodes get zero rows."""
    deg = np.asarray(a.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        d = np.where(deg > 0, deg ** -0.5, 0.0).astype(np.float32)
    dm = sp.diags(d)
    return (dm @ a @ dm).tocsr().astype(np.float32)


def to_torch_csr(a: sp.csr_matrix, device: torch.device | str = "cpu") -> torch.Tensor:
    a = a.tocsr()
    a.sort_indices()
    return torch.sparse_csr_tensor(
        torch.from_numpy(a.indptr.astype(np.int64)),
        torch.from_numpy(a.indices.astype(np.int64)),
        torch.from_numpy(a.data.astype(np.float32)),
        size=a.shape,
        check_invariants=False,
    ).to(device)


def normalized_adjacency(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Symmetric-normalized bipartite adjacency as a torch sparse CSR tensor (LightGCN's A-hat)."""
    return to_torch_csr(sym_normalize(bipartite_adjacency(users, items, n_users, n_items)), device)


class _SymmetricSpMM(torch.autograd.Function):
    """y = A x for a symmetric sparse A: the backward is the same product, A^T g = A g."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adj, grad.contiguous())


def sym_spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sparse-dense product for a *symmetric* sparse matrix with a cheap backward."""
    if x.requires_grad:
        return _SymmetricSpMM.apply(adj, x)
    return torch.sparse.mm(adj, x)
