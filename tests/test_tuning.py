import csv
import json

import pytest

optuna = pytest.importorskip("optuna")

from contrastrec.cli import main  # noqa: E402
from contrastrec.config import ConfigError  # noqa: E402
from contrastrec.training.loop import fit  # noqa: E402
from contrastrec.tuning import SPACES, PruningReporter, check_space, default_space, load_space, tune, tune_models  # noqa: E402,E501

from tests.serving.runs import config, data_file, dataset_for  # noqa: E402


def spy_evaluations(monkeypatch) -> list[str]:
    """The phase of every evaluation from now on (means or per-user: both go through ``detailed``)."""
    from contrastrec import evaluation
    from contrastrec.training import loop

    phases: list[str] = []

    class Spy(evaluation.FullRankingEvaluator):
        def detailed(self, fn):
            phases.append(self.phase)
            return super().detailed(fn)

    monkeypatch.setattr(loop, "FullRankingEvaluator", Spy)
    monkeypatch.setattr(evaluation, "FullRankingEvaluator", Spy)
    return phases


def test_tune_three_trials_selects_on_validation(tmp_path, monkeypatch, capsys):
    phases = spy_evaluations(monkeypatch)
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
    # tested like a trained run: group metrics and the per-user file that `compare` reads
    assert "test" in best["groups"] and (out / "best" / "per_user_test.parquet").exists()
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


TINY = "batch_size=64 device=cpu ks=[5,10] metric=ndcg@10 embedding_dim=8 patience=10000"


def test_equal_budget_two_models_same_trials_and_seconds(tmp_path, monkeypatch, capsys):
    phases = spy_evaluations(monkeypatch)
    out = tmp_path / "tune"
    code = main(["tune", "--model", "lightgcn", "--model", "simgcl", "--dataset", str(data_file(False)),
                 "--trials", "2", "--budget-seconds", "0.6", "--output", str(out), "--set", TINY + " epochs=100000"])
    assert code == 0
    assert phases.count("test") == 2  # the two selected settings, once each; no trial is tested
    budget = json.loads((out / "budget.json").read_text())
    assert budget["trials"] == 2 and budget["max_train_seconds_per_trial"] == pytest.approx(0.3)
    for name in ("lightgcn", "simgcl"):
        rec = budget["models"][name]["budget"]
        assert rec["trials"] == 2 and rec["complete"] == 2 and rec["cut_by_budget"] == 2
        rows = list(csv.DictReader(open(out / name / "trials.csv")))
        assert [r["stopped"] for r in rows] == ["max_train_seconds"] * 2
        for t in range(2):
            trial = out / name / "trials" / f"{t:03d}"
            res = json.loads((trial / "results.json").read_text())
            assert "test" not in res and res["config"]["max_train_seconds"] == pytest.approx(0.3)
            epochs = [json.loads(line)["seconds"] for line in open(trial / "log.jsonl")]
            # the budget is checked after each epoch: all epochs but the last ran within it
            assert sum(epochs[:-1]) <= 0.3 < 100000 and res["epochs"] < 100000
        best = out / name / "best"
        res = json.loads((best / "results.json").read_text())
        assert "test" in res and "test" in res["groups"] and (best / "per_user_test.parquet").exists()
        assert res["tuning"]["budget"]["cut_by_budget"] == 2
    table = (out / "summary.md").read_text()
    assert "| lightgcn | 2 | 2 | 0 | 0 | 2 |" in table and "| simgcl | 2 | 2 | 0 | 0 | 2 |" in table
    assert "0.6 s of training per model (0.3 s per trial)" in table
    for name in ("lightgcn", "simgcl"):  # the selected setting's single test value, as best/ recorded it
        res = json.loads((out / name / "best" / "results.json").read_text())
        assert f"| ndcg@10 {res['test']['ndcg@10']:.4f} |" in table
        assert res["tuning"]["value"] == budget["models"][name]["valid"]["ndcg@10"]
    capsys.readouterr()
    assert main(["compare", str(out / "lightgcn" / "best"), str(out / "simgcl" / "best"),
                 "--metrics", "ndcg@10", "--bootstrap", "200"]) == 0
    table = capsys.readouterr().out
    assert "| ndcg@10 | all |" in table, table


def test_every_model_is_checked_before_any_trial(tmp_path, capsys):
    out = tmp_path / "tune"
    argv = ["tune", "--model", "mf", "--dataset", str(data_file(False)), "--trials", "1", "--output", str(out)]
    for extra, msg in ((["--model", "nosuch"], "nosuch"), (["--model", "mf"], "name each model once"),
                       (["--budget-seconds", "4", "--set", "max_train_seconds=1"], "max_train_seconds"),
                       (["--budget-seconds", "-1"], "--budget-seconds"), (["--trials", "0"], "--trials"),
                       (["--space", "sasrec=x.yaml"], "'sasrec' is not a tuned --model"),
                       (["--model", "lightgcn", "--space", "x.yaml"], "--space MODEL=PATH")):
        assert main(argv + extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and msg in err, err
        assert not out.exists()


def test_tune_refuses_a_used_output_for_several_models(tmp_path, capsys):
    out = tmp_path / "tune"
    (out / "mf").mkdir(parents=True)
    (out / "budget.json").write_text("{}")
    code = main(["tune", "--model", "mf", "--model", "lightgcn", "--dataset", str(data_file(False)), "--trials", "1",
                 "--output", str(out), "--set", TINY + " epochs=1"])
    assert code == 2 and "not empty" in capsys.readouterr().err
    assert (out / "budget.json").read_text() == "{}" and not any((out / "mf").iterdir())


# the config key(s) that set how strong each contrastive model's views (or its self-supervised signal) are;
# a contrastive model added to the registry must be named here, and its SPACE must tune them
VIEW_KEYS = {
    "sgl": ["sgl.drop_ratio"], "simgcl": ["simgcl.eps"], "xsimgcl": ["xsimgcl.eps"],
    "lightgcl": ["lightgcl.q", "lightgcl.dropout"], "hccf": ["hccf.dropout"], "dccf": ["dccf.n_intents"],
    "ncl": ["ncl.n_clusters"], "directau": ["directau.gamma"],
    "cl4srec": ["aug.crop_ratio", "aug.mask_ratio", "aug.reorder_ratio"],
    "iclrec": ["aug.crop_ratio", "aug.mask_ratio", "aug.reorder_ratio"],
    "coserec": ["aug.crop_ratio", "aug.mask_ratio", "aug.reorder_ratio", "aug.substitute_ratio", "aug.insert_ratio"],
    "duorec": ["dropout"], "simcse": ["dropout"], "s3rec": ["s3rec.mask_p"],
}
WEIGHT_KEYS = {"ncl": ["ncl.struct_weight", "ncl.proto_weight"], "directau": ["directau.gamma"],
               "s3rec": ["s3rec.mip_weight", "s3rec.sp_weight"]}


def test_every_contrastive_space_tunes_weight_temperature_and_view():
    from contrastrec.config import build_config, inert_keys
    from contrastrec.models.registry import registered

    contrastive = {n for n, c in registered().items()
                   if getattr(c, "HAS_SSL", False) or c.DEFAULTS.get("schema") == "integrated"}
    assert contrastive == set(VIEW_KEYS)
    for name in sorted(contrastive):
        space, inert = set(default_space(name)), inert_keys(build_config(name, None, {}))
        reads = lambda key: key not in inert and "ssl.*" not in inert  # noqa: E731
        assert set(WEIGHT_KEYS.get(name, ["ssl.weight"])) <= space, name
        if reads("ssl.temperature"):
            assert "ssl.temperature" in space, name
        assert set(VIEW_KEYS[name]) <= space, name
    for base in ("lightgcn", "mf", "sasrec"):  # the bases tune their optimiser and size too
        assert {"lr", "embedding_dim"} <= set(default_space(base))


def test_pruned_trials_count_against_the_budget(tmp_path, monkeypatch):
    class PruneTrialOne(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.number == 1

    monkeypatch.setattr(optuna.pruners, "MedianPruner", lambda **kw: PruneTrialOne())
    out = tmp_path / "tune"
    summary = tune_models(["mf"], data_file(False), 2, out, overrides={"epochs": 3, "embedding_dim": 8, "batch_size": 64,
                          "device": "cpu", "ks": [5, 10], "metric": "ndcg@10"}, budget_seconds=100, log=lambda s: None)
    rec = summary["models"]["mf"]["budget"]
    assert (rec["trials"], rec["complete"], rec["pruned"], rec["cut_by_budget"]) == (2, 1, 1, 0)
    logs = [[json.loads(line)["seconds"] for line in open(out / "trials" / f"{t:03d}" / "log.jsonl")] for t in (0, 1)]
    assert len(logs[1]) == 1  # pruned after its first epoch
    rows = list(csv.DictReader(open(out / "trials.csv")))
    assert [r["state"] for r in rows] == ["complete", "pruned"]
    assert float(rows[1]["train_seconds"]) == pytest.approx(sum(logs[1]), abs=1e-3)
    assert rec["train_seconds"] == pytest.approx(sum(map(sum, logs)), abs=0.02)
    assert summary["models"]["mf"]["best_trial"] == 0 and "| mf | 2 | 1 | 1 | 0 | 0 |" in (out / "summary.md").read_text()
