"""The options that express SSLRec's reference objectives (issue 15): the layer sum
(``layer_aggregate``), the contrastive anchors and their reduction (``ssl.anchors``), SGL's per-step
unnormalised edge dropout (``sgl.resample``, ``sgl.normalize``), LightGCN's training edge dropout
(``lightgcn.edge_dropout``), SimGCL's layer 0 (``simgcl.include_layer0``), NCL's deeper context
layer, E-step period and raw k-means (``ncl.cluster_every``, ``ncl.kmeans_normalize``), and the L2
term over all parameters as Adam's ``weight_decay``. Each is checked against a dense hand
computation on one batch (SSLRec's formulas: InfoNCE of each anchor row against the whole table of
the other view, summed over the rows, the terms divided by the batch size), and the keys are
refused where they do nothing."""
import pytest
import torch
import torch.nn.functional as F

from contrastrec.config import ConfigError, build_config

from tests.conftest import fit_and_resume, make_tiny, one_batch, small_overrides

SSLREC = {"layer_aggregate": "sum", "ssl.negatives": "all", "reg_weight": 0.0}


def _dense(model, adjs=None, depth=None):
    """Layers [E0..EL] of the model's encoder by dense products (float64); ``adjs``: one per layer."""
    enc = model.encoder
    depth = enc.n_layers if depth is None else depth
    adjs = adjs if adjs is not None else [enc.adj] * depth
    x = torch.cat([enc.user_emb.weight, enc.item_emb.weight]).detach().double()
    out = [x]
    for a in adjs[:depth]:
        out.append(a.to_dense().double() @ out[-1])
    return out


def _split(model, x):
    return x[: model.n_users], x[model.n_users :]


def _infonce_sum(q, table, ids, tau):
    """SSLRec's cal_infonce_loss: sum over the rows of -log softmax(cos(q_r, table) / tau)[ids_r]."""
    qn = q / torch.sqrt(1e-8 + q.square().sum(-1, keepdim=True))
    tn = table / torch.sqrt(1e-8 + table.square().sum(-1, keepdim=True))
    return (-(qn * tn[ids]).sum(-1) / tau + torch.logsumexp(qn @ tn.t() / tau, -1)).sum()


def _bpr(u, p, n):
    return F.softplus((u * n).sum(-1) - (u * p).sum(-1)).mean()


def test_sgl_sslrec_objective_by_hand():
    """SSLRec's SGL: per-step views with Â's entries dropped (p = 1 - keep_rate, no renormalisation),
    layer sums, InfoNCE for the batch's users, positives and negatives (duplicates kept) against the
    whole table of the second view, (sum of the three) / B."""
    over = {**SSLREC, "sgl.normalize": "full", "sgl.resample": "step", "sgl.drop_ratio": 0.5,
            "ssl.anchors": "batch_negatives", "ssl.temperature": 0.2, "ssl.weight": 0.3}
    model, batch = one_batch("sgl", **over)
    users, pos, neg = batch["users"], batch["pos"], batch["neg"][:, 0]
    assert users.unique().numel() < users.numel()  # duplicates are kept as anchors
    model.on_epoch_start(0)
    views = model.step_views()
    model.on_epoch_start(0)  # the same draws again for the step
    terms = model.loss_terms(batch)
    full = model.encoder.adj.to_dense()
    for v in views:  # one unnormalised dropped graph shared by the layers
        assert v[0] is v[1]
        d = v[0].to_dense()
        kept = d != 0
        assert torch.equal(d, d.t()) and torch.equal(d[kept], full[kept]) and kept.sum() < (full != 0).sum()
    assert not torch.equal(views[0][0].to_dense(), views[1][0].to_dense())
    u1, i1 = _split(model, sum(_dense(model, views[0])))
    u2, i2 = _split(model, sum(_dense(model, views[1])))
    b = users.shape[0]
    ssl = 0.3 * (_infonce_sum(u1[users], u2, users, 0.2) + _infonce_sum(i1[pos], i2, pos, 0.2)
                 + _infonce_sum(i1[neg], i2, neg, 0.2)) / b
    u, i = _split(model, sum(_dense(model)))
    assert set(terms) == {"rec", "ssl"}
    assert torch.allclose(terms["ssl"].double(), ssl, rtol=1e-5)
    assert torch.allclose(terms["rec"].double(), _bpr(u[users], i[pos], i[neg]), rtol=1e-5)
    # the next step draws two other views; the epoch's generator repeats them (resumable)
    assert not torch.equal(model.step_views()[0][0].to_dense(), views[0][0].to_dense())


def test_sgl_views_redrawn_per_step_with_kept_normalisation_and_rw():
    model, _ = one_batch("sgl", **{"sgl.resample": "step", "sgl.augment": "rw", "sgl.drop_ratio": 0.3})
    a, b = model.step_views(), model.step_views()
    assert len(a[0]) == 2 and not torch.equal(a[0][0].to_dense(), a[0][1].to_dense())  # one graph per layer
    assert not torch.equal(a[0][0].to_dense(), b[0][0].to_dense())
    model.on_epoch_start(0)
    again = model.step_views()
    assert all(torch.equal(x.to_dense(), y.to_dense()) for x, y in zip(a[0] + a[1], again[0] + again[1]))
    epoch_model, _ = one_batch("sgl", **{"sgl.augment": "rw", "sgl.drop_ratio": 0.3})
    assert epoch_model.step_views() is epoch_model.step_views()  # default: the epoch's views


def test_simgcl_sslrec_objective_by_hand():
    """SSLRec's SimGCL: sum of layers 0..L, InfoNCE for the batch's users and positives (duplicates
    kept) against the whole second-view table, (sum of the two) / B (eps 0: the views are the clean one)."""
    over = {**SSLREC, "simgcl.include_layer0": True, "simgcl.eps": 0.0, "ssl.anchors": "batch",
            "ssl.temperature": 0.1, "ssl.weight": 0.5}
    model, batch = one_batch("simgcl", **over)
    users, pos, neg = batch["users"], batch["pos"], batch["neg"][:, 0]
    terms = model.loss_terms(batch)
    u, i = _split(model, sum(_dense(model)))
    ssl = 0.5 * (_infonce_sum(u[users], u, users, 0.1) + _infonce_sum(i[pos], i, pos, 0.1)) / users.shape[0]
    assert torch.allclose(terms["ssl"].double(), ssl, rtol=1e-5)
    assert torch.allclose(terms["rec"].double(), _bpr(u[users], i[pos], i[neg]), rtol=1e-5)
    # without layer 0 (the default) the output is the sum of layers 1..L
    plain, _ = one_batch("simgcl", **{"layer_aggregate": "sum", "simgcl.eps": 0.0})
    pu, _ = plain.embeddings()
    assert torch.allclose(pu.double(), _split(plain, sum(_dense(plain)[1:]))[0], atol=1e-6)


def test_xsimgcl_anchors_by_hand():
    over = {**SSLREC, "xsimgcl.eps": 0.0, "ssl.anchors": "batch_negatives", "ssl.temperature": 0.2,
            "ssl.weight": 0.4}
    model, batch = one_batch("xsimgcl", **over)
    users, pos, neg = batch["users"], batch["pos"], batch["neg"][:, 0]
    terms = model.loss_terms(batch)
    layers = _dense(model)
    fu, fi = _split(model, sum(layers[1:]))
    cu, ci = _split(model, layers[model.layer_cl])
    ssl = 0.4 * (_infonce_sum(fu[users], cu, users, 0.2) + _infonce_sum(fi[pos], ci, pos, 0.2)
                 + _infonce_sum(fi[neg], ci, neg, 0.2)) / users.shape[0]
    assert torch.allclose(terms["ssl"].double(), ssl, rtol=1e-5)


def test_ncl_sslrec_objective_by_hand():
    """SSLRec's NCL: output = sum of layers 0..n_layers, structure contrast with an even layer
    deeper than the output (2·hyper_layers > n_layers), every row's user and positive item against
    the whole layer-0 table, prototypes of the raw layer-0 embeddings, each term (sum over rows) / B."""
    over = {**SSLREC, "n_layers": 1, "ncl.hyper_layers": 1, "ncl.warmup_epochs": 0, "ncl.kmeans_normalize": False,
            "ssl.anchors": "batch", "ssl.temperature": 0.1, "ncl.struct_weight": 0.5, "ncl.proto_weight": 0.25,
            "ncl.alpha": 1.0}
    model, batch = one_batch("ncl", **over)
    users, pos, neg = batch["users"], batch["pos"], batch["neg"][:, 0]
    terms = model.loss_terms(batch)
    layers = _dense(model, depth=2)
    u, i = _split(model, layers[0] + layers[1])
    u0, i0 = _split(model, layers[0])
    u2, i2 = _split(model, layers[2])
    b = users.shape[0]
    struct = 0.5 * (_infonce_sum(u2[users], u0, users, 0.1) + _infonce_sum(i2[pos], i0, pos, 0.1)) / b
    (uc, ua), (ic, ia) = model.user_proto, model.item_proto
    proto = 0.25 * (_infonce_sum(u0[users], uc.double(), ua[users], 0.1)
                    + _infonce_sum(i0[pos], ic.double(), ia[pos], 0.1)) / b
    assert torch.allclose(terms["rec"].double(), _bpr(u[users], i[pos], i[neg]), rtol=1e-5)
    assert torch.allclose(terms["ssl_struct"].double(), struct, rtol=1e-5)
    assert torch.allclose(terms["ssl_proto"].double(), proto, rtol=1e-5)


def test_ncl_clusters_raw_or_normalised_embeddings():
    from contrastrec.models.clustering import kmeans
    from contrastrec.rng import stream_seed

    for normalize in (True, False):
        model, _ = one_batch("ncl", **{"ncl.warmup_epochs": 0, "ncl.kmeans_normalize": normalize})
        u0 = model.encoder.user_emb.weight.detach()
        cent, assign = kmeans(F.normalize(u0, dim=1) if normalize else u0, 4, seed=stream_seed(model.cfg.seed, "ncl.kmeans.users", 0, bits=31))
        assert torch.equal(model.user_proto[1], assign)
        assert torch.allclose(model.user_proto[0], F.normalize(cent, dim=1))


def test_ncl_prototypes_kept_between_e_steps_and_resumed(tmp_path):
    model, _ = one_batch("ncl", **{"ncl.warmup_epochs": 1, "ncl.cluster_every": 2})
    assert model.user_proto is None  # warm-up
    model.on_epoch_start(1)
    first = model.user_proto[0].clone()
    with torch.no_grad():
        model.encoder.user_emb.weight.mul_(-1.0)
    model.on_epoch_start(2)  # between E-steps: kept
    assert torch.equal(model.user_proto[0], first)
    model.on_epoch_start(3)
    assert not torch.equal(model.user_proto[0], first)
    ds = make_tiny()

    def cfg(epochs):
        return build_config("ncl", None, small_overrides("ncl", epochs=epochs, ks=[10], metric="ndcg@10",
                                                         eval_every=1, **{"ncl.warmup_epochs": 0,
                                                                          "ncl.cluster_every": 2}))

    full, resumed, log, resumed_log = fit_and_resume(cfg, ds, tmp_path, epochs=4, stop=3)  # resumed between E-steps
    assert resumed_log == log and resumed["test"] == full["test"]


@pytest.mark.parametrize("name, over", [
    ("lightgcn", {"layer_aggregate": "sum", "lightgcn.edge_dropout": 0.5}),
    ("sgl", {**SSLREC, "sgl.normalize": "full", "sgl.resample": "step", "sgl.drop_ratio": 0.5,
             "ssl.anchors": "batch_negatives"}),
    ("sgl", {"layer_aggregate": "sum"}),
    ("simgcl", {"layer_aggregate": "sum", "simgcl.include_layer0": True, "simgcl.eps": 0.0}),
    ("simgcl", {**SSLREC, "simgcl.include_layer0": True, "simgcl.eps": 0.0, "ssl.anchors": "batch"}),
    ("xsimgcl", {"layer_aggregate": "sum", "xsimgcl.eps": 0.0}),
])
def test_row_restricted_path_stays_exact(name, over):
    """The row-restricted step equals the full propagation under the new options (same values and
    gradients), the random draws repeated for both."""
    model, batch = one_batch(name, **over)
    assert type(model).ROW_RESTRICTED
    results = []
    for restricted in (True, False):
        model.ROW_RESTRICTED = restricted
        model.on_epoch_start(0)
        torch.manual_seed(5)
        model.zero_grad(set_to_none=True)
        terms = model.loss_terms(batch)
        sum(terms.values()).backward()
        results.append((terms, [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (t1, g1), (t2, g2) = results
    assert t1.keys() == t2.keys()
    for k in t1:
        assert torch.allclose(t1[k], t2[k], atol=1e-6), k
    assert len(g1) == len(g2) > 0
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-6)


def test_lightgcn_edge_dropout_trains_on_dropped_graphs_and_scores_on_the_full_one():
    model, batch = one_batch("lightgcn", **{"lightgcn.edge_dropout": 0.5, "layer_aggregate": "sum"})
    plain, _ = one_batch("lightgcn", **{"layer_aggregate": "sum"})
    plain.load_state_dict(model.state_dict())
    torch.manual_seed(2)
    t1 = model.loss_terms(batch)
    torch.manual_seed(2)
    adj = model.encoder.default_adj()
    u, i = _split(model, sum(_dense(model, [adj] * 2)))
    users, pos, neg = batch["users"], batch["pos"], batch["neg"][:, 0]
    assert torch.allclose(t1["rec"].double(), _bpr(u[users], i[pos], i[neg]), rtol=1e-5)
    assert not torch.allclose(t1["rec"], plain.loss_terms(batch)["rec"])
    model.eval()
    plain.eval()
    users = torch.arange(5)
    assert torch.equal(model.scorer(None)(users), plain.scorer(None)(users))


@pytest.mark.parametrize("name, over", [
    ("lightgcn", {"lightgcn.edge_dropout": 0.3, "layer_aggregate": "sum"}),
    ("sgl", {"sgl.normalize": "full", "sgl.resample": "step", "sgl.drop_ratio": 0.5, "ssl.negatives": "all",
             "ssl.anchors": "batch_negatives", "layer_aggregate": "sum"}),
])
def test_resumed_run_equals_uninterrupted(tmp_path, name, over):
    ds = make_tiny()

    def cfg(epochs):
        return build_config(name, None, small_overrides(name, epochs=epochs, ks=[10], metric="ndcg@10",
                                                        eval_every=1, lr=5e-3, **over))

    full, resumed, log, resumed_log = fit_and_resume(cfg, ds, tmp_path)
    assert resumed_log == log and resumed["test"] == full["test"]
    assert log[-1]["rec"] < log[0]["rec"]


def test_l2_over_all_parameters_is_adam_weight_decay_twice_lambda():
    """SSLRec adds reg_weight·Σ‖θ‖² over every parameter to the loss; under (coupled) Adam that is
    exactly weight_decay = 2·reg_weight, which our trainer's optimizer applies to every parameter."""
    lam = 1e-2
    over = {**SSLREC, "sgl.normalize": "full", "sgl.resample": "step", "sgl.drop_ratio": 0.5,
            "ssl.anchors": "batch_negatives"}
    model, batch = one_batch("sgl", **over)
    other, _ = one_batch("sgl", **over)  # the same initialisation
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))
    opt_l2 = torch.optim.Adam(model.parameters(), lr=1e-2)
    opt_wd = torch.optim.Adam(other.parameters(), lr=1e-2, weight_decay=2 * lam)
    for step in range(3):
        for m, opt, reg in ((model, opt_l2, True), (other, opt_wd, False)):
            m.on_epoch_start(step)
            opt.zero_grad()
            loss = sum(m.loss_terms(batch).values())
            if reg:
                loss = loss + lam * sum(p.pow(2).sum() for p in m.parameters())
            loss.backward()
            opt.step()
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(next(model.parameters()), next(one_batch("sgl")[0].parameters()))


# ---------------------------------------------------------------------------------------------- keys
@pytest.mark.parametrize("model, key, value", [
    ("mf", "layer_aggregate", "sum"),  # no lightgcn encoder
    ("sasrec", "layer_aggregate", "sum"),
    ("buir", "layer_aggregate", "sum"),  # combines its layers itself
    ("lightgcn", "ssl.anchors", "batch"),  # no contrastive term
    ("cl4srec", "ssl.anchors", "unique"),  # sequential: no pairwise anchors
    ("lightgcl", "ssl.anchors", "unique"),
])
def test_keys_that_do_nothing_are_refused(model, key, value):
    with pytest.raises(ConfigError, match=rf"^{key} does nothing for model {model}: ") as e:
        build_config(model, None, {key: value})
    assert "\n" not in str(e.value)


def test_refusals_name_the_reason():
    with pytest.raises(ConfigError, match="layer_aggregate does nothing for model lightgcl: lightgcl.aggregate"):
        build_config("lightgcl", None, {"layer_aggregate": "sum"})
    with pytest.raises(ConfigError, match="layer_aggregate does nothing for model lightgcn: .*encoder=mf"):
        build_config("lightgcn", None, {"layer_aggregate": "sum", "encoder": "mf"})
    with pytest.raises(ConfigError, match="lightgcn.edge_dropout does nothing for model lightgcn"):
        build_config("lightgcn", None, {"lightgcn.edge_dropout": 0.5, "encoder": "mf"})
    with pytest.raises(ConfigError, match="ssl.anchors does nothing for model sgl: schema=integrated"):
        build_config("sgl", None, {"schema": "integrated", "ssl.anchors": "batch"})
    with pytest.raises(ConfigError, match="in-batch negatives would contrast with themselves"):
        build_config("sgl", None, {"ssl.anchors": "batch"})
    with pytest.raises(ConfigError, match="ssl.anchors=batch_negatives is not available for model ncl"):
        build_config("ncl", None, {"ssl.anchors": "batch_negatives", "ssl.negatives": "all"})
    with pytest.raises(ConfigError, match="ssl.anchors: invalid value"):
        build_config("sgl", None, {"ssl.anchors": "all"})
    # layer_aggregate=sum with neg_sampler=mixgcf is accepted: the mixing pools as the encoder combines
    assert build_config("lightgcn", None, {"layer_aggregate": "sum", "neg_sampler": "mixgcf",
                                           "n_negatives": 4}).layer_aggregate == "sum"
    with pytest.raises(ConfigError, match="sgl.normalize=full drops entries"):
        build_config("sgl", None, {"sgl.normalize": "full", "sgl.augment": "nd"})
    with pytest.raises(ConfigError, match="lightgcn.edge_dropout must be in"):
        build_config("lightgcn", None, {"lightgcn.edge_dropout": 1.0})
    with pytest.raises(ConfigError, match="ncl.cluster_every must be >= 1"):
        build_config("ncl", None, {"ncl.cluster_every": 0})
    # where they act
    for name in ("lightgcn", "sgl", "simgcl", "xsimgcl", "ncl"):
        assert build_config(name, None, {"layer_aggregate": "sum"}).layer_aggregate == "sum"
    for name in ("sgl", "simgcl", "xsimgcl", "ncl"):
        assert build_config(name, None, {"ssl.anchors": "batch", "ssl.negatives": "all"}).ssl.anchors == "batch"
    assert build_config("simgcl", None, {"ssl.anchors": "batch", "ssl.negatives": "uniform"}).ssl.anchors == "batch"


def test_defaults_unchanged():
    """The defaults are the previous behaviour: layer mean, unique anchors, per-epoch re-normalised views."""
    for name in ("lightgcn", "sgl", "simgcl", "xsimgcl", "ncl"):
        cfg = build_config(name)
        assert cfg.layer_aggregate == "mean" and cfg.ssl.anchors == "unique"
    p = build_config("sgl").params
    assert (p.resample, p.normalize) == ("epoch", "kept")
    assert build_config("simgcl").params.include_layer0 is False
    assert build_config("lightgcn").params.edge_dropout == 0.0
    n = build_config("ncl").params
    assert (n.cluster_every, n.kmeans_normalize) == (1, True)
    model, batch = one_batch("sgl")  # unique anchors: the same value as lists of one set each
    model.ROW_RESTRICTED = False
    model.on_epoch_start(0)
    views = model.step_views()
    (u1, i1), (u2, i2) = model.encoder(adj=views[0]), model.encoder(adj=views[1])
    uu, ii = batch["users"].unique(), batch["pos"].unique()
    assert torch.equal(model.node_contrast(uu, ii, u1, i1, u2, i2), model.node_contrast([uu], [ii], u1, i1, u2, i2))
