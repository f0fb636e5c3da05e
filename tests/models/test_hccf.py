"""HCCF: the loss terms against a dense re-computation of the reference codes' forward and losses
(akaxlh/HCCF torchVersion, SSLRec models/general_cf/hccf.py), with and without the dropout (the same
draws, replayed from the epoch's generator), gradients included (the local view is detached in the
contrast); the integrated views; scoring; it learns on make_tiny; a resumed run equals an
uninterrupted one; its keys and refusals."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastrec.augment.hypergraph import drop_entries
from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import build_model, evaluate_model, fit, make_evaluator

from tests.conftest import fit_and_resume, make_tiny, one_batch, small_overrides


def _dense_norm(users, items, n_users, n_items):
    """Brute force D^-1/2 A D^-1/2 of the bipartite graph, [N, N]."""
    n = n_users + n_items
    a = np.zeros((n, n))
    for u, i in zip(users, items):
        a[u, n_users + i] = a[n_users + i, u] = 1.0
    deg = a.sum(1)
    d = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    return torch.tensor(d[:, None] * a * d[None, :], dtype=torch.float32)


def _nce(q, k, t, pool=None, ids=None):
    """-log( e^{cos(q_b, k_b)/t} / Σ_j e^{cos(q_b, p_j)/t} ), mean over b; pool: k (in-batch) or a table."""
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    p = k if pool is None else F.normalize(pool, dim=-1)
    pos = (q * k).sum(-1) / t
    return (torch.log(torch.exp(q @ p.t() / t).sum(-1)) - pos).mean()


def _reference(model, batch, drops=None):
    """The reference forward (dense) and its terms: E_l = Â_l E_{l-1} + [Λu_l Λu_lᵀ E_u; Λi_l Λi_lᵀ E_i],
    final = Σ_l E_l, BPR, and per layer InfoNCE(local detached, hypergraph) over the unique users and
    positive items. ``drops``: per layer (dropped Â, mask of Λu, mask of Λi)."""
    nu, p = model.n_users, model.params
    a = _dense_norm(model.train_users.numpy(), model.train_items.numpy(), nu, model.n_items)
    u0, i0 = model.encoder.layer0()
    act = lambda v: F.leaky_relu(v, p.leaky)  # noqa: E731
    lam_u = p.mult * u0 @ model.user_hyper.weight
    lam_i = p.mult * i0 @ model.item_hyper.weight
    x = torch.cat([u0, i0])
    layers, local, hyper = [x], [], []
    for l in range(model.cfg.n_layers):
        adj, mu, mi = drops[l] if drops else (a, 1.0, 1.0)
        z = adj @ x
        lu, li = lam_u * mu, lam_i * mi
        h = torch.cat([act(lu @ act(lu.t() @ x[:nu])), act(li @ act(li.t() @ x[nu:]))])
        x = z + h
        layers, local, hyper = layers + [x], local + [z], hyper + [h]
    final = sum(layers)
    u, i = final[:nu], final[nu:]
    users, pos, neg = batch["users"], batch["pos"], batch["neg"]
    diff = (u[users] * i[pos]).sum(-1, keepdim=True) - torch.einsum("bd,bkd->bk", u[users], i[neg])
    rec = -F.logsigmoid(diff).mean()
    uu, ii, t = torch.unique(users), torch.unique(pos), model.cfg.ssl.temperature
    whole = model.cfg.ssl.negatives == "all"
    ssl = 0
    for z, h in zip(local, hyper):
        z = z.detach()
        zu, zi, hu, hi = z[:nu], z[nu:], h[:nu], h[nu:]
        if whole:  # SSLRec: the denominator over the whole hypergraph-view table
            ssl = ssl + _nce(zu[uu], hu[uu], t, hu) + _nce(zi[ii], hi[ii], t, hi)
        else:  # the authors' torch code: over the batch's unique nodes
            ssl = ssl + _nce(zu[uu], hu[uu], t) + _nce(zi[ii], hi[ii], t)
    return rec, model.cfg.ssl.weight * ssl, (final, local, hyper)


def _grads(model, loss):
    params = [q for q in model.parameters() if q.requires_grad]
    return torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)


@pytest.mark.parametrize("over", [{}, {"ssl.negatives": "all", "hccf.leaky": 0.5, "hccf.mult": 0.5,
                                       "hccf.n_hyperedges": 8, "n_layers": 3}])
def test_terms_and_gradients_equal_the_dense_reference_without_dropout(over):
    model, batch = one_batch("hccf", **{"hccf.dropout": 0.0, **over})
    terms = model.loss_terms(batch)
    assert set(terms) == {"rec", "ssl"}  # L2 is the optimizer's weight decay (2 x SSLRec's reg 1e-7)
    rec, ssl, _ = _reference(model, batch)
    assert torch.allclose(terms["rec"], rec, rtol=1e-5)
    assert torch.allclose(terms["ssl"], ssl, rtol=1e-5)
    for a, b in zip(_grads(model, terms["ssl"]), _grads(model, ssl)):  # the local view is detached
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(_grads(model, terms["rec"]), _grads(model, rec)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    cfg = model.cfg  # SSLRec's hccf.yml
    assert (cfg.ssl.temperature, cfg.ssl.weight, cfg.ssl.similarity, cfg.weight_decay) == (0.1, 1.0, "cosine", 2e-7)


def test_terms_with_dropout_equal_the_reference_with_the_same_draws():
    """Per layer a fresh edge dropout of Â (kept weights / keep rate) and fresh masks of Λu and Λi,
    drawn from the epoch's generator in that order."""
    model, batch = one_batch("hccf", epoch=3)
    p = model.params.dropout
    assert p == 0.5  # SSLRec keep_rate 0.5
    terms = model.loss_terms(batch)
    g = model.stream(model.STREAM, 3)
    ones_u = torch.ones(model.n_users, model.params.n_hyperedges)
    ones_i = torch.ones(model.n_items, model.params.n_hyperedges)
    drops = [(model.edge_dropout(p, generator=g).to_dense(), drop_entries(ones_u, p, g), drop_entries(ones_i, p, g))
             for _ in range(model.cfg.n_layers)]
    assert not torch.equal(drops[0][0], drops[1][0])  # a new graph per layer
    rec, ssl, _ = _reference(model, batch, drops)
    assert torch.allclose(terms["rec"], rec, rtol=1e-5)
    assert torch.allclose(terms["ssl"], ssl, rtol=1e-5)
    # the next step draws anew; the same epoch replays the same draws
    assert not torch.allclose(model.loss_terms(batch)["rec"], terms["rec"])
    model.on_epoch_start(3)
    assert torch.equal(model.loss_terms(batch)["rec"], terms["rec"])


def test_scoring_is_the_clean_layer_sum_and_integrated_views():
    model, batch = one_batch("hccf")
    model.eval()
    _, _, (final, local, hyper) = _reference(model, batch)
    u, i = model.embeddings()
    assert torch.allclose(torch.cat([u, i]), final, rtol=1e-5, atol=1e-6)
    scores = model.scorer(None)(torch.tensor([0, 3]))
    assert torch.allclose(scores, u[[0, 3]] @ i.t(), rtol=1e-5, atol=1e-5)

    model, batch = one_batch("hccf", schema="integrated", **{"hccf.dropout": 0.0})
    _, _, (final, local, hyper) = _reference(model, batch)
    e0 = torch.cat(model.encoder.layer0())
    (lu, li), (hu, hi) = model.integrated_views()
    assert torch.allclose(torch.cat([lu, li]), e0 + sum(local), rtol=1e-5, atol=1e-6)
    assert torch.allclose(torch.cat([hu, hi]), e0 + sum(hyper), rtol=1e-5, atol=1e-6)
    assert torch.allclose(torch.cat([lu, li]) + torch.cat([hu, hi]) - e0, final, rtol=1e-5, atol=1e-5)
    users, pos = batch["users"], batch["pos"]
    same = pos[None] == pos[:, None]
    want = 0.5 * (model.ssl(lu[users], hi[pos], positive_mask=same) + model.ssl(hu[users], li[pos], positive_mask=same))
    assert torch.allclose(model.loss_terms(batch)["rec"], want, rtol=1e-5)


def test_hccf_learns_on_tiny_data(tmp_path):
    ds = make_tiny()
    cfg = build_config("hccf", None, small_overrides("hccf", epochs=15, ks=[10], metric="ndcg@10", eval_every=5,
                                                     lr=5e-3, patience=5))
    torch.manual_seed(cfg.seed)
    untrained = build_model(cfg, ds)
    before = evaluate_model(untrained, ds, "valid", make_evaluator(ds, "valid", cfg), cfg.max_len)["ndcg@10"]
    res = fit(cfg, ds, tmp_path / "run", progress=False, log=lambda s: None)
    assert res["valid"]["ndcg@10"] > before + 0.05, (before, res["valid"])


def test_hccf_resumes_exactly(tmp_path):
    ds = make_tiny()

    def cfg(epochs):
        return build_config("hccf", None, small_overrides("hccf", epochs=epochs, ks=[10], metric="ndcg@10",
                                                          eval_every=1, lr=5e-3))

    full, resumed, log, resumed_log = fit_and_resume(cfg, ds, tmp_path, epochs=3, stop=1)
    assert resumed_log == log
    assert resumed["test"] == full["test"]
    assert log[-1]["rec"] < log[0]["rec"]


def test_hccf_config():
    for over, msg in [({"hccf.n_hyperedges": 0}, "hccf.n_hyperedges must be >= 1"),
                      ({"hccf.dropout": 1.0}, r"hccf.dropout must be in \[0, 1\)"),
                      ({"hccf.mult": 0.0}, "hccf.mult must be > 0"),
                      ({"n_layers": 0}, "hccf needs n_layers >= 1"),
                      ({"encoder": "mf"}, "hccf needs the lightgcn encoder"),
                      ({"ssl.n_negatives": 5}, "ssl.n_negatives does nothing for model hccf"),
                      ({"max_len": 20}, "max_len does nothing for model hccf"),
                      ({"ssl.false_negatives": "same_target"}, "ssl.false_negatives does nothing for model hccf"),
                      ({"ssl.negatives": "all", "ssl.loss": "debiased"}, "ssl.negatives=all")]:
        with pytest.raises(ConfigError, match=msg):
            build_config("hccf", None, over)
    cfg = build_config("hccf", None, {"hccf.n_hyperedges": 64, "hccf.leaky": 0.5, "ssl.negatives": "uniform",
                                      "ssl.n_negatives": 8, "eval_graph": "history"})
    assert (cfg.params.n_hyperedges, cfg.params.leaky, cfg.ssl.n_negatives) == (64, 0.5, 8)
    model = build_model(build_config("hccf", None, small_overrides("hccf", **{"hccf.dropout": 0.0})), make_tiny())
    assert model.edge_dropout is None
    from contrastrec.demo import demo_models

    assert build_config("hccf", None, demo_models()["hccf"]).model == "hccf"  # in `contrastrec demo`
