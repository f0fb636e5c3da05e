"""Issue 12: data-parallel training with torchrun (2 CPU processes, gloo) equals one process with
the same global batch and seed: metrics within 1e-9 (the per-user metric sums are reduced in
another order), loss terms within 1e-6 (per-shard means averaged, float32 sums), same selected
epoch; only rank 0 writes the run; a resumed 2-process run equals an uninterrupted one."""
import json
import subprocess
import sys

import pytest

from contrastrec.data import write_synthetic

SET = ["--set", "epochs=3", "batch_size=256", "embedding_dim=16", "threads=1", "seed=0", "eval_every=1",
       "ks=[10,20]"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "g.tsv"
    write_synthetic(path, format="triples", n_users=200, n_items=120, sequential=False, seed=0)
    return path


def _train(args, cwd):
    out = subprocess.run([sys.executable, "-m", "contrastrec", "train", *args], cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model", ["lightgcn", "mf"])
def test_two_processes_equal_one(tmp_path, data, model):
    _train(["--model", model, "--dataset", str(data), "--output", str(tmp_path / "one"), "--quiet", *SET], tmp_path)
    _train(["--model", model, "--dataset", str(data), "--output", str(tmp_path / "two"), "--quiet", "--nproc", "2",
            *SET], tmp_path)
    a, b = (json.loads((tmp_path / r / "results.json").read_text()) for r in ("one", "two"))
    assert b["processes"] == 2 and a["processes"] == 1
    assert a["best_epoch"] == b["best_epoch"]
    for phase in ("valid", "test"):
        for k in a[phase]:
            assert abs(a[phase][k] - b[phase][k]) < 1e-9, (phase, k)
    for x, y in zip(_log(tmp_path / "one"), _log(tmp_path / "two"), strict=True):
        assert abs(x["rec"] - y["rec"]) < 1e-6 and abs(x["valid"]["ndcg@20"] - y["valid"]["ndcg@20"]) < 1e-9
    assert not list((tmp_path / "two").glob("*.tmp"))


def test_two_process_resume_equals_uninterrupted(tmp_path, data):
    common = ["--model", "lightgcn", "--dataset", str(data), "--quiet", "--nproc", "2"]
    _train([*common, "--output", str(tmp_path / "full"), *SET], tmp_path)
    short = [s.replace("epochs=3", "epochs=2") for s in SET]
    _train([*common, "--output", str(tmp_path / "part"), *short], tmp_path)
    _train(["--resume", str(tmp_path / "part"), "--quiet", "--nproc", "2", "--set", "epochs=3"], tmp_path)
    a, b = (json.loads((tmp_path / r / "results.json").read_text()) for r in ("full", "part"))
    assert a["test"] == b["test"] and a["best_epoch"] == b["best_epoch"]
    assert [r["epoch"] for r in _log(tmp_path / "part")] == [0, 1, 2]
