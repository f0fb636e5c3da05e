"""The learnable hypergraph view of HCCF (augment/hypergraph.py) against plain loops over hyperedges
and nodes and against the dense n x n form Λ Λᵀ X; the entry dropout against its definition."""
import pytest
import torch

from contrastrec.augment.hypergraph import LearnableHypergraph, drop_entries


def _loop_hgnn(lam, x, slope):
    """σ(Λ σ(Λᵀ x)) one hyperedge, then one node at a time (float64)."""
    act = lambda v: torch.where(v >= 0, v, slope * v)  # noqa: E731
    n, k = lam.shape
    edges = [act(sum(lam[j, e] * x[j] for j in range(n))) for e in range(k)]  # each [D]
    return torch.stack([act(sum(lam[i, e] * edges[e] for e in range(k))) for i in range(n)])


def _block(dim=4, k=3, **kw):
    torch.manual_seed(0)
    return LearnableHypergraph(dim, k, **kw).double()


@pytest.mark.parametrize("slope, scale", [(1.0, 1.0), (0.5, 1.0), (0.1, 0.3)])
def test_propagation_equals_a_loop_over_hyperedges_and_nodes(slope, scale):
    hg = _block(negative_slope=slope, scale=scale)
    g = torch.Generator().manual_seed(1)
    emb, x = torch.randn(7, 4, generator=g, dtype=torch.float64), torch.randn(7, 4, generator=g, dtype=torch.float64)
    lam = hg.incidence(emb)
    w = hg.weight.detach()
    want_lam = torch.tensor([[scale * sum(float(emb[i, d]) * float(w[d, e]) for d in range(4)) for e in range(3)]
                             for i in range(7)], dtype=torch.float64)
    assert torch.allclose(lam, want_lam)
    assert torch.allclose(hg.propagate(lam, x), _loop_hgnn(want_lam, x, slope))
    hg.eval()
    assert torch.allclose(hg(emb, x, p=0.5), _loop_hgnn(want_lam, x, slope))  # no dropout in eval mode
    assert torch.allclose(hg(emb), _loop_hgnn(want_lam, emb, slope))  # x defaults to emb


def test_linear_hypergraph_is_the_dense_node_to_node_matrix_and_its_gradients():
    """With slope 1 (the reference codes' setting) the view is (Λ Λᵀ) X with the n x n matrix Λ Λᵀ =
    s² E W Wᵀ Eᵀ; the gradients of a loss on it match those of the dense form."""
    hg = _block(dim=5, k=4, scale=2.0)
    g = torch.Generator().manual_seed(2)
    emb = torch.randn(9, 5, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(9, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(9, 5, generator=g, dtype=torch.float64)
    out = hg.propagate(hg.incidence(emb), x)
    grads = torch.autograd.grad((out * w).sum(), (emb, x, hg.weight))
    wd = hg.weight.detach().clone().requires_grad_()
    e2, x2 = emb.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    m = 4.0 * e2 @ wd @ wd.t() @ e2.t()  # [n, n]
    dense = m @ x2
    assert torch.allclose(out, dense)
    want = torch.autograd.grad((dense * w).sum(), (e2, x2, wd))
    for a, b in zip(grads, want):
        assert torch.allclose(a, b)


def test_entry_dropout_rescales_the_kept_entries_and_is_unbiased():
    x = torch.rand(300, 40) + 0.5  # no zero entries
    assert drop_entries(x, 0.0) is x
    assert torch.equal(drop_entries(x, 1.0), torch.zeros_like(x))
    out = drop_entries(x, 0.3, torch.Generator().manual_seed(0))
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.7)
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.02
    again = drop_entries(x, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # seeded: repeatable
    assert not torch.equal(out, drop_entries(x, 0.3, torch.Generator().manual_seed(1)))
    g = torch.Generator().manual_seed(3)
    small = x[:5, :4]
    mean = torch.stack([drop_entries(small, 0.5, g) for _ in range(4000)]).mean(0)
    assert torch.allclose(mean, small, rtol=0.1)  # inverted dropout: E[drop(x)] = x
    big = torch.rand(500, 200) + 0.5  # a bulk draw (numpy's generator, seeded from the torch one)
    out = drop_entries(big, 0.25, torch.Generator().manual_seed(7))
    kept = out != 0
    assert torch.allclose(out[kept], big[kept] / 0.75) and abs(kept.float().mean().item() - 0.75) < 0.01
    assert torch.equal(out, drop_entries(big, 0.25, torch.Generator().manual_seed(7)))
    with pytest.raises(ValueError, match="p must be in"):
        drop_entries(x, 1.5)


def test_forward_drops_the_incidence_once_per_call_in_training_mode():
    hg = _block(dim=4, k=6)
    g = torch.Generator().manual_seed(4)
    emb = torch.randn(8, 4, generator=g, dtype=torch.float64)
    hg.train()
    out = hg(emb, p=0.5, generator=torch.Generator().manual_seed(5))
    lam = drop_entries(hg.incidence(emb), 0.5, torch.Generator().manual_seed(5))  # the same draws
    assert torch.allclose(out, _loop_hgnn(lam, emb, 1.0))  # one mask, used by both halves
    assert not torch.allclose(out, hg(emb, p=0.5, generator=torch.Generator().manual_seed(6)))
    assert torch.allclose(hg(emb, p=0.0), _loop_hgnn(hg.incidence(emb), emb, 1.0))


def test_parameters_and_arguments():
    hg = LearnableHypergraph(8, 16)
    assert [n for n, _ in hg.named_parameters()] == ["weight"] and hg.weight.shape == (8, 16)
    bound = (6 / (8 + 16)) ** 0.5  # xavier-uniform, as the reference codes
    assert hg.weight.abs().max() <= bound and hg.weight.std() > bound / 3
    assert "n_hyperedges=16" in repr(hg)
    with pytest.raises(ValueError, match="n_hyperedges must be >= 1"):
        LearnableHypergraph(8, 0)
