import sys

import pytest

from contrastrec.cli import main
from contrastrec.tracking import MissingExtra, epoch_metrics, flatten, make_tracker
from contrastrec.training.loop import fit

from tests.serving.runs import config, data_file, dataset_for

SET = "epochs=2 embedding_dim=8 batch_size=64 device=cpu ks=[5,10] metric=ndcg@10"


def test_flatten_and_epoch_metrics():
    assert flatten({"a": 1, "ssl": {"weight": 0.1, "x": {"y": "z"}}, "ks": [5, 10]}) == \
        {"a": 1, "ssl.weight": 0.1, "ssl.x.y": "z", "ks": "[5, 10]"}
    rec = {"epoch": 3, "phase": "joint", "seconds": 1.5, "rec": 0.7, "ssl": 0.2, "loss": 0.9,
           "valid": {"ndcg@10": 0.3}, "eval_seconds": 0.1}
    assert epoch_metrics(rec) == {"loss/rec": 0.7, "loss/ssl": 0.2, "loss/total": 0.9,
                                  "time/epoch_seconds": 1.5, "valid/ndcg_at_10": 0.3}


def test_mlflow_file_store(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    cfg = config("simgcl", epochs=2, embedding_dim=8, **{"ssl.warmup_epochs": 0})
    from contrastrec.training.rundir import RunDir

    RunDir(tmp_path / "run").prepare_new()  # the tracker's store lives in the new run's folder
    with make_tracker("mlflow", tmp_path / "run") as tracker:
        fit(cfg, dataset_for(cfg), tmp_path / "run", progress=False, log=lambda s: None, tracker=tracker,
            prepare=False)
        run_id = tracker.run_id
    store = tmp_path / "run" / "mlruns"
    assert store.is_dir()
    client = MlflowClient(store.resolve().as_uri())
    data = client.get_run(run_id).data
    assert data.params["model"] == "simgcl" and data.params["ssl.weight"] == str(cfg.ssl.weight)
    assert data.params["simgcl.eps"] == str(cfg.params.eps) and data.params["ks"] == "[5, 10]"
    for key in ("loss/rec", "loss/ssl", "loss/reg", "loss/total", "valid/ndcg_at_10", "valid/recall_at_5"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [0, 1], key
    assert "test/ndcg_at_10" in data.metrics
    assert mlflow.active_run() is None


def test_tensorboard_from_cli(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    code = main(["train", "--model", "mf", "--dataset", str(data_file(False)), "--output", str(out),
                 "--set", SET, "--quiet", "--track", "tensorboard"])
    assert code == 0
    assert list((out / "tb").glob("events.out.tfevents.*"))
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"loss/rec", "loss/reg", "valid/ndcg_at_10", "test/ndcg_at_10"} <= set(tags)
    assert [e.step for e in acc.Scalars("valid/recall_at_5")] == [0, 1]


@pytest.mark.parametrize("kind, module, package", [
    ("mlflow", "mlflow", "mlflow"),
    ("tensorboard", "torch.utils.tensorboard", "tensorboard"),
])
def test_missing_extra_message(tmp_path, capsys, monkeypatch, kind, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(MissingExtra):
        make_tracker(kind, tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "mf", "--dataset", str(data_file(False)), "--output", str(tmp_path / "r"),
              "--set", SET, "--quiet", "--track", kind])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"--track {kind} needs the {package} package: pip install 'contrastrec[{package}]'" in err
