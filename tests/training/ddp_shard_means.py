"""Run by tests/training/test_distributed.py under ``torchrun --nproc-per-node 2`` (not collected by
pytest): the loss terms of the sequential models under data parallelism are global means.

For each model (dropout 0), both ranks build the same model and the same first batch of 31 rows, and
each computes its loss terms on its shard (16 and 15 rows). The data-parallel value of a term is the
ranks' mean (what the training loop logs, and what the averaged gradients differentiate). It must equal

* ``rec``: the one-process loss of the whole batch (a mean over all target positions);
* each SSL term: the mean over all anchors (rows) of the per-shard losses, i.e. ``sum_s n_s L_s / sum_s n_s``
  with ``L_s`` the one-process loss of shard ``s`` alone (the negatives and the views are the shard's).

Usage: ``torchrun --standalone --nproc-per-node 2 tests/training/ddp_shard_means.py OUT_DIR MODEL ...``;
rank 0 writes ``OUT_DIR/report.json``: ``{model: "ok" | "term: got X, expected Y" | "error: ..."}``.
"""
from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.conftest

from contrastrec.training import distributed as D  # noqa: E402
from tests.conftest import one_batch  # noqa: E402

ROWS = 31  # odd: the shards differ in size


def _fresh(name: str):
    """The model (every generator at its epoch-start state) and the first batch, the same on every rank."""
    return one_batch(name, batch_size=ROWS, dropout=0.0, attn_dropout=0.0)


def _one_process(name: str, shard: int | None) -> dict[str, torch.Tensor]:
    """One-process terms of the whole batch (``shard=None``) or of one shard of it alone."""
    saved, D._CURRENT = D._CURRENT, D.Dist()
    try:
        model, batch = _fresh(name)
        with torch.no_grad():
            return model.loss_terms(batch if shard is None else D.shard_batch(batch, shard, 2))
    finally:
        D._CURRENT = saved


def check(name: str) -> str:
    model, batch = _fresh(name)
    with torch.no_grad():
        mine = model.loss_terms(D.shard_batch(batch, D.current().rank, D.current().world))
    whole = _one_process(name, None)
    parts = [_one_process(name, s) for s in (0, 1)]
    rows = [D.shard_batch(batch, s, 2)["users"].shape[0] for s in (0, 1)]
    for k, v in mine.items():
        got = float(D.current().sum(v.detach().double().reshape(1))) / D.current().world
        want = float(whole[k]) if k == "rec" else sum(n * float(p[k]) for n, p in zip(rows, parts)) / sum(rows)
        if abs(got - want) > 2e-6 * max(1.0, abs(want)):
            return f"{k}: got {got:.7g}, expected {want:.7g}"
    return "ok"


def main(out: Path, models: list[str]) -> int:
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
    D.init_from_env("cpu")
    torch.set_num_threads(1)
    report: dict[str, str] = {}
    for name in models:
        try:
            report[name] = check(name)
        except Exception as e:  # noqa: BLE001 - recorded, the test fails on it
            report[name] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        dist.barrier()
    if dist.get_rank() == 0:
        (out / "report.json").write_text(json.dumps(report, indent=1))
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
