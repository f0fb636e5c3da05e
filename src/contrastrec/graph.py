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


def csr_rows(adj: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The rows ``rows`` ([R] node ids, any order, repeats allowed) of a sparse CSR matrix, as a
    sparse CSR ``[R, N]`` tensor, gathered without a Python loop."""
    crow = adj.crow_indices()
    start = crow[rows]
    count = crow[rows + 1] - start
    new_crow = torch.zeros(rows.shape[0] + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(count, 0, out=new_crow[1:])
    pos = torch.arange(int(new_crow[-1]), device=crow.device) - torch.repeat_interleave(new_crow[:-1] - start, count)
    return torch.sparse_csr_tensor(new_crow, adj.col_indices()[pos], adj.values()[pos],
                                   size=(rows.shape[0], adj.shape[1]), check_invariants=False)


class _RowSpMM(torch.autograd.Function):
    """y = A[rows] x for a symmetric A. Backward: A[rows]^T g = A G with G the rows' gradients
    scattered into an [N, D] zero matrix (one full product; scattering g with ``index_add_`` over
    the rows' nonzeros measured 4x slower on CPU)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.adj, ctx.n = adj, x.shape[0]
        ctx.save_for_backward(rows)
        return torch.sparse.mm(csr_rows(adj, rows), x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (rows,) = ctx.saved_tensors
        g = grad.new_zeros(ctx.n, grad.shape[1])
        g.index_put_((rows,), grad, accumulate=True)
        return None, None, torch.sparse.mm(ctx.adj, g)


def spmm_rows(adj: torch.Tensor, rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``(adj @ x)[rows]`` computed on the rows' slice of the *symmetric* sparse CSR ``adj`` only: ``[R, D]``.

    A training batch touches a few thousand of the graph's nodes, so the last propagation layer
    (whose output is only read at the batch's rows) costs O(nnz of those rows), not O(nnz)."""
    if x.requires_grad:
        return _RowSpMM.apply(adj, rows, x)
    return torch.sparse.mm(csr_rows(adj, rows), x)
