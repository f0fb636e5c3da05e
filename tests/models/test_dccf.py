"""DCCF: the model's loss terms and their gradients against a dense re-computation of the
reference formulas (SSLRec models/general_cf/dccf.py, HKUDS/DCCF model.py), the row-restricted step
against the full propagation, whole-table negatives, the evaluation graph, learning, exact resume
and the config refusals."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import build_model, evaluate_model, fit, make_evaluator

from tests.conftest import fit_and_resume, make_tiny, one_batch, small_overrides


def _dense_norm(users, items, n_users, n_items):
    """D^-1/2 A D^-1/2 of the bipartite graph, dense [N, N] float32."""
    n = n_users + n_items
    a = torch.zeros(n, n, dtype=torch.float64)
    a[users, n_users + items] = 1.0
    a[n_users + items, users] = 1.0
    deg = a.sum(1)
    d = torch.where(deg > 0, deg.clamp_min(1e-12) ** -0.5, torch.zeros_like(deg))
    return (d[:, None] * a * d[None, :]).float()


def _masked(edges, z):
    """The adaptive mask's graph: (cos + 1) / 2 on the edges, row-normalised (dense)."""
    zn = F.normalize(z, dim=1)
    alpha = (zn @ zn.t() + 1) / 2 * edges
    deg = alpha.sum(1, keepdim=True)
    return alpha / torch.where(deg > 0, deg, torch.ones_like(deg))


def _forward(model, users=None, items=None):
    """The reference forward on the training graph (or on ``users, items``): the layer sum [N, D] and
    each layer's (GNN, intent, GNN-masked, intent-masked) channels, all dense."""
    nu = model.n_users
    users = model.train_users.numpy() if users is None else users
    items = model.train_items.numpy() if items is None else items
    a = _dense_norm(torch.as_tensor(users), torch.as_tensor(items), nu, model.n_items)
    edges = (a != 0).float()
    wu, wi = model.intents.user.weight, model.intents.item.weight
    e = torch.cat(model.encoder.layer0())
    total, channels = e, []
    for _ in range(model.cfg.n_layers):
        z = a @ e
        r = torch.cat([torch.softmax(e[:nu] @ wu, 1) @ wu.t(), torch.softmax(e[nu:] @ wi, 1) @ wi.t()])
        gaa, iaa = _masked(edges, z) @ e, _masked(edges, r) @ e
        e = z + r + gaa + iaa + e
        total = total + e
        channels.append((z, r, gaa, iaa))
    return total, channels


def _infonce(q, k, t):
    """-log e^{cos(q_i,k_i)/t} / sum_j e^{cos(q_i,k_j)/t}, mean over anchors (the authors' cal_loss)."""
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).t() / t
    return (torch.logsumexp(logits, 1) - logits.diagonal()).mean()


def _reference(model, batch):
    total, channels = _forward(model)
    nu = model.n_users
    u, i = total[:nu], total[nu:]
    users, pos, neg = batch["users"], batch["pos"], batch["neg"]
    pos_s = (u[users] * i[pos]).sum(-1, keepdim=True)
    neg_s = torch.einsum("bd,bkd->bk", u[users], i[neg])
    rec = F.softplus(neg_s - pos_s).mean()
    uu, ii = torch.unique(users), torch.unique(pos) + nu
    t = model.cfg.ssl.temperature
    ssl = sum(_infonce(z[uu], v[uu], t) + _infonce(z[ii], v[ii], t) for z, *views in channels for v in views)
    return rec, model.cfg.ssl.weight * ssl


def _grads(model, loss):
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.autograd.grad(loss, params)


def test_dccf_terms_and_gradients_equal_the_dense_reference():
    model, batch = one_batch("dccf")
    cfg = model.cfg  # SSLRec's config/modelconf/dccf.yml (reg 1e-4 on every parameter = weight decay 2e-4)
    assert (cfg.n_layers, model.params.n_intents, cfg.ssl.weight, cfg.ssl.temperature, cfg.ssl.similarity,
            cfg.weight_decay, cfg.reg_weight, cfg.lr) == (2, 128, 1e-2, 0.2, "cosine", 2e-4, 0.0, 1e-3)
    assert build_config("dccf").batch_size == 4096
    terms = model.loss_terms(batch)  # the row-restricted step
    assert set(terms) == {"rec", "ssl"}
    rec, ssl = _reference(model, batch)
    assert torch.allclose(terms["rec"], rec, rtol=1e-5, atol=1e-6)
    assert torch.allclose(terms["ssl"], ssl, rtol=1e-5, atol=1e-7)
    for term in ("rec", "ssl"):  # the intent prototypes are trained through both terms
        g = torch.autograd.grad(terms[term], [model.intents.user.weight, model.intents.item.weight], retain_graph=True)
        assert all(float(x.abs().sum()) > 0 for x in g), term
    for got, want in zip(_grads(model, terms["rec"] + terms["ssl"]), _grads(model, rec + ssl)):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-7)


def test_dccf_row_restricted_step_equals_the_full_propagation():
    model, batch = one_batch("dccf", n_layers=3)
    rows, iu, ip, ineg = model.batch_rows(batch["users"], batch["pos"], batch["neg"])
    out, channels = model.propagate(rows)
    full, full_channels = model.propagate()
    assert len(channels) == len(full_channels) == 3
    assert torch.allclose(out, full[rows], rtol=1e-5, atol=1e-6)
    for ch, fch in zip(channels, full_channels):
        for c, f in zip(ch, fch):
            assert torch.allclose(c, f[rows], rtol=1e-5, atol=1e-6)
    total, ref_channels = _forward(model)
    assert torch.allclose(full, total, rtol=1e-5, atol=1e-5)
    w = torch.randn_like(out)
    for got, want in zip(_grads(model, (out * w).sum()), _grads(model, (full[rows] * w).sum())):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_dccf_whole_table_negatives():
    model, batch = one_batch("dccf", **{"ssl.negatives": "all"})
    total, channels = _forward(model)
    nu, t = model.n_users, model.cfg.ssl.temperature
    uu, ii = torch.unique(batch["users"]), torch.unique(batch["pos"])

    def whole(q, table, ids):  # the key view's whole table in the denominator, the own row as positive
        logits = F.normalize(q, dim=1) @ F.normalize(table, dim=1).t() / t
        return (torch.logsumexp(logits, 1) - logits.gather(1, ids[:, None]).squeeze(1)).mean()

    want = model.cfg.ssl.weight * sum(whole(z[uu], v[:nu], uu) + whole(z[nu + ii], v[nu:], ii)
                                      for z, *views in channels for v in views)
    assert torch.allclose(model.loss_terms(batch)["ssl"], want, rtol=1e-5)


def test_dccf_scores_with_the_layer_sum_and_follows_the_evaluation_graph():
    model, batch = one_batch("dccf")
    model.eval()
    total, _ = _forward(model)
    u, i = model.embeddings()
    assert torch.allclose(torch.cat([u, i]), total, rtol=1e-5, atol=1e-5)
    assert torch.allclose(model.scorer(None)(torch.tensor([0, 5])), u[[0, 5]] @ i.t(), rtol=1e-5, atol=1e-5)
    ds = make_tiny()
    users = np.concatenate([ds.train.users, ds.valid.users])
    items = np.concatenate([ds.train.items, ds.valid.items])
    with model.evaluation_graph(users, items):  # eval_graph: history (train + valid)
        hu, hi = model.embeddings()
    hist, _ = _forward(model, users, items)
    assert torch.allclose(torch.cat([hu, hi]), hist, rtol=1e-5, atol=1e-5)
    assert torch.allclose(torch.cat(model.embeddings()), total, rtol=1e-5, atol=1e-5)  # back on the training graph
    model.train()
    model.set_phase("warmup")  # no SSL term while it is not active
    assert set(model.loss_terms(batch)) == {"rec"}


def test_dccf_learns_on_tiny_data(tmp_path):
    ds = make_tiny()
    cfg = build_config("dccf", None, small_overrides("dccf", epochs=4, ks=[10], metric="ndcg@10", eval_every=2,
                                                     lr=5e-3, patience=5, **{"dccf.n_intents": 16}))
    torch.manual_seed(cfg.seed)
    untrained = build_model(cfg, ds)
    before = evaluate_model(untrained, ds, "valid", make_evaluator(ds, "valid", cfg), cfg.max_len)["ndcg@10"]
    res = fit(cfg, ds, tmp_path / "run", progress=False, log=lambda s: None)
    assert res["valid"]["ndcg@10"] > before + 0.05, (before, res["valid"])


def test_dccf_resumes_exactly(tmp_path):
    ds = make_tiny()

    def cfg(epochs):
        return build_config("dccf", None, small_overrides("dccf", epochs=epochs, ks=[10], metric="ndcg@10",
                                                          eval_every=1, lr=5e-3, **{"dccf.n_intents": 16}))

    full, resumed, log, resumed_log = fit_and_resume(cfg, ds, tmp_path, epochs=3, stop=1)
    assert resumed_log == log
    assert resumed["test"] == full["test"]
    assert log[-1]["rec"] < log[0]["rec"] and log[-1]["ssl"] < log[0]["ssl"]


def test_dccf_config():
    for over, msg in [({"dccf.n_intents": 0}, "dccf.n_intents must be >= 1"),
                      ({"n_layers": 0}, "dccf needs n_layers >= 1"),
                      ({"encoder": "mf"}, "dccf needs the lightgcn encoder"),
                      ({"schema": "integrated"}, "dccf: schema=integrated is not defined"),
                      ({"ssl.n_negatives": 5}, "ssl.n_negatives does nothing for model dccf"),
                      ({"ssl.false_negatives": "same_target"}, "ssl.false_negatives does nothing for model dccf"),
                      ({"max_len": 20}, "max_len does nothing for model dccf"),
                      ({"ssl.negatives": "all", "ssl.loss": "debiased"}, "ssl.negatives=all")]:
        with pytest.raises(ConfigError, match=msg):
            build_config("dccf", None, over)
    assert build_config("dccf", None, {"dccf.n_intents": 64, "reg_weight": 1e-4}).params.n_intents == 64
    assert build_config("dccf", None, {"schema": "pretrain_finetune", "pretrain_epochs": 2}).schema == "pretrain_finetune"
    from contrastrec.demo import demo_models

    assert build_config("dccf", None, demo_models()["dccf"]).model == "dccf"  # in `contrastrec demo`
