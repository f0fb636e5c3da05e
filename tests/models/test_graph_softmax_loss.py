"""Graph models' ``loss=softmax`` main loss: in-batch cosine softmax over the batch's positive items,
recomputed here with plain loops in float64; usable jointly with any SSL term."""
import math

import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import build_model, fit, make_batches

from tests.conftest import make_tiny


def _loop_loss(u, p, pos, t):
    b = u.shape[0]
    total = 0.0
    for i in range(b):
        ui = u[i] / u[i].norm()
        sims = [float(ui @ (p[j] / p[j].norm())) / t for j in range(b)]
        denom = sum(math.exp(sims[j]) for j in range(b) if j == i or pos[j] != pos[i])
        total += -(sims[i] - math.log(denom))
    return total / b


def test_softmax_rec_loss_matches_loops():
    ds = make_tiny()
    cfg = build_config("lightgcn", None, {"loss": "softmax", "rec_temperature": 0.3, "embedding_dim": 8,
                                          "device": "cpu", "seed": 0})
    model = build_model(cfg, ds)
    g = torch.Generator().manual_seed(0)
    u, p = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    pos = torch.tensor([3, 1, 3, 0, 2, 1])  # repeats: same-item rows are not negatives of each other
    got = model.rec_loss(u, p, None, {"pos": pos})
    want = _loop_loss(u.double(), p.double(), pos.tolist(), 0.3)
    assert abs(float(got) - want) < 1e-5
    # one-element batch: only the positive in the denominator
    assert abs(float(model.rec_loss(u[:1], p[:1], None, {"pos": pos[:1]}))) < 1e-6


@pytest.mark.parametrize("name", ["lightgcn", "sgl", "simgcl", "xsimgcl", "ncl"])
def test_softmax_main_loss_trains_jointly(tmp_path, name):
    ds = make_tiny()
    over = {"loss": "softmax", "embedding_dim": 8, "batch_size": 32, "device": "cpu", "seed": 0, "epochs": 2,
            "ks": [10], "metric": "ndcg@10"}
    if name != "lightgcn":
        over["ssl.warmup_epochs"] = 0
    if name == "ncl":
        over["ncl.n_clusters"] = 4
    cfg = build_config(name, None, over)
    model = build_model(cfg, ds)
    model.train()
    model.set_phase("joint")
    model.on_epoch_start(100 if name == "ncl" else 0)
    batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
    terms = model.loss_terms(batch)
    assert torch.isfinite(terms["rec"]) and (name == "lightgcn" or any(k.startswith("ssl") for k in terms))
    res = fit(cfg, ds, tmp_path / name, progress=False, log=lambda s: None)
    assert res["config"]["loss"] == "softmax" and 0 <= res["test"]["ndcg@10"] <= 1


def test_softmax_refusals():
    with pytest.raises(ConfigError, match="in-batch"):
        build_config("lightgcn", None, {"loss": "softmax", "neg_sampler": "popularity"})
    with pytest.raises(ConfigError, match="rec_temperature"):
        build_config("lightgcn", None, {"loss": "softmax", "rec_temperature": 0})
    with pytest.raises(ConfigError, match="sequential"):
        build_config("sasrec", None, {"loss": "softmax"})
