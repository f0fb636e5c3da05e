"""Kill -9 a real training process at seeded points, resume it, and get the uninterrupted run.

Each run of ``python -m contrastrec train`` is its own process, forked from a "zygote" process
that imported torch and contrastrec once (a fresh interpreter per run would spend most of this
test's time importing; the zygote runs no torch op before forking, so the children start clean).
A child runs the ``contrastrec`` module as ``python -m`` does, after a hook (``kill_at="point:n"``)
that sends the child SIGKILL at the n-th occurrence of ``point``:

* ``step``: an optimizer step (mid-epoch, after a few batches);
* ``save``: a checkpoint write, after half of its bytes reached the temp file;
* ``eval``: an evaluation, after the model scored the users and before the metrics exist.

The points are drawn from a seeded generator; each attempt is checked to have died by SIGKILL
(status -9), then ``contrastrec train --resume DIR`` continues. The resumed run must equal an
uninterrupted one exactly: results.json test metrics and best_epoch, every epoch's loss and
validation metrics in log.jsonl, each epoch logged once, and no temp file or lock left behind.

``config._field_types`` is cached in the zygote (as in tests/test_cli_faults.py): without it each
command that reads a run spends 2-3 s in typing.get_type_hints. Results do not depend on it.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.faults

EPOCHS, BATCH, USERS, PER_USER = 5, 16, 40, 6
BATCHES_PER_EPOCH = -(-USERS * (PER_USER - 2) // BATCH)  # leave-one-out: PER_USER - 2 train items each
SETTINGS = (f"epochs={EPOCHS} patience={EPOCHS} embedding_dim=8 batch_size={BATCH} ks=[5] metric=ndcg@5 "
            "seed=5 threads=1 lr=0.02")
CHILD_TIMEOUT_S = 120

ZYGOTE = r"""
import functools, io, json, os, runpy, signal, sys

import contrastrec

import importlib

import torch

# imported once here rather than in every child; torch._dynamo comes with the first optimizer (3 s)
for name in ("torch._dynamo", "contrastrec.cli", "contrastrec.data.loading", "contrastrec.evaluation.evaluator",
             "contrastrec.serving.run", "contrastrec.training.loop", "contrastrec.models.registry"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
try:
    contrastrec.models.registry.registered()
except AttributeError:
    pass
from contrastrec import config

if hasattr(config, "_field_types"):
    config._field_types = functools.lru_cache(maxsize=None)(config._field_types)


def install(kill_at):
    point, _, n = (kill_at or "none:0").partition(":")
    n, seen = int(n), [0]

    def hit():
        seen[0] += 1
        if seen[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "step":
        step = torch.optim.Adam.step

        def killing_step(self, *a, **k):
            hit()
            return step(self, *a, **k)

        torch.optim.Adam.step = killing_step
    elif point == "save":
        save = torch.save

        def killing_save(obj, f, *a, **k):
            if seen[0] + 1 == n:  # the n-th write dies with half the file written
                buf = io.BytesIO()
                save(obj, buf, *a, **k)
                f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                f.flush()
                os.fsync(f.fileno())
            hit()
            return save(obj, f, *a, **k)

        torch.save = killing_save
    elif point == "eval":
        ev = contrastrec.evaluation.evaluator.FullRankingEvaluator
        call = ev.__call__

        def killing_call(self, score_fn, **kw):
            def scored(*a, **k):
                out = score_fn(*a, **k)
                hit()
                return out

            return call(self, scored, **kw)

        ev.__call__ = killing_call


for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:  # the child: python -m contrastrec ARGV, output to a file
        code = 1
        try:
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            install(req["kill_at"])
            sys.argv = ["contrastrec", *req["argv"]]
            runpy.run_module("contrastrec", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    print(json.dumps({"rc": rc}), flush=True)
"""


class Zygote:
    """A process that imported contrastrec and forks one child per command."""

    def __init__(self, folder: Path):
        self.folder, self.n = folder, 0
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        self.stderr = folder / "zygote.err"
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True,
                                         env={**env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)

    def run(self, *argv, kill_at: str | None = None) -> subprocess.CompletedProcess:
        self.n += 1
        log = self.folder / f"child-{self.n}.log"
        self.proc.stdin.write(json.dumps({"argv": list(map(str, argv)), "kill_at": kill_at, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], CHILD_TIMEOUT_S)
        if not ready:
            self.close()
            pytest.fail(f"contrastrec {' '.join(map(str, argv))} (kill_at={kill_at}) ran past {CHILD_TIMEOUT_S} s")
        answer = self.proc.stdout.readline()
        if not answer:
            pytest.fail(f"the zygote process died: {self.stderr.read_text()[-3000:]}")
        rc = json.loads(answer)["rc"]
        return subprocess.CompletedProcess(argv, rc, "", log.read_text() if log.exists() else "")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the zygote's own session: itself and its children
                self.proc.wait()


def write_lists(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n_items = 30
    with open(path, "w") as f:
        for u in range(1, USERS + 1):
            start = int(rng.integers(1, n_items))
            f.write(" ".join(map(str, [u] + [(start + 2 * j) % n_items + 1 for j in range(PER_USER)])) + "\n")
    return path


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote(tmp_path_factory.mktemp("children"))
    yield z
    z.close()


def train(z: Zygote, data: Path, out: Path, kill_at: str | None = None, settings: str = SETTINGS):
    return z.run("train", "--model", "mf", "--dataset", data, "--output", out, "--quiet", "--device", "cpu",
                 "--set", settings, kill_at=kill_at)


def resume(z: Zygote, out: Path, kill_at: str | None = None):
    return z.run("train", "--resume", out, "--quiet", kill_at=kill_at)


def log_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.endswith("seconds")}  # timings differ, nothing else


def leftovers(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp") or p.name == ".lock")


@pytest.fixture(scope="module")
def reference(zygote, tmp_path_factory):
    """The data file and an uninterrupted run of it."""
    root = tmp_path_factory.mktemp("kill")
    data = write_lists(root / "data.txt")
    ref = root / "reference"
    p = train(zygote, data, ref)
    assert p.returncode == 0, p.stderr
    return data, ref


def assert_same_run(run: Path, ref: Path, epochs: int = EPOCHS) -> None:
    got, want = (json.loads((r / "results.json").read_text()) for r in (run, ref))
    assert got["test"] == want["test"]  # exactly: the same floats
    assert got["best_epoch"] == want["best_epoch"] and got["valid"] == want["valid"]
    log, ref_log = log_of(run), log_of(ref)
    assert [r["epoch"] for r in log] == list(range(epochs))  # each epoch once, in order
    assert [comparable(r) for r in log] == [comparable(r) for r in ref_log]
    assert leftovers(run) == []  # no temp file of a killed write, no lock of a dead process


KILLS = 5  # in the chain below; docs/reliability.md counts them


def test_runs_killed_at_seeded_points_resume_to_the_uninterrupted_result(zygote, reference, tmp_path):
    from contrastrec.training.checkpoint import load_checkpoint

    data, ref = reference
    rng = np.random.default_rng(14)
    B = BATCHES_PER_EPOCH
    # (command, kill point): each point lies within the epochs the attempt still has to run, so
    # every attempt is killed and the chain makes progress
    plan = [
        ("train", f"step:{rng.integers(B + 2, 2 * B)}"),  # mid-epoch 1 (epoch 0's last.pt exists)
        ("resume", f"save:{rng.integers(1, 3)}"),  # half-way through its first or second checkpoint write
        ("resume", "eval:2"),  # scoring the validation users of the second epoch it runs
        ("resume", f"step:{rng.integers(2, B - 1)}"),  # a few batches into its first epoch
        ("resume", "test"),  # scoring the test users, every epoch checkpointed, no results.json yet
    ]
    run = tmp_path / "run"
    kills = []
    for i, (command, kill_at) in enumerate(plan):
        if kill_at == "test":  # evaluations left: one per remaining epoch, the final valid, then the test
            kill_at = f"eval:{EPOCHS - load_checkpoint(run / 'last.pt')['state']['epoch'] + 2}"
        p = train(zygote, data, run, kill_at) if command == "train" else resume(zygote, run, kill_at)
        assert p.returncode == -signal.SIGKILL, f"attempt {i} ({kill_at}) was not killed: {p.returncode} {p.stderr[-2000:]}"
        kills.append(kill_at)
    assert not (run / "results.json").exists()
    p = resume(zygote, run)
    assert p.returncode == 0, p.stderr[-2000:]
    assert_same_run(run, ref)
    assert len(kills) == KILLS, kills


def test_a_killed_write_of_the_final_best_pt_is_redone_on_resume(zygote, reference, tmp_path):
    """Killed half-way through writing best.pt of the selected epoch: last.pt still points before
    that epoch, so the resumed run redoes it, writes best.pt again and removes the temp file."""
    data, ref = reference
    best_epoch = json.loads((ref / "results.json").read_text())["best_epoch"]
    writes, n, best = 0, None, -1.0  # each epoch writes best.pt when validation improves, then last.pt
    for r in log_of(ref):
        if r["valid"]["ndcg@5"] > best:
            best, writes = r["valid"]["ndcg@5"], writes + 1
            n = writes if r["epoch"] == best_epoch else n
        writes += 1
    run = tmp_path / "run"
    assert n is not None and train(zygote, data, run, f"save:{n}").returncode == -signal.SIGKILL
    assert [p.name for p in run.iterdir() if p.name.startswith(".best.pt.pid")]  # the killed write's temp file
    assert resume(zygote, run).returncode == 0
    assert_same_run(run, ref)


def test_a_run_killed_before_its_first_checkpoint_says_so_in_one_line(zygote, reference, tmp_path):
    """Killed in epoch 0, before last.pt exists: resume has nothing to resume from and says so."""
    data, _ = reference
    run = tmp_path / "run"
    assert train(zygote, data, run, "step:3").returncode == -signal.SIGKILL
    p = resume(zygote, run)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode != 0 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "last.pt" in lines[0] and lines[0].startswith("error: ")


def test_an_early_stopped_run_killed_in_its_test_evaluation_stays_stopped(zygote, reference, tmp_path):
    data, _ = reference
    settings = SETTINGS.replace(f"epochs={EPOCHS} patience={EPOCHS}", "epochs=40 patience=0").replace(
        "lr=0.02", "lr=0.1")
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert train(zygote, data, ref, settings=settings).returncode == 0
    want = json.loads((ref / "results.json").read_text())
    assert want["epochs"] < 40  # it did stop early
    # evaluations: one validation per epoch run, the final validation, then the test: kill in the test
    p = train(zygote, data, run, f"eval:{want['epochs'] + 2}", settings=settings)
    assert p.returncode == -signal.SIGKILL and not (run / "results.json").exists()
    assert resume(zygote, run).returncode == 0
    got = json.loads((run / "results.json").read_text())
    assert (got["best_epoch"], got["epochs"], got["test"]) == (want["best_epoch"], want["epochs"], want["test"])
