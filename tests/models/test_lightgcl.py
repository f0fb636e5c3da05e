"""LightGCL (issue 16): the SVD view (augment/svd.py) and the rescaled edge dropout
(augment/sparse_dropout.py) against dense computations on tiny graphs; the model's loss terms
against a dense re-computation of the authors' formulas; it learns; a resumed run equals an
uninterrupted one."""

import numpy as np
import pytest
import torch

from contrastrec.augment.sparse_dropout import SparseEdgeDropout
from contrastrec.augment.svd import SVDView, normalized_interactions, svd_factors
from contrastrec.config import ConfigError, build_config
from contrastrec.graph import normalized_adjacency
from contrastrec.losses import functional as LF
from contrastrec.training.loop import build_model

from tests.conftest import make_tiny, one_batch, small_overrides, fit_and_resume


def _graph(n_users=12, n_items=9, n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_users, n), rng.integers(0, n_items, n), n_users, n_items


def _dense_norm(users, items, n_users, n_items):
    """Brute force D^-1/2 A D^-1/2 of the bipartite graph, [N, N] float64."""
    n = n_users + n_items
    a = np.zeros((n, n))
    for u, i in zip(users, items):
        a[u, n_users + i] = a[n_users + i, u] = 1.0
    deg = a.sum(1)
    d = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    return torch.tensor(d[:, None] * a * d[None, :])


def _dense_svd_graph(view, n_users, n_items):
    """[[0, U S V^T], [V S U^T, 0]] formed densely from the view's factors."""
    r = view.u.double() @ torch.diag(view.s.double()) @ view.v.double().t()
    out = torch.zeros(n_users + n_items, n_users + n_items, dtype=torch.float64)
    out[:n_users, n_users:] = r
    out[n_users:, :n_users] = r.t()
    return out


# ---------------------------------------------------------------------------------- the SVD view
def test_normalized_interactions_is_the_user_item_block_of_the_normalised_adjacency():
    g = _graph()
    block = normalized_interactions(*g).to_dense().double()
    assert torch.allclose(block, _dense_norm(*g)[: g[2], g[2]:], atol=1e-6)


def test_full_rank_svd_view_propagates_like_the_normalised_graph():
    users, items, nu, ni = _graph()
    view = SVDView(users, items, nu, ni, q=min(nu, ni), niter=4)
    x = torch.randn(nu + ni, 5, dtype=torch.float64).float()
    assert torch.allclose(view(x).double(), _dense_norm(users, items, nu, ni) @ x.double(), atol=1e-4)


def test_low_rank_view_is_the_dense_reconstruction_and_the_best_rank_q_approximation():
    users, items, nu, ni = _graph()
    view = SVDView(users, items, nu, ni, q=3, niter=10)
    x = torch.randn(nu + ni, 4).requires_grad_()
    dense = _dense_svd_graph(view, nu, ni)
    y = view(x)
    assert torch.allclose(y.double(), dense @ x.double(), atol=1e-5)
    w = torch.randn_like(y)
    (y * w).sum().backward()  # the product is linear: gradient = A_svd^T w (A_svd is symmetric)
    assert torch.allclose(x.grad.double(), dense @ w.double(), atol=1e-5)
    # Eckart-Young: the factors are the top-q singular triplets of the normalised interactions
    s_exact = torch.linalg.svdvals(_dense_norm(users, items, nu, ni)[:nu, nu:])[:3]
    assert torch.allclose(view.s.double(), s_exact, rtol=1e-3)


def test_view_layers_chain_and_lightgcl_cross_layers():
    users, items, nu, ni = _graph()
    view = SVDView(users, items, nu, ni, q=4)
    dense = _dense_svd_graph(view, nu, ni)
    x0 = torch.randn(nu + ni, 3)
    chain = view.propagate(x0, 2)
    assert torch.allclose(chain[2].double(), dense @ (dense @ x0.double()), atol=1e-5)
    e = [x0, torch.randn_like(x0), torch.randn_like(x0)]  # the main view's layers E0, E1, E2
    g = view.from_layers(e)
    assert len(g) == 3 and g[0] is e[0]
    for l in (1, 2):  # G_l = A_svd E_{l-1}
        assert torch.allclose(g[l].double(), dense @ e[l - 1].double(), atol=1e-5)


def test_svd_is_seeded_and_leaves_the_global_random_stream_alone():
    g = _graph()
    torch.manual_seed(3)
    a = svd_factors(*g, q=3, seed=7)
    after = torch.rand(1)
    torch.manual_seed(3)
    b = svd_factors(*g, q=3, seed=7)
    assert torch.equal(torch.rand(1), after)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="q=10 exceeds"):
        svd_factors(*g, q=10)


def test_svd_factors_are_not_checkpointed_and_follow_the_module():
    view = SVDView(*_graph(), q=2)
    assert view.state_dict() == {}
    assert view.double().us.dtype == torch.float64


# ---------------------------------------------------------------------------------- edge dropout
def test_sparse_edge_dropout_drops_edges_both_ways_and_rescales_the_kept_ones():
    users, items, nu, ni = _graph(n=60)
    adj = normalized_adjacency(users, items, nu, ni)
    drop = SparseEdgeDropout(adj)
    assert torch.equal(drop(0.0).to_dense(), adj.to_dense())
    p = 0.4
    out = drop(p, generator=torch.Generator().manual_seed(0)).to_dense()
    full = adj.to_dense()
    assert torch.allclose(out, out.t())  # an edge goes in both directions or in neither
    kept = out != 0
    assert torch.allclose(out[kept], full[kept] / (1 - p))  # kept weights rescaled, degrees not recomputed
    assert kept.any() and (kept != (full != 0)).any()
    n_kept = int(kept.triu().sum())
    n_edges = int((full != 0).triu().sum())
    assert n_edges == drop.n_edges
    draws = torch.stack([drop(p, generator=torch.Generator().manual_seed(s)).to_dense() for s in range(400)])
    assert torch.allclose(draws.mean(0), full, atol=0.06)  # inverted dropout: unbiased
    assert 0.2 < 1 - n_kept / n_edges < 0.6
    drop.eval()
    assert torch.equal(drop(p).to_dense(), full)


# ---------------------------------------------------------------------------------- the model
def _reference_terms(model, batch):
    """The authors' loss terms, recomputed densely: layer sums of both views (G_l = A_svd E_{l-1}),
    BPR on the local view, InfoNCE of raw dot products / tau, global view as the query (no clamp)."""
    a = _dense_norm(model.train_users.numpy(), model.train_items.numpy(), model.n_users, model.n_items).float()
    a_svd = _dense_svd_graph(model.svd, model.n_users, model.n_items).float()
    e = [torch.cat(model.encoder.layer0(), 0)]
    for _ in range(model.cfg.n_layers):
        e.append(a @ e[-1])
    g = [e[0]] + [a_svd @ x for x in e[:-1]]
    agg = (lambda x: torch.stack(x).sum(0)) if model.params.aggregate == "sum" else (lambda x: torch.stack(x).mean(0))
    local, glob = agg(e), agg(g)
    nu = model.n_users
    u, i, gu, gi = local[:nu], local[nu:], glob[:nu], glob[nu:]
    users, pos, neg = batch["users"], batch["pos"], batch["neg"]
    pos_s = (u[users] * i[pos]).sum(-1, keepdim=True)
    neg_s = torch.einsum("bd,bkd->bk", u[users], i[neg])
    rec = LF.bpr_loss(pos_s.expand_as(neg_s), neg_s)
    uu, ii = torch.unique(users), torch.unique(pos)
    t, sim, c = model.cfg.ssl.temperature, model.cfg.ssl.similarity, model.cfg.ssl.pos_clamp

    def authors_infonce(q, k):  # -clamp(q_i.k_i / t, -c, c) + log sum_j e^{q_i.k_j / t} (HKUDS/LightGCL model.py)
        if sim == "cosine":
            q, k = torch.nn.functional.normalize(q, dim=-1), torch.nn.functional.normalize(k, dim=-1)
        logits = q @ k.t() / t
        return (torch.logsumexp(logits, 1) - logits.diagonal().clamp(-c, c)).mean()

    return rec, model.cfg.ssl.weight * (authors_infonce(gu[uu], u[uu]) + authors_infonce(gi[ii], i[ii]))


@pytest.mark.parametrize("over", [{}, {"lightgcl.aggregate": "mean", "ssl.similarity": "cosine"}])
def test_lightgcl_terms_equal_the_dense_reference(over):
    model, batch = one_batch("lightgcl", **over)
    terms = model.loss_terms(batch)
    assert set(terms) == {"rec", "ssl"}  # reg_weight 0: L2 is the optimizer's weight decay, as the authors'
    rec, ssl = _reference_terms(model, batch)
    assert torch.allclose(terms["rec"], rec, atol=1e-5)
    assert torch.allclose(terms["ssl"], ssl, atol=1e-5)
    cfg = model.cfg  # the authors' defaults for Yelp
    assert (cfg.ssl.temperature, cfg.ssl.weight, model.params.q, cfg.weight_decay, cfg.ssl.pos_clamp) == \
        (0.2, 0.2, 5, 2e-7, 5.0)


def test_lightgcl_whole_table_negatives_and_integrated_views():
    model, batch = one_batch("lightgcl", **{"ssl.negatives": "all"})
    (gu, gi), (u, i) = model.views()
    uu, ii = torch.unique(batch["users"]), torch.unique(batch["pos"])
    t = model.cfg.ssl.temperature

    def whole_table(q, table, ids):  # -clamp(q.k/t, -5, 5) + log sum over every row of the table, as the authors'
        logits = q @ table.t() / t
        return (torch.logsumexp(logits, 1) - logits.gather(1, ids[:, None]).squeeze(1).clamp(-5, 5)).mean()

    want = model.cfg.ssl.weight * (whole_table(gu[uu], u, uu) + whole_table(gi[ii], i, ii))
    assert torch.allclose(model.loss_terms(batch)["ssl"], want, atol=1e-5)
    model, batch = one_batch("lightgcl", schema="integrated")
    users, pos = batch["users"], batch["pos"]
    same = pos[None] == pos[:, None]
    (gu, gi), (u, i) = model.integrated_views()
    want = 0.5 * (model.ssl(gu[users], i[pos], positive_mask=same) + model.ssl(u[users], gi[pos], positive_mask=same))
    assert torch.allclose(model.loss_terms(batch)["rec"], want, atol=1e-6)


def test_lightgcl_edge_dropout_acts_in_training_only():
    model, batch = one_batch("lightgcl", **{"lightgcl.dropout": 0.3})
    torch.manual_seed(0)
    a = model.loss_terms(batch)["rec"]
    torch.manual_seed(1)
    assert not torch.allclose(a, model.loss_terms(batch)["rec"])  # a fresh dropped graph per step
    model.eval()
    assert torch.allclose(torch.cat(model.embeddings()), 3 * torch.cat(model.encoder()), atol=1e-6)  # 3 layers summed


def test_lightgcl_config():
    with pytest.raises(ConfigError, match="lightgcl.q must be >= 1"):
        build_config("lightgcl", None, {"lightgcl.q": 0})
    with pytest.raises(ConfigError, match="lightgcl needs the lightgcn encoder"):
        build_config("lightgcl", None, {"encoder": "mf"})
    cfg = build_config("lightgcl", None, small_overrides("lightgcl", **{"lightgcl.q": 41}))
    with pytest.raises(ConfigError, match="lightgcl.q: the SVD rank q=41 exceeds"):
        build_model(cfg, make_tiny())
    assert build_config("lightgcl", None, {"ssl.loss": "debiased", "ssl.tau_plus": 0.1}).ssl.tau_plus == 0.1
    from contrastrec.demo import demo_models

    assert build_config("lightgcl", None, demo_models()["lightgcl"]).model == "lightgcl"  # in `contrastrec demo`




def test_lightgcl_learns_and_resumes_exactly(tmp_path):
    ds = make_tiny()

    def cfg(epochs):
        return build_config("lightgcl", None, small_overrides(
            "lightgcl", epochs=epochs, ks=[10], metric="ndcg@10", eval_every=1, lr=5e-3,
            **{"lightgcl.dropout": 0.2}))

    full, resumed, log, resumed_log = fit_and_resume(cfg, ds, tmp_path)
    assert resumed_log == log
    assert resumed["test"] == full["test"]
    assert log[-1]["loss"] < log[0]["loss"] and log[-1]["rec"] < log[0]["rec"]
