"""The row-restricted training path (``GraphModel.ROW_RESTRICTED``: only the batch's rows of the last
LightGCN layer are propagated) gives the same loss terms and gradients as the full propagation."""
import numpy as np
import pytest
import torch

from contrastrec.config import build_config
from contrastrec.encoders.lightgcn import LightGCNEncoder
from contrastrec.graph import normalized_adjacency, spmm_rows, sym_spmm
from contrastrec.training.loop import build_model, make_batches

from tests.conftest import make_tiny


def _graph(n_users=40, n_items=25, n=300, seed=0):
    rng = np.random.default_rng(seed)
    return normalized_adjacency(rng.integers(0, n_users, n), rng.integers(0, n_items, n), n_users, n_items)


def test_spmm_rows_matches_full_product_and_gradient():
    adj = _graph()
    x = torch.randn(65, 7, dtype=torch.float64).float().requires_grad_()
    rows = torch.tensor([64, 3, 3, 0, 40, 17])  # any order, repeats allowed
    w = torch.randn(6, 7)
    y = spmm_rows(adj, rows, x)
    (y * w).sum().backward()
    g_rows = x.grad.clone()
    x.grad = None
    ref = torch.stack([sum(float(adj.to_dense()[r, j]) * x[j] for j in range(65)) for r in rows.tolist()])
    (sym_spmm(adj, x)[rows] * w).sum().backward()
    assert torch.allclose(y, ref, atol=1e-5)
    assert torch.allclose(g_rows, x.grad, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(spmm_rows(adj, rows, x), ref, atol=1e-5)


@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_propagate_rows_equals_rows_of_propagate(n_layers):
    enc = LightGCNEncoder(40, 25, 8, n_layers, _graph())
    rows = torch.tensor([0, 5, 39, 40, 64])
    full = [e[rows] for e in enc.propagate()]
    part = enc.propagate_rows(rows)
    assert len(full) == len(part) == n_layers + 1
    for a, b in zip(full, part):
        assert torch.allclose(a, b, atol=1e-6)
    u, i = enc(include_layer0=False)
    assert torch.allclose(enc.forward_rows(rows, include_layer0=False), torch.cat([u, i])[rows], atol=1e-6)


@pytest.mark.parametrize("name,over", [("lightgcn", {}), ("sgl", {"ssl.warmup_epochs": 0}),
                                       ("sgl", {"ssl.warmup_epochs": 0, "sgl.augment": "rw"}),
                                       ("simgcl", {"ssl.warmup_epochs": 0, "graph.eps": 0.0}),
                                       ("simgcl", {"ssl.warmup_epochs": 0, "graph.eps": 0.0, "ssl.loss": "debiased"}),
                                       ("xsimgcl", {"ssl.warmup_epochs": 0, "graph.eps": 0.0}),
                                       ("xsimgcl", {"ssl.warmup_epochs": 0, "graph.eps": 0.0, "graph.layer_cl": 2})])
def test_row_restricted_loss_and_grads_equal_full(name, over):
    ds = make_tiny()
    cfg = build_config(name, None, {"embedding_dim": 8, "batch_size": 16, "n_layers": 2, "seed": 0,
                                    "device": "cpu", **over})
    model = build_model(cfg, ds)
    assert type(model).ROW_RESTRICTED
    model.train()
    model.set_phase("joint")
    model.on_epoch_start(0)
    batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
    results = []
    for restricted in (True, False):
        model.ROW_RESTRICTED = restricted  # instance attribute shadows the class default
        model.zero_grad(set_to_none=True)
        terms = model.loss_terms(batch)
        sum(terms.values()).backward()
        results.append((terms, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (t1, g1), (t2, g2) = results
    assert t1.keys() == t2.keys() and ("ssl" in t1) == (name != "lightgcn")
    for k in t1:
        assert torch.allclose(t1[k], t2[k], atol=1e-6), k
    assert len(g1) == len(g2) > 0
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-6)


def test_simgcl_rows_view_noise_has_norm_eps_on_last_layer():
    ds = make_tiny()
    cfg = build_config("simgcl", None, {"embedding_dim": 8, "n_layers": 1, "seed": 0, "device": "cpu",
                                        "graph.eps": 0.3})
    model = build_model(cfg, ds)
    model.train()
    rows = torch.tensor([0, 3, model.n_users + 2])
    clean = model.encoder.forward_rows(rows, include_layer0=False)
    noisy = model._view(0, rows)
    assert torch.allclose((noisy - clean).norm(dim=-1), torch.full((3,), 0.3), atol=1e-5)


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
def test_propagate_rows_views_equals_separate_perturbed_propagations(n_layers):
    """Clean + two noisy views from one differentiable propagation: same values and same
    gradients as propagating each perturbed view on its own (the noise depends on each view's own
    pre-noise layer through its sign, as SimGCL's)."""
    torch.manual_seed(0)
    enc = LightGCNEncoder(40, 25, 8, n_layers, _graph())
    rows = torch.tensor([0, 5, 39, 40, 64, 5])
    fixed = {}

    def make_noise(k):
        def noise(x):  # deterministic given the view and the shape, sign-matched like SimGCL's
            w = fixed.setdefault((k, tuple(x.shape)), torch.rand(x.shape))
            return 0.3 * torch.sign(x.detach()) * w
        return noise

    noises = [None, make_noise(1), make_noise(2)]
    weights = [[torch.randn(rows.shape[0], 8) for _ in range(n_layers + 1)] for _ in noises]

    views = enc.propagate_rows_views(rows, noises)
    sum((e * w).sum() for layers, ws in zip(views, weights) for e, w in zip(layers, ws)).backward()
    shared = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    ref = [enc.propagate_rows(rows, perturb=None if f is None else (lambda x, f=f: x + f(x))) for f in noises]
    sum((e * w).sum() for layers, ws in zip(ref, weights) for e, w in zip(layers, ws)).backward()
    assert len(views) == 3
    for a_layers, b_layers in zip(views, ref):
        assert len(a_layers) == len(b_layers) == n_layers + 1
        for a, b in zip(a_layers, b_layers):
            assert torch.allclose(a, b, atol=1e-5)
    if n_layers:
        assert not torch.allclose(views[1][-1], views[0][-1])  # the noise is there
    for a, p in zip(shared, enc.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-5)


def test_simgcl_shared_path_uses_the_noise_and_matches_its_distribution():
    """With noise on, the shared-propagation training step of SimGCL gives the views the noise
    of separate propagations: at n_layers=1 each view's last layer is the clean one plus noise of
    norm eps, so the InfoNCE of the two views differs from the clean one."""
    ds = make_tiny()
    cfg = build_config("simgcl", None, {"embedding_dim": 8, "batch_size": 16, "n_layers": 1, "seed": 0,
                                        "device": "cpu", "graph.eps": 0.3, "ssl.warmup_epochs": 0})
    model = build_model(cfg, ds)
    model.train()
    model.set_phase("joint")
    model.on_epoch_start(0)
    rows = torch.tensor([0, 3, model.n_users + 2])
    from contrastrec.augment.embedding import uniform_noise
    clean, v1, v2 = model.encoder.propagate_rows_views(rows, [None] + [lambda x: uniform_noise(x, 0.3)] * 2)
    for v in (v1, v2):
        assert torch.allclose((v[-1] - clean[-1]).norm(dim=-1), torch.full((3,), 0.3), atol=1e-5)
        assert torch.equal(v[0], clean[0])
    assert not torch.allclose(v1[-1], v2[-1])
    batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
    terms = model.loss_terms(batch)
    assert set(terms) == {"rec", "reg", "ssl"} and torch.isfinite(terms["ssl"])
