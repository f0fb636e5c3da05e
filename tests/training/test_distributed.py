"""Issue 12: data-parallel training with torchrun (2 CPU processes, gloo) equals one process with
the same global batch and seed: metrics within 1e-9 (the per-user metric sums are reduced in
another order), loss terms within 1e-6 (float32 sums), same selected epoch; only rank 0 writes
the run; a resumed 2-process run equals an uninterrupted one. Issue 23: the sequential models' means
over positions and anchors are global means (``distributed.shard_mean``)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contrastrec.config import MODELS
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
    _assert_same_runs(tmp_path / "one", tmp_path / "two")


def _assert_same_runs(one: Path, two: Path, terms: tuple[str, ...] = ("rec",)) -> None:
    """A one-process run and a two-process run of the same configuration: same metrics (1e-9),
    same logged loss terms (1e-6), same selected epoch; the two-process run left no temporary file."""
    a, b = (json.loads((r / "results.json").read_text()) for r in (one, two))
    assert b["processes"] == 2 and a["processes"] == 1
    assert a["best_epoch"] == b["best_epoch"]
    for phase in ("valid", "test"):
        for k in a[phase]:
            assert abs(a[phase][k] - b[phase][k]) < 1e-9, (phase, k, a[phase][k], b[phase][k])
    for x, y in zip(_log(one), _log(two), strict=True):
        for t in terms:
            assert abs(x[t] - y[t]) < 1e-6, (x["epoch"], t, x[t], y[t])
        assert abs(x["valid"]["ndcg@20"] - y["valid"]["ndcg@20"]) < 1e-9
    assert not list(two.glob("*.tmp"))


@pytest.fixture(scope="module")
def seq_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp_seq") / "s.tsv"
    write_synthetic(path, format="triples", n_users=150, n_items=80, sequential=True, seed=0)
    return path


SEQ_SET = [*SET, "batch_size=64", "max_len=20", "n_layers=1", "dropout=0", "attn_dropout=0"]


@pytest.mark.parametrize("model,extra", [("sasrec", []), ("sasrec", ["loss=bce"]),
                                         ("sasrec", ["loss=sampled_softmax", "n_negatives=16"]),
                                         ("sasrec", ["train_prefixes=true", "batch_size=63"]),
                                         ("bert4rec", ["bert4rec.last_p=1", "batch_size=47"])],
                         ids=["sasrec-ce", "sasrec-bce", "sasrec-sampled_softmax", "sasrec-prefixes", "bert4rec"])
def test_two_processes_equal_one_sequential(tmp_path, seq_data, model, extra):
    """Issue 23: a sequential loss is a mean over positions, whose count differs between the shards;
    each rank's term is weighted by its share of the global count, so two processes (dropout 0)
    equal one: same metrics (1e-9), same logged loss (1e-6), same selected epoch."""
    args = ["--model", model, "--dataset", str(seq_data), "--quiet", *SEQ_SET, *extra]
    _train([*args, "--output", str(tmp_path / "one")], tmp_path)
    _train([*args, "--output", str(tmp_path / "two"), "--nproc", "2"], tmp_path)
    _assert_same_runs(tmp_path / "one", tmp_path / "two")


def test_two_process_resume_equals_uninterrupted(tmp_path, data):
    common = ["--model", "lightgcn", "--dataset", str(data), "--quiet", "--nproc", "2"]
    _train([*common, "--output", str(tmp_path / "full"), *SET], tmp_path)
    short = [s.replace("epochs=3", "epochs=2") for s in SET]
    _train([*common, "--output", str(tmp_path / "part"), *short], tmp_path)
    _train(["--resume", str(tmp_path / "part"), "--quiet", "--nproc", "2", "--set", "epochs=3"], tmp_path)
    a, b = (json.loads((tmp_path / r / "results.json").read_text()) for r in ("full", "part"))
    assert a["test"] == b["test"] and a["best_epoch"] == b["best_epoch"]
    assert [r["epoch"] for r in _log(tmp_path / "part")] == [0, 1, 2]


def test_shard_batch_splits_rows_and_names_the_shard():
    import torch

    from contrastrec.training.distributed import shard_batch

    batch = {"users": torch.arange(7), "neg": torch.arange(14).view(7, 2), "epoch": torch.tensor(3)}
    assert shard_batch(batch, 0, 1) is batch
    parts = [shard_batch(batch, r, 3) for r in range(3)]
    assert [p["shard"] for p in parts] == [(0, 7), (3, 7), (5, 7)]  # tensor_split: 3, 2, 2 rows
    assert torch.equal(torch.cat([p["users"] for p in parts]), batch["users"])
    assert torch.equal(torch.cat([p["neg"] for p in parts]), batch["neg"])
    assert all(p["epoch"] is batch["epoch"] for p in parts)


def test_mixgcf_shards_draw_the_one_process_alpha():
    """Under data parallelism each rank keeps its rows of the global batch's α: the two shards'
    synthetic-negative losses, weighted by their sizes, equal the one-process loss on the whole batch."""
    import torch

    from contrastrec.training.distributed import shard_batch
    from tests.conftest import one_batch

    model, batch = one_batch("mixgcf", epoch=2, n_negatives=4)
    b = batch["users"].shape[0]
    state = model._mix_gen.get_state()
    whole = model.loss_terms(batch)["rec"]
    parts = []
    for r in range(2):
        model._mix_gen.set_state(state)  # every rank starts the step from the same generator state
        shard = shard_batch(batch, r, 2)
        parts.append(model.loss_terms(shard)["rec"] * shard["users"].shape[0] / b)
    torch.testing.assert_close(sum(parts), whole, rtol=1e-5, atol=1e-7)
    model._mix_gen.set_state(state)
    own = model.loss_terms({k: v for k, v in shard_batch(batch, 1, 2).items() if k != "shard"})["rec"]
    assert not torch.allclose(own, parts[1] * b / shard["users"].shape[0])  # without "shard": other α


def _every_model(tmp_path, *args):
    return _torchrun("ddp_every_model.py", tmp_path, *args)


def _torchrun(script: str, tmp_path, *args) -> dict:
    """Run ``script`` (next to this file) under torchrun with 2 processes; its rank 0's report."""
    script = Path(__file__).with_name(script)
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(script), str(tmp_path), *args], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return json.loads((tmp_path / "report.json").read_text())


def test_every_model_trains_data_parallel_with_equal_replicas(tmp_path):
    """Every model (default schema) trains two epochs under torchrun with 2 processes, and after each
    epoch the two ranks hold the same model state bit for bit (parameters and buffers: clustering
    centroids, momentum targets, generators' effects), so no model keeps rank-local state."""
    report = _every_model(tmp_path)
    assert set(report) == {n for n, c in MODELS.items() if c.task != "none"}
    assert {n: r for n, r in report.items() if r != "ok"} == {}


def test_every_model_check_sees_unsynchronised_replicas(tmp_path):
    """The check above can fail: without the gradient all-reduce the replicas drift apart."""
    report = _every_model(tmp_path, "lightgcn", "sasrec", "--no-allreduce")
    assert all(r.startswith("diverged after epoch 0") for r in report.values()) and len(report) == 2


def test_lazy_adam_trains_data_parallel_with_equal_replicas(tmp_path):
    """optimizer=lazy_adam under torchrun: the row-sparse item-table gradients are gathered (their
    mean equals the dense all-reduced mean) and the replicas stay equal bit for bit; without the
    reduction they drift apart (the check can fail)."""
    models = ["mf", "sasrec", "cl4srec", "duorec"]
    report = _every_model(tmp_path / "a", *models, "--lazy-adam")
    assert report == {"average_sparse": "ok", **dict.fromkeys(models, "ok")}
    drift = _every_model(tmp_path / "b", "sasrec", "--lazy-adam", "--no-allreduce")
    assert drift["sasrec"].startswith("diverged after epoch 0")


SEQ_SSL_MODELS = ["cl4srec", "duorec", "simcse", "coserec", "iclrec"]


def test_sequential_ssl_terms_are_global_means(tmp_path):
    """Issue 23: under torchrun (2 processes, shards of 16 and 15 rows, dropout 0) each contrastive
    sequential model's ``rec`` term equals the one-process loss of the whole batch, and each SSL term
    the mean over all anchors of the shards' losses (the negatives and views stay the shard's)."""
    report = _torchrun("ddp_shard_means.py", tmp_path, *SEQ_SSL_MODELS)
    assert report == dict.fromkeys(SEQ_SSL_MODELS, "ok")
