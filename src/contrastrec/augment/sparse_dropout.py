"""Dropout of the edges of a fixed normalised adjacency, without renormalisation.

The kept entries of ``Â = D^-1/2 A D^-1/2`` keep their weights, scaled by ``1/(1-p)`` (inverted
dropout, ``torch.nn.functional.dropout`` on the values); degrees are *not* recomputed. This is the
edge dropout of the LightGCL authors' code (``sparse_dropout``, ``--dropout``) and of the LightGCN
encoder of BUIR-NB (SELFRec ``LGCN_Encoder.sparse_dropout``, with a rate drawn per forward pass).
SGL's :class:`~contrastrec.augment.graph.EdgeDropout` instead re-normalises the kept graph.

Here an undirected edge is dropped in both directions at once, so the result stays symmetric
(:func:`contrastrec.graph.sym_spmm` relies on it); the reference codes draw the two directions
independently. Draws come from ``generator`` (default: torch's global generator, which the
training loop reseeds every epoch, so a resumed run draws what an uninterrupted one would).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from contrastrec.augment._common import check_ratio, rand

__all__ = ["SparseEdgeDropout"]


class SparseEdgeDropout(nn.Module):
    """``SparseEdgeDropout(adj)(p, generator=None, rescale=True)``: ``adj`` (a symmetric sparse CSR
    ``[N, N]``) with each undirected edge dropped with probability ``p`` and the kept values multiplied
    by ``1/(1-p)`` (``rescale=False``: kept values unchanged, SSLRec's ``EdgeDrop``). Returns a sparse
    CSR tensor with ``adj``'s structure (dropped entries hold 0). ``p = 0`` or eval mode returns
    ``adj`` itself."""

    def __init__(self, adj: torch.Tensor):
        super().__init__()
        if adj.layout != torch.sparse_csr or adj.shape[0] != adj.shape[1]:
            raise ValueError("SparseEdgeDropout takes a square sparse CSR adjacency")
        crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
        n = adj.shape[0]
        row = torch.repeat_interleave(torch.arange(n, device=crow.device), crow[1:] - crow[:-1])
        key = torch.minimum(row, col) * n + torch.maximum(row, col)  # one id per undirected edge
        _, edge = torch.unique(key, return_inverse=True)
        self.n_nodes = n
        self.n_edges = int(edge.max()) + 1 if edge.numel() else 0
        self.register_buffer("crow", crow, persistent=False)
        self.register_buffer("col", col, persistent=False)
        self.register_buffer("val", val, persistent=False)
        self.register_buffer("edge", edge, persistent=False)  # [nnz]: the undirected edge of each entry

    def adjacency(self) -> torch.Tensor:
        """The un-dropped adjacency (on the module's device)."""
        return torch.sparse_csr_tensor(self.crow, self.col, self.val, size=(self.n_nodes, self.n_nodes),
                                       check_invariants=False)

    def keep_mask(self, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """``BoolTensor[n_edges]``: True = keep (Bernoulli(1 - p) per undirected edge)."""
        return rand((self.n_edges,), generator, self.val.device) >= p

    def forward(self, p: float, generator: torch.Generator | None = None, rescale: bool = True) -> torch.Tensor:
        p = check_ratio("p", p)
        if p == 0.0 or not self.training:
            return self.adjacency()
        if p == 1.0:
            vals = torch.zeros_like(self.val)
        else:
            vals = self.val * self.keep_mask(p, generator)[self.edge].to(self.val.dtype)
            if rescale:
                vals = vals * (1.0 / (1.0 - p))
        return torch.sparse_csr_tensor(self.crow, self.col, vals, size=(self.n_nodes, self.n_nodes),
                                       check_invariants=False)

    def extra_repr(self) -> str:
        return f"n_nodes={self.n_nodes}, n_edges={self.n_edges}"
