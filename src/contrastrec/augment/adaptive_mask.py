"""Learned adaptive edge mask: a graph augmentation whose edge weights come from the embeddings
(DCCF: Ren et al., "Disentangled Contrastive Collaborative Filtering", SIGIR 2023, method section:
the adaptive augmentation by a parameterized interaction mask; the authors' ``_adaptive_mask``,
HKUDS/DCCF model.py, and SSLRec's ``AdaptiveMask``, models/aug_utils.py).

For the edges ``(h, t)`` of a graph on ``N`` nodes and node representations ``z [N, D]``, each edge is
weighted by how well its two ends agree, and the weighted graph is row-normalised::

    α_ht = (cos(z_h, z_t) + 1) / 2                     ∈ [0, 1]
    G̃    = D_α^-1 M_α,   (M_α)_ht = α_ht,  (D_α)_hh = Σ_t α_ht
    y_h  = (G̃ x)_h = Σ_t α_ht x_t / Σ_t α_ht           (0 for a node without edges, or Σ_t α_ht = 0)

Nothing is random: the mask is *learned* through its inputs. ``α`` is differentiable in ``z`` (DCCF
feeds a layer's GNN-view or intent-view representations, gradients not stopped), ``y`` in ``α`` and
``x``. The graph's edge set is the non-zero pattern of a sparse CSR adjacency (its values are ignored);
it must be symmetric (``(t, h)`` an edge whenever ``(h, t)`` is: an undirected user-item graph), which the
cheap backward of :meth:`AdaptiveEdgeMask.propagate` uses.

* :func:`edge_alignment` ``(z_h [E, D], z_t [E, D]) -> α [E]``: the weights of paired rows;
* :class:`AdaptiveEdgeMask` ``(adj [N, N])``: ``mask(z, x) -> [N, D]`` the propagation through the
  graph masked by ``z``; its parts ``weights(z) -> α [nnz]`` (in CSR order: ``mask.head``, ``mask.tail``)
  and ``propagate(α, x)``; and the row-restricted form for a training step that reads few rows:
  ``edges = mask.row_edges(rows)`` (the rows' edges; ``edges.nodes [S]``: the rows and their
  neighbours, sorted, the only nodes whose ``z`` the rows' weights read) and
  ``mask.propagate_rows(edges, z[edges.nodes], x[edges.nodes]) -> [R, D]``, equal to ``mask(z, x)[rows]``.

Cost: ``weights`` is one sampled dense-dense product (SDDMM) over the pattern and ``propagate`` one
sparse-dense product, ``O(nnz·D)`` each, with no ``[nnz, D]`` gather; their backwards are sparse
products on the pattern and its transpose (measured several times faster on CPU than autograd through
``torch.sparse.sampled_addmm`` or through gathers and ``index_add``). Half-precision inputs
(autocast) are computed in float32; float64 stays float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["edge_alignment", "AdaptiveEdgeMask", "RowEdges"]


def edge_alignment(z_head: torch.Tensor, z_tail: torch.Tensor) -> torch.Tensor:
    """``α [E] = (cos(z_head, z_tail) + 1) / 2`` for paired rows ``z_head, z_tail [E, D]`` (each row
    L2-normalised with ``F.normalize``'s eps, as the reference code: a zero row has cosine 0)."""
    return ((F.normalize(z_head, dim=-1) * F.normalize(z_tail, dim=-1)).sum(-1) + 1) / 2


def _inverse_degree(alpha: torch.Tensor, head: torch.Tensor, n: int) -> torch.Tensor:
    """``1 / Σ_t α_ht`` per node ``[n]``, 0 where the sum is 0 (no edge: the reference code's
    ``pow(-1).nan_to_num(0, 0, 0)``), with a finite gradient everywhere."""
    deg = alpha.new_zeros(n).index_add_(0, head, alpha)
    has = deg > 0
    return has / torch.where(has, deg, torch.ones_like(deg))  # no 0 * inf in the backward


class _Pattern:
    """A sparse pattern ``[n_rows, n_cols]`` in CSR form (``crow``, ``col``: sorted, unique columns per
    row) and its transpose (``t``: the transposed pattern, ``order [nnz]``: entry ``k`` of the
    transpose is entry ``order[k]`` of this one)."""

    def __init__(self, crow: torch.Tensor, col: torch.Tensor, n_rows: int, n_cols: int,
                 transpose: tuple["_Pattern", torch.Tensor] | None = None):
        self.crow, self.col, self.shape = crow, col, (n_rows, n_cols)
        self.row = torch.repeat_interleave(torch.arange(n_rows, device=crow.device), crow.diff())
        self._transpose = transpose
        self._ones: dict[torch.dtype, torch.Tensor] = {}

    def ones(self, dtype: torch.dtype) -> torch.Tensor:
        """The pattern with values 1 (the SDDMM's sampling mask) in ``dtype``."""
        if dtype not in self._ones:
            self._ones[dtype] = self.csr(torch.ones(self.col.shape[0], dtype=dtype, device=self.col.device))
        return self._ones[dtype]

    def csr(self, values: torch.Tensor) -> torch.Tensor:
        return torch.sparse_csr_tensor(self.crow, self.col, values, size=self.shape, check_invariants=False)

    @property
    def transpose(self) -> tuple["_Pattern", torch.Tensor]:
        if self._transpose is None:
            order = torch.argsort(self.col * self.shape[0] + self.row)
            crow = torch.zeros(self.shape[1] + 1, dtype=self.crow.dtype, device=self.crow.device)
            crow[1:] = torch.cumsum(torch.bincount(self.col, minlength=self.shape[1]), 0)
            self._transpose = (_Pattern(crow, self.row[order], self.shape[1], self.shape[0], (self, None)), order)
        return self._transpose

    def mm(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(self.csr(values), x)

    def tmm(self, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(pattern with values)ᵀ @ x``."""
        t, order = self.transpose
        return t.mm(values[order], x)


class _SDDMM(torch.autograd.Function):
    """``v_e = a[row_e] · b[col_e]`` on a pattern: ``a [n_rows, D]``, ``b [n_cols, D]`` -> ``[nnz]``."""

    @staticmethod
    def forward(ctx, pattern: _Pattern, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.pattern = pattern
        ctx.save_for_backward(a, b)
        return torch.sparse.sampled_addmm(pattern.ones(a.dtype), a, b.t(), beta=0.0).values()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        a, b = ctx.saved_tensors
        p: _Pattern = ctx.pattern
        da = p.mm(grad, b) if ctx.needs_input_grad[1] else None
        db = p.tmm(grad, a) if ctx.needs_input_grad[2] else None
        return None, da, db


class _SpMM(torch.autograd.Function):
    """``y = W x`` for the pattern with values ``w [nnz]`` and ``x [n_cols, D]`` -> ``[n_rows, D]``,
    differentiable in both (``dw = SDDMM(g, x)``, ``dx = Wᵀ g``)."""

    @staticmethod
    def forward(ctx, pattern: _Pattern, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.pattern = pattern
        ctx.save_for_backward(w, x)
        return pattern.mm(w, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        w, x = ctx.saved_tensors
        p: _Pattern = ctx.pattern
        grad = grad.contiguous()
        dw = torch.sparse.sampled_addmm(p.ones(grad.dtype), grad, x.t(), beta=0.0).values() if ctx.needs_input_grad[1] else None
        dx = p.tmm(w, grad) if ctx.needs_input_grad[2] else None
        return None, dw, dx


def _full(z: torch.Tensor) -> torch.Tensor:
    """``z`` in float32 when it is in a half-precision type (autocast), else as it is (float64 stays)."""
    return z.float() if z.dtype in (torch.float16, torch.bfloat16) else z


def _normalize(z: torch.Tensor) -> torch.Tensor:
    return F.normalize(_full(z), dim=-1)


def _weights(pattern: _Pattern, zn_rows: torch.Tensor, zn_cols: torch.Tensor) -> torch.Tensor:
    """``α_e = (zn_rows[row_e] · zn_cols[col_e] + 1) / 2`` on ``pattern`` (rows already L2-normalised)."""
    return (_SDDMM.apply(pattern, zn_rows, zn_cols) + 1) / 2


def _propagate(pattern: _Pattern, alpha: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The row-normalised propagation ``y_r = Σ_e α_e x[col_e] / Σ_e α_e`` over the row's entries."""
    w = alpha * _inverse_degree(alpha, pattern.row, pattern.shape[0])[pattern.row]
    return _SpMM.apply(pattern, w, _full(x).to(w.dtype))


@dataclass
class RowEdges:
    """The edges of ``rows [R]`` (distinct node ids, any order), from :meth:`AdaptiveEdgeMask.row_edges`:
    ``nodes [S]``: the rows and all their neighbours, sorted and unique; ``row_at [R]``: where each
    row sits in ``nodes``; ``pattern``: the rows' edges as an ``[R, S]`` pattern over ``nodes``."""

    rows: torch.Tensor
    nodes: torch.Tensor
    row_at: torch.Tensor
    pattern: _Pattern


class AdaptiveEdgeMask:
    """The learned adaptive mask over the edge set of ``adj`` (sparse CSR ``[N, N]`` with a symmetric
    pattern; values ignored). See the module docstring for the formulas and shapes."""

    def __init__(self, adj: torch.Tensor):
        if adj.layout != torch.sparse_csr:
            adj = adj.to_sparse_csr()
        n = adj.shape[0]
        if adj.shape[1] != n:
            raise ValueError(f"the adjacency must be square, got {tuple(adj.shape)}")
        crow, col = adj.crow_indices(), adj.col_indices()
        row = torch.repeat_interleave(torch.arange(n, device=crow.device), crow.diff())
        key = row * n + col
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            order = torch.argsort(key)
            row, col, key = row[order], col[order], key[order]
            if not bool((key[1:] > key[:-1]).all()):
                raise ValueError("the adjacency has duplicate entries; coalesce it first")
            crow = torch.zeros_like(crow)
            crow[1:] = torch.cumsum(torch.bincount(row, minlength=n), 0)
        perm = torch.searchsorted(key, col * n + row).clamp_max(max(key.numel() - 1, 0))
        if key.numel() and not torch.equal(key[perm], col * n + row):
            raise ValueError("the adaptive edge mask needs a symmetric edge set ((t, h) for every edge (h, t))")
        self.n = n
        self.pattern = _Pattern(crow, col, n, n)
        self.pattern._transpose = (self.pattern, perm)  # symmetric: edge (h, t) -> the edge (t, h)

    @property
    def head(self) -> torch.Tensor:
        """``[nnz]``: the first end of each edge (CSR order)."""
        return self.pattern.row

    @property
    def tail(self) -> torch.Tensor:
        """``[nnz]``: the second end of each edge (CSR order)."""
        return self.pattern.col

    @property
    def nnz(self) -> int:
        return int(self.pattern.col.numel())

    def weights(self, z: torch.Tensor) -> torch.Tensor:
        """``α [nnz]`` of every edge ``(head[e], tail[e])`` from node representations ``z [N, D]``
        (= ``edge_alignment(z[head], z[tail])``, by one SDDMM of the normalised rows)."""
        zn = _normalize(z)
        return _weights(self.pattern, zn, zn)

    def propagate(self, alpha: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[N, D]``: ``x [N, D]`` propagated through the row-normalised graph with edge weights
        ``alpha [nnz]`` (``y_h = Σ_t α_ht x_t / Σ_t α_ht``)."""
        return _propagate(self.pattern, alpha, x)

    def __call__(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``[N, D]``: ``x`` propagated through the graph masked by ``z`` (``propagate(weights(z), x)``)."""
        return self.propagate(self.weights(z), x)

    def row_edges(self, rows: torch.Tensor) -> RowEdges:
        """The edges of ``rows [R]`` (distinct node ids) and the nodes their weights read (:class:`RowEdges`)."""
        crow, col = self.pattern.crow, self.pattern.col
        start = crow[rows]
        count = crow[rows + 1] - start
        sub_crow = torch.zeros(rows.shape[0] + 1, dtype=crow.dtype, device=crow.device)
        torch.cumsum(count, 0, out=sub_crow[1:])
        pos = torch.arange(int(sub_crow[-1]), device=crow.device) - torch.repeat_interleave(sub_crow[:-1] - start, count)
        tail = col[pos]
        nodes = torch.unique(torch.cat([rows, tail]))
        pattern = _Pattern(sub_crow, torch.searchsorted(nodes, tail), rows.shape[0], nodes.shape[0])
        return RowEdges(rows, nodes, torch.searchsorted(nodes, rows), pattern)

    def propagate_rows(self, edges: RowEdges, z_nodes: torch.Tensor, x_nodes: torch.Tensor) -> torch.Tensor:
        """``[R, D]``: rows ``edges.rows`` of ``self(z, x)``, from ``z_nodes = z[edges.nodes]`` and
        ``x_nodes = x[edges.nodes]`` (``[S, D]`` each): only the rows' edges are weighted."""
        zn = _normalize(z_nodes)
        alpha = _weights(edges.pattern, zn[edges.row_at], zn)
        return _propagate(edges.pattern, alpha, x_nodes)
