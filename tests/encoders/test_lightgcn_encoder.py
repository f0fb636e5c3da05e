"""LightGCN encoder options: the layer combination (``combine``: mean | sum, config ``layer_aggregate``),
propagation deeper than the output (``propagate(n_layers=)``), and training-time edge dropout of Â
without renormalisation (``set_edge_dropout``), each against a dense hand computation."""
import numpy as np
import pytest
import torch

from contrastrec.encoders.lightgcn import LightGCNEncoder
from contrastrec.graph import normalized_adjacency


def _graph(n_users=30, n_items=20, n=200, seed=0):
    rng = np.random.default_rng(seed)
    return normalized_adjacency(rng.integers(0, n_users, n), rng.integers(0, n_items, n), n_users, n_items)


def _dense_layers(enc, a, n_layers):
    x = torch.cat([enc.user_emb.weight, enc.item_emb.weight]).detach().double()
    d = a.to_dense().double()
    out = [x]
    for _ in range(n_layers):
        out.append(d @ out[-1])
    return out


@pytest.mark.parametrize("combine", ["mean", "sum"])
@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_combine_is_the_mean_or_the_sum_of_the_layers(combine, n_layers):
    torch.manual_seed(0)
    adj = _graph()
    enc = LightGCNEncoder(30, 20, 8, n_layers, adj, combine=combine)
    ref = torch.stack(_dense_layers(enc, adj, n_layers))
    want = ref.sum(0) if combine == "sum" else ref.mean(0)
    u, i = enc()
    assert torch.allclose(torch.cat([u, i]).double(), want, atol=1e-6)
    if n_layers:  # without layer 0 (SimGCL / XSimGCL)
        want1 = ref[1:].sum(0) if combine == "sum" else ref[1:].mean(0)
        u, i = enc(include_layer0=False)
        assert torch.allclose(torch.cat([u, i]).double(), want1, atol=1e-6)
    # the row-restricted output: the same rows, the same gradients
    rows = torch.tensor([0, 7, 7, 29, 30, 49])
    w = torch.randn(rows.shape[0], 8)
    (enc.forward_rows(rows) * w).sum().backward()
    g_rows = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    (torch.cat(enc())[rows] * w).sum().backward()
    assert torch.allclose(enc.forward_rows(rows), torch.cat(enc())[rows], atol=1e-6)
    for a, p in zip(g_rows, enc.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_sum_is_mean_times_layer_count():
    torch.manual_seed(0)
    adj = _graph()
    mean, total = LightGCNEncoder(30, 20, 8, 2, adj), LightGCNEncoder(30, 20, 8, 2, adj, combine="sum")
    total.load_state_dict(mean.state_dict())
    assert torch.allclose(torch.cat(total()), 3 * torch.cat(mean()), atol=1e-6)
    with pytest.raises(ValueError, match="combine must be one of mean, sum"):
        LightGCNEncoder(30, 20, 8, 2, adj, combine="max")


def test_propagate_deeper_than_the_output():
    torch.manual_seed(0)
    adj = _graph()
    enc = LightGCNEncoder(30, 20, 8, 1, adj)
    layers = enc.propagate(n_layers=4)
    ref = _dense_layers(enc, adj, 4)
    assert len(layers) == 5 and len(enc.propagate()) == 2
    for a, b in zip(layers, ref):
        assert torch.allclose(a.double(), b, atol=1e-6)


def test_edge_dropout_draws_a_symmetric_unnormalised_graph_per_training_propagation():
    torch.manual_seed(0)
    adj = _graph(n=400)
    enc = LightGCNEncoder(30, 20, 8, 2, adj, combine="sum")
    enc.set_edge_dropout(0.5)
    enc.train()
    full = adj.to_dense()
    torch.manual_seed(3)
    dropped = enc.default_adj().to_dense()
    # kept entries keep their weight in Â (no renormalisation, no 1/(1-p)); an edge goes in both directions
    assert torch.equal(dropped, dropped.t())
    kept = dropped != 0
    assert torch.equal(dropped[kept], full[kept])
    frac = kept.sum().item() / (full != 0).sum().item()
    assert 0.35 < frac < 0.65
    # a training propagation is the dense product over the graph drawn from the same generator state
    torch.manual_seed(3)
    layers = enc.propagate()
    for a, b in zip(layers, _dense_layers(enc, dropped.to_sparse_csr(), 2)):
        assert torch.allclose(a.double(), b, atol=1e-6)
    torch.manual_seed(3)
    rows = torch.tensor([1, 2, 40])
    assert torch.allclose(enc.forward_rows(rows), torch.stack([e[rows] for e in layers]).sum(0), atol=1e-6)
    assert not torch.equal(enc.default_adj().to_dense(), dropped)  # a new graph at every call
    enc.eval()  # evaluation propagates over Â
    for a, b in zip(enc.propagate(), _dense_layers(enc, adj, 2)):
        assert torch.allclose(a.double(), b, atol=1e-6)
    with pytest.raises(ValueError, match="edge dropout must be in"):
        enc.set_edge_dropout(1.0)
