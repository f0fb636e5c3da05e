import json

import numpy as np
import pytest
import torch

from contrastrec.config import build_config
from contrastrec.training.checkpoint import load_checkpoint
from contrastrec.training.loop import TrainingError, fit

from tests.conftest import make_tiny


def _cfg(model, **over):
    base = {"epochs": 4, "batch_size": 64, "embedding_dim": 16, "device": "cpu", "ks": [5, 10], "metric": "ndcg@10",
            "patience": 10, "seed": 3}
    if model == "sasrec":
        base.update({"max_len": 10, "n_layers": 1, "dropout": 0.1, "attn_dropout": 0.1})
    base.update(over)
    return build_config(model, None, base)


@pytest.mark.parametrize("model", ["pop", "mf", "lightgcn", "sasrec"])
def test_fit_writes_results(tmp_path, model):
    ds = make_tiny()
    res = fit(_cfg(model), ds, tmp_path / model, progress=False, log=lambda s: None)
    saved = json.loads((tmp_path / model / "results.json").read_text())
    for key in ("model", "dataset", "valid", "test", "best_epoch", "epochs", "train_seconds",
                "seconds_per_epoch", "peak_memory_mb", "config"):
        assert key in saved
    assert set(saved["test"]) >= {"recall@10", "ndcg@10", "hit@10"}
    assert saved["model"] == model
    assert res["test"] == saved["test"]
    assert (tmp_path / model / "best.pt").exists()
    ck = load_checkpoint(tmp_path / model / "best.pt")
    assert ck["config"]["model"] == model


def test_test_set_evaluated_once(tmp_path, monkeypatch):
    from contrastrec.evaluation import evaluator as E
    from contrastrec.training import loop

    calls = []
    real = loop.FullRankingEvaluator

    class Spy(real):  # every evaluation (means or per-user, with groups) goes through detailed()
        def detailed(self, fn):
            calls.append(self.phase)
            return super().detailed(fn)

    monkeypatch.setattr(loop, "FullRankingEvaluator", Spy)
    fit(_cfg("mf", epochs=5), make_tiny(), tmp_path / "r", progress=False, log=lambda s: None)
    assert calls.count("test") == 1
    assert calls.count("valid") >= 5


def test_determinism(tmp_path):
    ds = make_tiny()
    a = fit(_cfg("sasrec"), ds, tmp_path / "a", progress=False, log=lambda s: None)
    b = fit(_cfg("sasrec"), ds, tmp_path / "b", progress=False, log=lambda s: None)
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    c = fit(_cfg("lightgcn"), ds, tmp_path / "c", progress=False, log=lambda s: None)
    d = fit(_cfg("lightgcn"), ds, tmp_path / "d", progress=False, log=lambda s: None)
    assert c["test"] == d["test"]


def test_resume_matches_uninterrupted(tmp_path):
    ds = make_tiny()
    full = fit(_cfg("lightgcn", epochs=6), ds, tmp_path / "full", progress=False, log=lambda s: None)
    # interrupted run: stop after 3 epochs via max epochs, then resume with the full schedule
    part_cfg = _cfg("lightgcn", epochs=6)
    out = tmp_path / "part"

    class Stop(Exception):
        pass

    n = {"epochs": 0}

    def log(msg):
        if msg.startswith("epoch"):
            n["epochs"] += 1
            if n["epochs"] == 3:
                raise Stop()

    with pytest.raises(Stop):
        fit(part_cfg, ds, out, progress=False, log=log)
    # the epoch-2 line is logged before last.pt is written, so the resume point is epoch 2
    resumed = fit(part_cfg, ds, out, resume=True, progress=False, log=lambda s: None)
    assert resumed["test"] == full["test"]
    assert resumed["best_epoch"] == full["best_epoch"]


def test_nan_loss_is_a_clear_error(tmp_path):
    ds = make_tiny()
    cfg = _cfg("mf", epochs=3)
    from contrastrec.models.mf import MF

    orig = MF.loss_terms
    state = {"n": 0}

    def bad(self, batch):
        t = orig(self, batch)
        state["n"] += 1
        if state["n"] > 2:
            t["rec"] = t["rec"] * float("nan")
        return t

    MF.loss_terms = bad
    try:
        with pytest.raises(TrainingError, match="not finite"):
            fit(cfg, ds, tmp_path / "nan", progress=False, log=lambda s: None)
    finally:
        MF.loss_terms = orig


def test_early_stopping(tmp_path):
    ds = make_tiny()
    res = fit(_cfg("mf", epochs=50, patience=0, lr=1e-6), ds, tmp_path / "es", progress=False, log=lambda s: None)
    assert res["epochs"] < 50 and res["stopped"] == "patience"


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="nothing to resume"):
        fit(_cfg("mf"), make_tiny(), tmp_path / "none", resume=True, progress=False, log=lambda s: None)


def test_resume_with_more_epochs_continues_the_same_run(tmp_path):
    """A run that ended (epochs or budget) can be given more time on resume; the result equals a run
    that had the longer schedule from the start. Keys that change the experiment are refused."""
    from contrastrec.config import ConfigError

    ds = make_tiny()
    full = fit(_cfg("lightgcn", epochs=6, eval_every=1), ds, tmp_path / "full", progress=False, log=lambda s: None)
    short = fit(_cfg("lightgcn", epochs=3, eval_every=1), ds, tmp_path / "part", progress=False, log=lambda s: None)
    assert short["epochs"] == 3
    logs = []
    resumed = fit(_cfg("lightgcn", epochs=3, eval_every=1), ds, tmp_path / "part", resume=True, progress=False,
                  log=logs.append, resume_overrides={"epochs": 6})
    assert resumed["epochs"] == 6
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    assert any("resume overrides" in m for m in logs)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["config"]["epochs"] == 6
    with pytest.raises(ConfigError, match="cannot change lr"):
        fit(_cfg("lightgcn"), ds, tmp_path / "part", resume=True, progress=False, log=lambda s: None,
            resume_overrides={"lr": 0.1})


@pytest.mark.parametrize("model", ["sgl", "cl4srec"])
def test_ssl_warmup_epochs_train_the_main_loss_alone_first(tmp_path, model):
    from contrastrec.config import ConfigError

    ds = make_tiny()
    over = {"epochs": 4, "ssl.warmup_epochs": 2, "eval_every": 1}
    if model == "cl4srec":
        over.update({"max_len": 10, "n_layers": 1, "dropout": 0.1, "attn_dropout": 0.1})
    fit(_cfg(model, **over), ds, tmp_path / model, progress=False, log=lambda s: None)
    recs = [json.loads(line) for line in (tmp_path / model / "log.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in recs] == ["warmup", "warmup", "joint", "joint"]
    assert all("ssl" not in r for r in recs[:2]) and all(r["ssl"] > 0 for r in recs[2:])
    assert all("valid" in r for r in recs)  # warm-up epochs are evaluated and selectable
    # other schemas order their terms themselves: the warm-up does not apply, so it is refused
    pf = {**over, "schema": "pretrain_finetune", "pretrain_epochs": 1, "epochs": 2}
    with pytest.raises(ConfigError, match="ssl.warmup_epochs does nothing for model"):
        _cfg(model, **pf)
    pf.pop("ssl.warmup_epochs")
    fit(_cfg(model, **pf), ds, tmp_path / "pf", progress=False, log=lambda s: None)
    phases = [json.loads(line)["phase"] for line in (tmp_path / "pf" / "log.jsonl").read_text().splitlines()]
    assert phases == ["pretrain", "finetune", "finetune"]
    with pytest.raises(ConfigError, match="warmup_epochs must be >= 0"):
        _cfg(model, **{**over, "ssl.warmup_epochs": -1})


@pytest.mark.parametrize("lr", [1e6, 1e12])
def test_a_diverging_loss_stops_the_run_and_says_what_is_kept(tmp_path, lr):
    """Issue 14 defect 5: with a huge lr the loss grew to 1e31 and the run ended with status 0."""
    ds = make_tiny()
    with pytest.raises(TrainingError) as e:
        fit(_cfg("mf", epochs=30, lr=lr, eval_every=1, patience=30), ds, tmp_path / "d", progress=False,
            log=lambda s: None)
    msg = str(e.value)
    assert "\n" not in msg and "rec=" in msg and ("diverging" in msg or "not finite" in msg) and "epoch" in msg
    best = tmp_path / "d" / "best.pt"
    if best.exists():
        assert f"the best checkpoint so far ({best}) is kept" in msg
        load_checkpoint(best)  # and it is a loadable checkpoint
    else:
        assert "no checkpoint was selected yet" in msg
    assert not (tmp_path / "d" / "results.json").exists()


@pytest.mark.parametrize("over, reason", [({"epochs": 2}, "epochs"),
                                          ({"epochs": 50, "max_train_seconds": 1e-6}, "max_train_seconds"),
                                          ({"epochs": 50, "patience": 0, "lr": 0.5}, "patience")])
def test_results_say_why_training_stopped(tmp_path, over, reason):
    """results.json "stopped": early stopping, the time budget or the epoch cap (a model cut while
    still improving must be told from one that stopped early); "untrained" for a baseline."""
    res = fit(_cfg("mf", **over), make_tiny(), tmp_path / "r", progress=False, log=lambda s: None)
    assert res["stopped"] == reason
    if reason == "patience":
        assert res["epochs"] < 50
    assert fit(_cfg("pop"), make_tiny(), tmp_path / "p", progress=False, log=lambda s: None)["stopped"] == "untrained"


def test_a_time_budget_spent_in_the_pretraining_is_told_and_can_be_resumed(tmp_path):
    """max_train_seconds that runs out during S3-Rec's pre-training (schema pretrain_finetune):
    no fine-tuning epoch was validated, so nothing is selected (validation only) and the run ends
    with a one-line error that says so and how to go on; resuming with more time fine-tunes,
    validates and tests it."""
    from tests.conftest import make_tiny_for, small_overrides

    ds = make_tiny_for("s3rec")
    cfg = build_config("s3rec", None, small_overrides("s3rec", pretrain_epochs=3, epochs=2, max_train_seconds=1e-6))
    with pytest.raises(TrainingError) as e:
        fit(cfg, ds, tmp_path / "r", progress=False, log=lambda s: None)
    msg = str(e.value)
    assert "\n" not in msg and "max_train_seconds" in msg and "pre-training" in msg and "epoch 1 of 3" in msg
    assert "--resume" in msg and not (tmp_path / "r" / "results.json").exists()
    res = fit(cfg, ds, tmp_path / "r", resume=True, resume_overrides={"max_train_seconds": 0},
              progress=False, log=lambda s: None)
    assert res["epochs"] == 5 and res["best_epoch"] >= 3 and res["stopped"] == "epochs"
