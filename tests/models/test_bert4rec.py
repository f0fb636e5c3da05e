"""BERT4Rec: the cloze loss and the appended-mask scores against dense per-row computations, the
bidirectional encoder, the refused keys and schemas, learning on tiny chains, resume = uninterrupted."""
import json

import pytest
import torch
import torch.nn.functional as F

from contrastrec.augment import mask_items
from contrastrec.config import ConfigError, build_config
from contrastrec.data.sequences import padded_histories
from contrastrec.training.loop import build_model, fit

from tests.conftest import fit_and_resume, make_tiny, one_batch, small_overrides

QUIET = dict(progress=False, log=lambda s: None)


def _model(**over):
    ds = make_tiny()
    cfg = build_config("bert4rec", None, small_overrides("bert4rec", **over))
    torch.manual_seed(0)
    return ds, cfg, build_model(cfg, ds)


def _dense_query(model, tokens):
    """Per-position query of one left-padded row, with attention to every item of the row."""
    enc = model.encoder
    l = tokens.shape[0]
    x = enc.ln(enc.item_emb(tokens) + enc.pos_emb(torch.arange(enc.max_len - l, enc.max_len)))
    allowed = (tokens > 0).expand(l, l)  # every query position sees every non-padded key
    bias = torch.zeros(l, l).masked_fill(~allowed, -1e4)
    for blk in enc.blocks:
        h = blk.n_heads
        q, k, v = blk.qkv(x).view(l, 3, h, -1).permute(1, 2, 0, 3)
        att = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5 + bias, -1) @ v
        x = blk.ln1(x + blk.proj(att.transpose(0, 1).reshape(l, -1)))
        x = blk.ln2(x + blk.ff2(F.gelu(blk.ff1(x))))
    return model.out_norm(F.gelu(model.out_dense(x)))


def test_cloze_loss_equals_a_dense_computation():
    model, batch = one_batch("bert4rec", epoch=3, **{"bert4rec.mask_p": 0.4, "bert4rec.last_p": 0.3})
    model.eval()  # no dropout: the reference below has none
    with torch.no_grad():
        got = model.loss_terms(batch)
    assert set(got) == {"rec"}
    x = torch.cat([batch["seq"], batch["target"][:, None]], 1)[:, -model.max_len:]
    masked, sel = mask_items(x, 0.4, model.mask_token, generator=model.stream(model.STREAM, 3), last_p=0.3)
    assert int(sel.sum()) > 0 and bool(sel[:, -1].any())
    terms = []
    with torch.no_grad():
        for r in range(x.shape[0]):
            q = _dense_query(model, masked[r])
            for c in torch.nonzero(sel[r]).ravel().tolist():
                logits = model.encoder.item_emb.weight[1:-1] @ q[c] + model.out_bias
                terms.append(-torch.log_softmax(logits, 0)[x[r, c] - 1])
    assert torch.allclose(got["rec"], torch.stack(terms).mean(), atol=1e-5)


def test_the_masks_are_drawn_per_epoch():
    _, b = one_batch("bert4rec")
    a0, a0_again, a1 = (one_batch("bert4rec", epoch=e)[0] for e in (0, 0, 1))
    for m in (a0, a0_again, a1):
        m.eval()
    with torch.no_grad():
        l0, l0b, l1 = (m.loss_terms(b)["rec"] for m in (a0, a0_again, a1))
    assert l0 == l0b and l0 != l1


def test_scores_at_a_mask_appended_to_the_history():
    ds, cfg, model = _model(max_len=5)
    model.eval()
    hist = padded_histories(ds.train, ds.n_users, cfg.max_len)
    hist[0] = torch.tensor([3, 4, 5, 6, 7])  # a full history: its oldest item is dropped
    hist[1] = torch.tensor([0, 0, 0, 0, 9])
    scores = model.scorer(hist)(torch.arange(ds.n_users))
    with torch.no_grad():
        for u in range(ds.n_users):
            items = [int(t) for t in hist[u] if t > 0]
            row = torch.tensor(([0] * cfg.max_len + items + [model.mask_token])[-cfg.max_len:])
            want = model.encoder.item_emb.weight[1:-1] @ _dense_query(model, row)[-1] + model.out_bias
            assert torch.allclose(scores[u], want, atol=1e-5), u
    users, items = model.export_embeddings(hist)  # with the bias as one more column: same scores
    assert users.shape == (ds.n_users, cfg.embedding_dim + 1)
    assert torch.allclose(users @ items.t(), scores, atol=1e-5)
    assert model.encoder.is_bidirectional and torch.equal(model.encoder.causal, torch.tril(model.encoder.causal))


def test_encoder_is_bidirectional_unlike_sasrec():
    a = torch.tensor([[0, 0, 3, 4, 5, 6]])
    b = a.clone()
    b[0, -1] = 9
    for name, later_matters in (("bert4rec", True), ("sasrec", False)):
        ds = make_tiny()
        model = build_model(build_config(name, None, small_overrides(name)), ds).eval()
        with torch.no_grad():
            changed = not torch.allclose(model.encoder(a)[0, 2], model.encoder(b)[0, 2])
        assert changed == later_matters, name


def test_without_output_bias():
    ds, cfg, model = _model(**{"bert4rec.output_bias": False})
    assert model.out_bias is None
    model.eval()
    hist = padded_histories(ds.train, ds.n_users, cfg.max_len)
    users, items = model.export_embeddings(hist)
    assert users.shape[1] == cfg.embedding_dim
    assert torch.allclose(users @ items.t(), model.scorer(hist)(torch.arange(ds.n_users)), atol=1e-5)


@pytest.mark.parametrize("over, match", [
    ({"schema": "pretrain_finetune", "pretrain_epochs": 1}, "schema=pretrain_finetune is not defined"),
    ({"schema": "integrated"}, "schema=integrated is not defined"),
    ({"ssl.weight": 0.5}, "ssl.weight does nothing for model bert4rec"),
    ({"ssl.temperature": 0.5}, "ssl.temperature does nothing for model bert4rec"),
    ({"aug.mask_ratio": 0.5}, "aug.mask_ratio does nothing for model bert4rec"),
    ({"loss": "bce"}, "loss=bce is not available"),
    ({"loss": "sampled_softmax"}, "loss=sampled_softmax is not available"),
    ({"encoder": "gru4rec"}, "needs the sasrec encoder"),
    ({"bert4rec.mask_p": 0.0}, r"mask_p must be in \(0, 1\)"),
    ({"bert4rec.last_p": 1.5}, r"last_p must be in \[0, 1\]"),
    ({"bert4rec.last_p": 1.0, "bert4rec.mask_p": 0.3}, "bert4rec.mask_p does nothing for model bert4rec"),
    ({"reg_weight": 0.1}, "reg_weight does nothing"),
])
def test_refused(over, match):
    with pytest.raises(ConfigError, match=match):
        build_config("bert4rec", None, over)


def test_the_keys_that_act():
    cfg = build_config("bert4rec", None, {"loss": "ce", "bert4rec.mask_p": 0.6, "bert4rec.last_p": 0.0})
    assert (cfg.params.mask_p, cfg.params.last_p, cfg.schema) == (0.6, 0.0, "joint")
    assert build_config("bert4rec", None, {"bert4rec.last_p": 1.0}).params.last_p == 1.0


def test_learns_on_tiny_chains(tmp_path):
    """The cloze task gives few targets per sequence (BERT4Rec is known to need long training), so
    this run is longer than the other models' tiny fits: small batches, no dropout."""
    ds = make_tiny()
    over = {"epochs": 25, "ks": [10], "metric": "ndcg@10", "lr": 0.01, "batch_size": 16, "dropout": 0.0,
            "attn_dropout": 0.0, "eval_every": 5, "bert4rec.mask_p": 0.4}
    res = fit(build_config("bert4rec", None, small_overrides("bert4rec", **over)), ds, tmp_path / "b", **QUIET)
    pop = fit(build_config("pop", None, small_overrides("pop", ks=[10], metric="ndcg@10")), ds, tmp_path / "p", **QUIET)
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert "rec" in log[0] and not any(k.startswith("ssl") for k in log[0])
    assert log[-1]["rec"] < 0.85 * log[0]["rec"]
    first_valid = next(r["valid"]["ndcg@10"] for r in log if "valid" in r)
    assert res["valid"]["ndcg@10"] > 1.5 * first_valid
    assert res["test"]["ndcg@10"] > 2 * pop["test"]["ndcg@10"]


def test_resume_equals_uninterrupted(tmp_path):
    def cfg(epochs):
        return build_config("bert4rec", None, small_overrides("bert4rec", epochs=epochs, ks=[10], metric="ndcg@10",
                                                              **{"bert4rec.last_p": 0.3}))

    full, resumed, full_log, resumed_log = fit_and_resume(cfg, make_tiny(), tmp_path)
    assert resumed_log == full_log and len(full_log) == 4
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]


def test_demo_runs(tmp_path):
    from contrastrec.demo import run_demo

    rows = run_demo(output=str(tmp_path), quick=True, models=["bert4rec"], print_fn=lambda s: None)
    assert rows[0]["model"] == "bert4rec" and 0 <= rows[0]["test ndcg@20"] <= 1
