import csv
import json

import pytest

optuna = pytest.importorskip("optuna")

from contrastrec.cli import main  # noqa: E402
from contrastrec.config import ConfigError  # noqa: E402
from contrastrec.training.loop import fit  # noqa: E402
from contrastrec.tuning import SPACES, PruningReporter, check_space, default_space, load_space, tune  # noqa: E402

from tests.serving.runs import config, data_file, dataset_for  # noqa: E402


def test_tune_three_trials_selects_on_validation(tmp_path, monkeypatch, capsys):
    from contrastrec import evaluation
    from contrastrec.training import loop

    phases = []

    class Spy(evaluation.FullRankingEvaluator):
        def __call__(self, fn):
            phases.append(self.phase)
            return super().__call__(fn)

    monkeypatch.setattr(loop, "FullRankingEvaluator", Spy)
    monkeypatch.setattr(evaluation, "FullRankingEvaluator", Spy)
    space = tmp_path / "space.yaml"
    space.write_text("lr: {type: float, low: 1.0e-3, high: 1.0e-1, log: true}\n"
                     "embedding_dim: {type: categorical, choices: [8, 16]}\n")
    out = tmp_path / "tune"
    code = main(["tune", "--model", "mf", "--dataset", str(data_file(False)), "--trials", "3", "--output", str(out),
                 "--space", str(space), "--set", "epochs=2 batch_size=64 device=cpu ks=[5,10] metric=ndcg@10"])
    assert code == 0
    assert phases.count("test") == 1  # trials never see the test set; the best is tested once
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert [r["trial"] for r in rows] == ["0", "1", "2"] and {"lr", "embedding_dim", "valid_ndcg@10"} <= set(rows[0])
    assert (out / "trials.md").read_text().startswith("| trial | state |")
    for t in range(3):
        assert "test" not in json.loads((out / "trials" / f"{t:03d}" / "results.json").read_text())
    best = json.loads((out / "best" / "results.json").read_text())
    values = [float(r["valid_ndcg@10"]) for r in rows if r["state"] == "complete"]
    assert best["tuning"]["value"] == pytest.approx(max(values))
    assert set(best["test"]) >= {"ndcg@10", "recall@5"} and best["tuning"]["n_trials"] == 3
    assert (out / "best" / "best.pt").exists()
    printed = capsys.readouterr().out
    assert "best trial" in printed and '"best_trial"' in printed


def test_pruning_through_fit(tmp_path):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    trial = study.ask()
    cfg = config("mf", epochs=3, embedding_dim=8)
    with pytest.raises(optuna.TrialPruned, match="epoch 0"):
        fit(cfg, dataset_for(cfg), tmp_path / "r", progress=False, log=lambda s: None,
            tracker=PruningReporter(trial, "ndcg@10"), evaluate_test=False)


def test_spaces(tmp_path):
    assert {"sgl.drop_ratio", "ssl.weight", "ssl.temperature"} <= set(SPACES["sgl"])
    assert "simgcl.eps" in SPACES["simgcl"] and "xsimgcl.eps" in SPACES["xsimgcl"]
    from contrastrec.config import MODELS

    for name in MODELS:  # every declared space names valid keys of its own model
        check_space(default_space(name), model=name)
    assert "dropout" in default_space("cl4srec") and "dropout" not in default_space("lightgcn")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lrr: {type: float, low: 0.1, high: 1}\n")
    with pytest.raises(ConfigError, match="unknown config key 'lrr'"):
        load_space(bad)
    bad.write_text("lr: {type: float, low: 0, high: 1, log: true}\n")
    with pytest.raises(ConfigError, match="log scale"):
        load_space(bad)
    with pytest.raises(ConfigError, match="no hyper-parameters"):
        tune("pop", data_file(False), 1, tmp_path / "t")


def test_tune_without_optuna(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(SystemExit) as e:
        main(["tune", "--model", "mf", "--dataset", str(data_file(False)), "--trials", "1", "--output", str(tmp_path)])
    assert e.value.code == 2
    assert "pip install 'contrastrec[tune]'" in capsys.readouterr().err


def test_tune_refuses_a_used_output_before_any_trial(tmp_path, capsys):
    out = tmp_path / "tune"
    (out / "best").mkdir(parents=True)
    (out / "trials.csv").write_text("trial,state\n0,complete\n")  # an earlier study
    code = main(["tune", "--model", "mf", "--dataset", str(data_file(False)), "--trials", "1", "--output", str(out),
                 "--set", "epochs=1 batch_size=64 device=cpu ks=[5] metric=ndcg@5"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(out) in err and "not empty" in err
    assert (out / "trials.csv").read_text() == "trial,state\n0,complete\n" and not (out / "trials").exists()
