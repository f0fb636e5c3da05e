"""MixGCF (models/mixgcf.py) and ``neg_sampler: mixgcf`` (GraphModel.mixgcf_terms): the loss terms
and their gradients against a dense re-computation of the authors' formulas by loops; it learns; a
resumed run equals an uninterrupted one; SGL takes the strategy too; what cannot work is refused."""
import pytest
import torch
import torch.nn.functional as F

from contrastrec.config import ConfigError, build_config
from contrastrec.training.batches import UniformNegatives, make_negatives
from contrastrec.training.loop import fit
from contrastrec.models.graph_base import MIXGCF_STREAM

from tests.conftest import fit_and_resume, make_tiny, one_batch, small_overrides


def dense_mixgcf_terms(model, batch, alpha):
    """The authors' LightGCN.negative_sampling + create_bpr_loss by loops, from a dense Â:
    layers E_l = Â^l E_0; per pair and layer, mix every candidate with the positive (α[b, l]), keep
    the one scoring highest against the user's pooled layers; the negative is the kept layers
    pooled; BPR; L2 on the layer-0 user, positive and kept (mixed) layer-0 negative, / 2 / B.
    Pooling (the authors' ``pool``): the encoder's layer combination, mean or sum."""
    pool = (lambda t: t.sum(0)) if model.encoder.combine == "sum" else (lambda t: t.mean(0))
    enc = model.encoder
    adj = enc.adj.to_dense()
    x = torch.cat([enc.user_emb.weight, enc.item_emb.weight])
    layers = [x]
    for _ in range(enc.n_layers):
        layers.append(adj @ layers[-1])
    nu = model.n_users
    rec, reg = [], 0.0
    for b, (u, p) in enumerate(zip(batch["users"].tolist(), batch["pos"].tolist())):
        eu = pool(torch.stack([e[u] for e in layers]))
        ep = pool(torch.stack([e[nu + p] for e in layers]))
        kept = []
        for l, e in enumerate(layers):
            a = alpha[b, l]
            mixed = [a * e[nu + p] + (1 - a) * e[nu + n] for n in batch["neg"][b].tolist()]
            best = max(range(len(mixed)), key=lambda m: (float(eu.detach() @ mixed[m].detach()), -m))
            kept.append(mixed[best])
        en = pool(torch.stack(kept))
        rec.append(-F.logsigmoid(eu @ ep - eu @ en))
        reg = reg + x[u].pow(2).sum() + x[nu + p].pow(2).sum() + kept[0].pow(2).sum()
    return {"rec": torch.stack(rec).mean(), "reg": model.cfg.reg_weight * reg / 2 / len(rec)}


def _terms_and_grads(model, terms):
    model.zero_grad(set_to_none=True)
    sum(terms.values()).backward()
    return {k: v.detach() for k, v in terms.items()}, [p.grad.clone() for p in model.encoder.parameters()]


@pytest.mark.parametrize("name, over, combine", [
    ("mixgcf", {"n_negatives": 8}, "mean"),
    ("mixgcf", {"n_negatives": 5, "n_layers": 3}, "mean"),
    ("lightgcn", {"neg_sampler": "mixgcf", "n_negatives": 6}, "mean"),
    ("mixgcf", {"n_negatives": 6, "layer_aggregate": "sum"}, "sum"),  # the authors' pool=sum
    ("lightgcn", {"neg_sampler": "mixgcf", "n_negatives": 4, "layer_aggregate": "sum"}, "sum")])
def test_loss_terms_and_gradients_equal_the_dense_loops(name, over, combine):
    model, batch = one_batch(name, epoch=1, **over)
    assert model.encoder.combine == combine  # the path pools as the encoder combines (layer_aggregate)
    assert batch["neg"].shape == (batch["users"].shape[0], over["n_negatives"])
    state = model._mix_gen.get_state()
    got, g1 = _terms_and_grads(model, model.loss_terms(batch))
    alpha = torch.rand((batch["users"].shape[0], model.cfg.n_layers + 1),
                       generator=torch.Generator().set_state(state))  # the draws the step made
    want, g2 = _terms_and_grads(model, dense_mixgcf_terms(model, batch, alpha))
    assert got.keys() == want.keys() == {"rec", "reg"}
    for k in got:
        assert torch.allclose(got[k], want[k], rtol=1e-5, atol=1e-7), k
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-6)
    # the negatives are mixed in the space the model scores in (the layer combination of export_embeddings)
    u, i = model.export_embeddings()
    layers = torch.stack(model.encoder.propagate())
    assert torch.allclose(torch.cat([u, i]), layers.sum(0) if combine == "sum" else layers.mean(0), atol=1e-6)


def test_alpha_draws_follow_the_epoch():
    model, batch = one_batch("mixgcf", epoch=3)
    assert torch.equal(model._mix_gen.get_state(), model.stream(MIXGCF_STREAM, 3).get_state())
    a = model.loss_terms(batch)["rec"]
    b = model.loss_terms(batch)["rec"]  # the next step draws other α
    model.on_epoch_start(3)
    assert torch.equal(model.loss_terms(batch)["rec"], a) and not torch.equal(a, b)


def test_candidates_are_uniform_non_positives():
    ds = make_tiny()
    cfg = build_config("mixgcf", None, small_overrides("mixgcf"))
    neg = make_negatives(cfg, ds)
    assert isinstance(neg, UniformNegatives)
    model, batch = one_batch("mixgcf")
    pairs = set(zip(ds.train.users.tolist(), ds.train.items.tolist()))
    assert batch["neg"].shape[1] == 64 == cfg.n_negatives  # the authors' n_negs on Yelp2018
    assert not any((u, n) in pairs for u, row in zip(batch["users"].tolist(), batch["neg"].tolist()) for n in row)


def _cfg(name, epochs, **over):
    return build_config(name, None, small_overrides(name, epochs=epochs, ks=[10], metric="ndcg@10", eval_every=1,
                                                    n_negatives=8, **over))


def test_it_learns(tmp_path):
    ds = make_tiny()
    quiet = dict(progress=False, log=lambda s: None)
    trained = fit(_cfg("mixgcf", 5, lr=0.01), ds, tmp_path / "a", **quiet)
    barely = fit(_cfg("mixgcf", 1, lr=1e-5), ds, tmp_path / "b", **quiet)
    assert trained["test"]["ndcg@10"] > barely["test"]["ndcg@10"] + 0.1


@pytest.mark.parametrize("name, over", [("mixgcf", {}), ("sgl", {"neg_sampler": "mixgcf"})])
def test_resume_equals_uninterrupted(tmp_path, name, over):
    full, resumed, full_log, part_log = fit_and_resume(lambda e: _cfg(name, e, **over), make_tiny(), tmp_path)
    assert part_log == full_log
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]


def test_sgl_takes_mixgcf_and_keeps_its_contrastive_term():
    model, batch = one_batch("sgl", neg_sampler="mixgcf", n_negatives=6)
    state = model._mix_gen.get_state()
    terms = model.loss_terms(batch)
    assert set(terms) == {"rec", "reg", "ssl"}
    alpha = torch.rand((batch["users"].shape[0], model.cfg.n_layers + 1), generator=torch.Generator().set_state(state))
    want = dense_mixgcf_terms(model, batch, alpha)
    assert torch.allclose(terms["rec"], want["rec"], rtol=1e-5) and torch.allclose(terms["reg"], want["reg"], rtol=1e-5)
    # the contrastive term is SGL's own: the same as with uniform negatives (same weights, views, batch)
    plain, plain_batch = one_batch("sgl", n_negatives=6)
    assert torch.equal(plain_batch["users"], batch["users"]) and torch.equal(plain_batch["pos"], batch["pos"])
    assert torch.allclose(plain.loss_terms(plain_batch)["ssl"], terms["ssl"])


@pytest.mark.parametrize("name, over, match", [
    ("simgcl", {}, "model simgcl: simgcl defines its own embeddings"),
    ("xsimgcl", {}, "model xsimgcl: xsimgcl defines its own embeddings"),
    ("ncl", {}, "model ncl: ncl defines its own loss_terms"),
    ("lightgcl", {}, "model lightgcl: lightgcl defines its own embeddings, loss_terms"),
    ("buir", {}, "model buir: buir defines its own"),
    ("mf", {}, "model mf with encoder=mf"),
    ("lightgcn", {"encoder": "mf"}, "model lightgcn with encoder=mf"),
    ("mixgcf", {"loss": "bce"}, "model mixgcf with loss=bce"),
    ("mixgcf", {"loss": "sampled_softmax"}, "model mixgcf with loss=sampled_softmax"),
    ("mixgcf", {"schema": "integrated"}, "model mixgcf under schema=integrated"),
    ("mixgcf", {"n_negatives": 1}, "model mixgcf with n_negatives=1"),
    ("lightgcn", {}, "model lightgcn with n_negatives=1"),  # the library default pool of 1 is refused
    ("sasrec", {"loss": "bce"}, "model sasrec: it mixes the layer embeddings of a graph encoder"),
    ("sgl", {"ssl.anchors": "batch_negatives", "ssl.negatives": "all"}, "model sgl with ssl.anchors=batch_negatives"),
])
def test_what_cannot_work_is_refused(name, over, match):
    extra = {} if name == "mixgcf" else {"neg_sampler": "mixgcf", **({"n_negatives": 8} if name != "lightgcn" or over else {})}
    with pytest.raises(ConfigError, match=f"^neg_sampler=mixgcf does not apply to {match}") as e:
        build_config(name, None, {**extra, **over})
    assert "\n" not in str(e.value)


def test_mixgcf_keys():
    cfg = build_config("mixgcf")
    assert (cfg.neg_sampler, cfg.n_negatives, cfg.n_layers, cfg.loss, cfg.params) == ("mixgcf", 64, 3, "bpr", None)
    with pytest.raises(ConfigError, match="neg_alpha does nothing for model mixgcf"):
        build_config("mixgcf", None, {"neg_alpha": 0.5})
    with pytest.raises(ConfigError, match="ssl.temperature does nothing for model mixgcf"):
        build_config("mixgcf", None, {"ssl.temperature": 0.5})
    assert build_config("mixgcf", None, {"neg_sampler": "uniform"}).neg_sampler == "uniform"  # the LightGCN ablation
