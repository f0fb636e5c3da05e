"""refit=True: train on train + valid for exactly `epochs` epochs, no validation, test the final model."""
import json

import pytest

from contrastrec.config import build_config
from contrastrec.training.loop import TrainingError, fit, refit_dataset

from tests.conftest import make_tiny


def test_refit_dataset_moves_valid_into_train_keeping_user_order():
    ds = make_tiny()
    r = refit_dataset(ds)
    assert len(r.train) == len(ds.train) + len(ds.valid) and len(r.valid) == 0
    assert (r.test.items == ds.test.items).all()
    # each user's validation item is now the last of their training sequence
    for u in range(ds.n_users):
        assert r.train.items[r.train.users == u][-1] == ds.valid.items[ds.valid.users == u][-1]
    assert (r.history("test").items == ds.history("test").items).all()


@pytest.mark.parametrize("model", ["sasrec", "lightgcn"])
def test_fit_refit_runs_the_epochs_without_validation(tmp_path, model):
    ds = make_tiny(sequential=model == "sasrec")
    over = {"embedding_dim": 8, "epochs": 3, "seed": 0, "device": "cpu", "ks": [10], "metric": "ndcg@10",
            "batch_size": 32, "n_layers": 1, "refit": True}
    cfg = build_config(model, None, {**over, "max_len": 10} if model == "sasrec" else over)
    res = fit(cfg, ds, tmp_path / "r", progress=False, log=lambda *_: None)
    log = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2] and all("valid" not in r for r in log)
    assert res["valid"] is None and res["best_epoch"] == 2 and "ndcg@10" in res["test"]
    assert json.loads((tmp_path / "r" / "dataset.json").read_text())["train"] == len(ds.train) + len(ds.valid)


def test_a_budget_stopped_refit_is_not_tested(tmp_path):
    ds = make_tiny(sequential=False)
    cfg = build_config("lightgcn", None, {"embedding_dim": 8, "epochs": 50, "seed": 0, "device": "cpu",
                                          "ks": [10], "metric": "ndcg@10", "refit": True,
                                          "max_train_seconds": 1e-6})
    with pytest.raises(TrainingError, match="refit stopped at epoch 1 of 50"):
        fit(cfg, ds, tmp_path / "r", progress=False, log=lambda *_: None)
    assert not (tmp_path / "r" / "best.pt").exists() and (tmp_path / "r" / "last.pt").exists()
