"""The learned adaptive edge mask (augment/adaptive_mask.py, DCCF) against a dense computation:
α = (cos + 1) / 2 on the edges, D_α^-1 M_α x, values and gradients (float64 and float32), the
row-restricted form against the full one, degenerate rows, and the symmetric-pattern requirement."""
import numpy as np
import pytest
import torch

from contrastrec.augment.adaptive_mask import AdaptiveEdgeMask, edge_alignment
from contrastrec.graph import normalized_adjacency


def _graph(n_users=9, n_items=7, n=30, seed=0):
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    # user 8 and item 6 (node 15) have no edge: isolated rows
    keep = (users != n_users - 1) & (items != n_items - 1)
    return normalized_adjacency(users[keep], items[keep], n_users, n_items), n_users + n_items


def _dense(adj, z, x):
    """Brute force: α on every edge of the pattern, rows divided by their sums (0 for a zero sum)."""
    edges = (adj.to_dense() != 0).to(z.dtype)
    zn = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    alpha = (zn @ zn.t() + 1) / 2 * edges
    deg = alpha.sum(1, keepdim=True)
    return torch.where(deg > 0, alpha / torch.where(deg > 0, deg, torch.ones_like(deg)), torch.zeros_like(alpha)) @ x


def test_weights_are_the_shifted_cosines_of_each_edge():
    adj, n = _graph()
    mask = AdaptiveEdgeMask(adj)
    z = torch.randn(n, 5, dtype=torch.float64)
    dense = adj.to_dense()
    assert mask.nnz == int((dense != 0).sum())
    assert torch.equal(dense[mask.head, mask.tail] != 0, torch.ones(mask.nnz, dtype=torch.bool))
    alpha = mask.weights(z)
    want = [(float(torch.nn.functional.cosine_similarity(z[h], z[t], dim=0)) + 1) / 2
            for h, t in zip(mask.head.tolist(), mask.tail.tolist())]
    assert torch.allclose(alpha, torch.tensor(want, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(alpha, edge_alignment(z[mask.head], z[mask.tail]), atol=1e-12)
    assert float(alpha.min()) >= 0 and float(alpha.max()) <= 1


def test_propagation_equals_the_dense_row_normalised_graph_values_and_gradients():
    adj, n = _graph()
    mask = AdaptiveEdgeMask(adj)
    z = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    x = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(n, 4, dtype=torch.float64)
    y = mask(z, x)
    ref = _dense(adj, z, x)
    assert torch.allclose(y, ref, atol=1e-12)
    assert torch.equal(y[[8, 15]], torch.zeros(2, 4, dtype=torch.float64))  # isolated nodes
    gz, gx = torch.autograd.grad((y * w).sum(), (z, x))
    rz, rx = torch.autograd.grad((ref * w).sum(), (z, x))
    assert torch.allclose(gz, rz, atol=1e-10) and torch.allclose(gx, rx, atol=1e-10)
    assert gz.abs().sum() > 0  # the mask is learned: gradients reach its inputs
    # the hand-written backwards (SDDMM, weighted product and its transpose), numerically
    assert torch.autograd.gradcheck(lambda z_, x_: mask(z_, x_), (z, x))
    alpha = mask.weights(z.detach()).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: mask.propagate(a, x.detach()), (alpha,))


def test_float32_and_half_precision_inputs():
    adj, n = _graph(seed=1)
    mask = AdaptiveEdgeMask(adj)
    z, x = torch.randn(n, 8), torch.randn(n, 8)
    ref = _dense(adj, z.double(), x.double())
    assert mask(z, x).dtype == torch.float32 and torch.allclose(mask(z, x).double(), ref, atol=1e-5)
    out = mask(z.bfloat16(), x.bfloat16())  # autocast inputs are computed in float32
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), _dense(adj, z.bfloat16().double(), x.bfloat16().double()), atol=1e-5)


def test_a_row_whose_weights_are_all_zero_propagates_zero_with_finite_gradients():
    users, items = np.array([0, 1]), np.array([0, 0])  # item 0 (node 2) has neighbours 0 and 1
    adj = normalized_adjacency(users, items, 2, 1)
    mask = AdaptiveEdgeMask(adj)
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]], requires_grad=True)  # cos(item, user) = -1
    x = torch.randn(3, 2, requires_grad=True)
    y = mask(z, x)
    assert torch.equal(y, torch.zeros(3, 2))
    y.sum().backward()
    assert torch.isfinite(z.grad).all() and torch.isfinite(x.grad).all()


def test_row_restricted_propagation_equals_the_full_rows_and_reads_only_the_neighbourhood():
    adj, n = _graph(n=40, seed=2)
    mask = AdaptiveEdgeMask(adj)
    rows = torch.tensor([11, 0, 8, 3, 14])  # any order; 8 is isolated
    edges = mask.row_edges(rows)
    dense = adj.to_dense() != 0
    want_nodes = sorted(set(rows.tolist()) | set(dense[rows].nonzero()[:, 1].tolist()))
    assert edges.nodes.tolist() == want_nodes
    assert torch.equal(edges.nodes[edges.row_at], rows)
    z = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    x = torch.randn(n, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(rows.shape[0], 6, dtype=torch.float64)
    y = mask.propagate_rows(edges, z[edges.nodes], x[edges.nodes])
    full = mask(z, x)[rows]
    assert torch.allclose(y, full, atol=1e-12)
    g_rows = torch.autograd.grad((y * w).sum(), (z, x))
    g_full = torch.autograd.grad((full * w).sum(), (z, x))
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(g_rows, g_full))
    assert torch.autograd.gradcheck(lambda z_, x_: mask.propagate_rows(edges, z_, x_),
                                    (z.detach()[edges.nodes].requires_grad_(), x.detach()[edges.nodes].requires_grad_()))


def test_the_edge_set_must_be_symmetric():
    a = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]).to_sparse_csr()
    with pytest.raises(ValueError, match="symmetric edge set"):
        AdaptiveEdgeMask(a)
    with pytest.raises(ValueError, match="square"):
        AdaptiveEdgeMask(torch.ones(2, 3).to_sparse_csr())
    AdaptiveEdgeMask(torch.tensor([[0.0, 2.0], [5.0, 0.0]]).to_sparse())  # values are ignored; COO accepted
