"""Seconds (and the peak RSS of the process) of one sampled validation (``eval_users``) of an untrained model on a large data set
(issue 12): loading, building the evaluator, and the evaluation itself, 1 thread.

    python benchmarks/sampled_eval_speed.py --data /tmp/scale-data/scale_seq_10M.txt --model sasrec \\
        --eval-users 10000 [--json-out runs/bench/sampled_eval_speed.json]

A sequential model's scorer encodes the histories of the users it is told it will score; before
that change (commit 2b1a9a2's parent) it encoded every user's history, 1M at 10M interactions.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from contrastrec.config import build_config
from contrastrec.data.for_config import dataset_for
from contrastrec.training.loop import build_model, evaluate_model, git_commit, make_evaluator


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--model", default="sasrec")
    p.add_argument("--eval-users", type=int, default=10_000)
    p.add_argument("--json-out", type=Path)
    a = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    cfg = build_config(a.model, None, {"dataset": a.data, "eval_users": a.eval_users, "threads": 1,
                                         "embedding_dim": 64, "seed": 0})
    ds = dataset_for(cfg)
    t1 = time.perf_counter()
    torch.manual_seed(0)
    model = build_model(cfg, ds)
    ev = make_evaluator(ds, "valid", cfg)
    t2 = time.perf_counter()
    metrics = evaluate_model(model, ds, "valid", ev, cfg.max_len)
    t3 = time.perf_counter()
    out = {"command": "python benchmarks/sampled_eval_speed.py " + " ".join(sys.argv[1:]), "commit": git_commit(),
           "model": a.model, "users": ds.n_users, "items": ds.n_items, "eval_users": ev.n_users,
           "load_seconds": round(t1 - t0, 2), "build_seconds": round(t2 - t1, 2),
           "eval_seconds": round(t3 - t2, 2), "ndcg@20": metrics.get("ndcg@20"),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(json.dumps(out))
    if a.json_out:
        rows = json.loads(a.json_out.read_text()) if a.json_out.exists() else []
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(rows + [out], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
