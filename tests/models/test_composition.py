"""Issue 5: every SSL loss, negative strategy, head and schema works from configuration on a graph
model and a sequential model, without code changes; incompatible combinations are refused."""
import json

import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import build_model, fit, make_batches

from tests.conftest import make_tiny, small_overrides


def small(model, **over):
    """Small settings naming only keys that act under them (the config refuses the others)."""
    out = small_overrides(model, **{"epochs": 2, "ks": [10], "metric": "ndcg@10", **over})
    if out.get("ssl.negatives") in ("uniform", "popularity", "hard"):
        out["ssl.n_negatives"] = 8
    if out.get("ssl.negatives") == "hard":
        out.update({"ssl.hard_skip_top": 1, "ssl.hard_band": 5})
    if out.get("neg_sampler") == "hard":
        out.update({"neg_hard_skip_top": 2, "neg_hard_band": 10, "neg_hard_refresh_every": 2})
    return out

COMBOS = [
    {"ssl.loss": "debiased", "ssl.tau_plus": 0.1},
    {"ssl.loss": "hard_negative", "ssl.beta": 1.0},
    {"ssl.loss": "supcon"},
    {"ssl.loss": "triplet"},
    {"ssl.loss": "nce"},
    {"ssl.loss": "align_uniform"},
    {"ssl.negatives": "uniform"},
    {"ssl.negatives": "all"},
    {"ssl.negatives": "popularity"},
    {"ssl.negatives": "hard"},
    {"ssl.negatives": "hard", "ssl.loss": "triplet"},
    {"ssl.head": "mlp"},
    {"ssl.head": "linear", "ssl.false_negatives": "same_target"},
    {"schema": "integrated"},
    {"schema": "integrated", "ssl.negatives": "popularity"},
]


@pytest.mark.parametrize("model", ["simgcl", "cl4srec"])
@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_combination_trains(model, combo):
    if model == "simgcl" and combo.get("ssl.false_negatives"):
        combo = {k: v for k, v in combo.items() if k != "ssl.false_negatives"}
    ds = make_tiny()
    cfg = build_config(model, None, small(model, **combo))
    m = build_model(cfg, ds)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.train()
    m.set_phase("joint")
    m.on_epoch_start(0)
    names = set()
    for batch in make_batches(m, cfg, ds).epoch(0, torch.device("cpu")):
        terms = m.loss_terms(batch)
        names |= set(terms)
        loss = sum(terms.values())
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if combo.get("schema") == "integrated":
        assert not any(n.startswith("ssl") for n in names)
    else:
        assert "ssl" in names


@pytest.mark.parametrize("model", ["simgcl", "cl4srec"])
def test_pretrain_finetune_schema(tmp_path, model):
    ds = make_tiny()
    cfg = build_config(model, None, small(model, schema="pretrain_finetune", pretrain_epochs=2, epochs=2))
    fit(cfg, ds, tmp_path, progress=False, log=lambda s: None)
    assert (tmp_path / "pretrained.pt").exists()
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    pre = [r for r in lines if r["phase"] == "pretrain"]
    fine = [r for r in lines if r["phase"] == "finetune"]
    assert len(pre) == 2 and len(fine) == 2
    assert all("ssl" in r and "rec" not in r for r in pre)
    assert all("rec" in r and "ssl" not in r for r in fine)
    assert all("valid" not in r for r in pre) and all("valid" in r for r in fine)


@pytest.mark.parametrize("model", ["sgl", "cl4srec"])
def test_incompatible_combination_refused(model):
    with pytest.raises(ConfigError, match="ssl.negatives=uniform draws explicit negatives"):
        build_config(model, None, {"ssl.negatives": "uniform", "ssl.loss": "debiased"})
    with pytest.raises(ConfigError, match="hard_ratio"):
        build_config(model, None, {"ssl.hard_ratio": 1.5})
    with pytest.raises(ConfigError, match="ssl.negatives=all .* only ssl.loss=infonce"):
        build_config(model, None, {"ssl.negatives": "all", "ssl.loss": "triplet"})


def test_directau_requires_integrated():
    with pytest.raises(ConfigError, match="integrated"):
        build_config("directau", None, {"schema": "joint"})


@pytest.mark.parametrize("model,loss", [("lightgcn", "bpr"), ("lightgcn", "sampled_softmax"), ("sasrec", "bce")])
@pytest.mark.parametrize("sampler", ["popularity", "hard"])
def test_main_loss_negative_samplers(tmp_path, model, loss, sampler):
    """neg_sampler draws the main loss's negatives; never a training positive."""
    ds = make_tiny()
    cfg = build_config(model, None, small(model, loss=loss, neg_sampler=sampler, n_negatives=3))
    m = build_model(cfg, ds)
    batches = make_batches(m, cfg, ds)
    pos = set(zip(ds.train.users.tolist(), ds.train.items.tolist()))
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for batch in batches.epoch(0, torch.device("cpu")):
        if model == "lightgcn":
            for u, row in zip(batch["users"].tolist(), batch["neg"].tolist()):
                assert not any((u, i) in pos for i in row)
            if sampler == "popularity":
                assert "log_q_neg" in batch
        loss_v = sum(m.loss_terms(batch).values())
        assert torch.isfinite(loss_v)
        opt.zero_grad()
        loss_v.backward()
        opt.step()
    if sampler == "hard":
        assert batches.negatives.sampler.steps > 0 and batches.negatives.sampler._band is not None
    fit(cfg, ds, tmp_path / "run", progress=False, log=lambda s: None)


def test_negative_sampler_with_ce_refused():
    with pytest.raises(ConfigError, match="loss=ce ranks against all"):
        build_config("sasrec", None, {"neg_sampler": "popularity"})
