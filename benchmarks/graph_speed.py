"""Graph-model epoch costs, side by side in one run.

Measures, on one data set treated as graph CF (default: Beauty, leave-one-out; batch 2048,
embedding 64, 2 layers, as in the issue's reference numbers):
  * P  = one full-graph LightGCN propagation, forward + backward (the unit of cost);
  * the epoch time of LightGCN, SGL, SimGCL, XSimGCL (and optionally others);
  * one full validation evaluation.
and reports the ratios the project promises:
  LightGCN epoch <= 1.5 x (batches x P);  SimGCL epoch <= 1.3 x (batches x 3P);
  XSimGCL epoch <= 0.6 x SimGCL epoch.

    python benchmarks/graph_speed.py --dataset ../shared/datasets/beauty --json-out bench.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from contrastrec.config import build_config
from contrastrec.data import load_dataset
from contrastrec.evaluation import FullRankingEvaluator
from contrastrec.training.loop import build_model, evaluate_model, git_commit, make_batches


def time_epoch(model, batches, epoch: int = 0) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    model.phase = "joint"
    t0 = time.perf_counter()
    model.on_epoch_start(epoch)
    for batch in batches.epoch(epoch, torch.device("cpu")):
        loss = sum(model.loss_terms(batch).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def time_propagation(model, reps: int = 10) -> float:
    enc = model.encoder
    ts = []
    for _ in range(reps + 2):
        t0 = time.perf_counter()
        layers = enc.propagate()
        out = torch.stack(layers, 0).mean(0)
        out.sum().backward()
        ts.append(time.perf_counter() - t0)
        enc.zero_grad(set_to_none=True)
    return statistics.median(ts[2:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="../shared/datasets/beauty")
    ap.add_argument("--models", nargs="*", default=["lightgcn", "sgl", "simgcl", "xsimgcl"])
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per model (median)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--full-propagation", action="store_true",
                    help="turn off the row-restricted last layer (GraphModel.ROW_RESTRICTED), for comparison")
    ap.add_argument("--simgcl-separate", action="store_true",
                    help="also time SimGCL with one differentiated propagation per view (the authors' way; "
                         "reported as simgcl_separate)")
    ap.add_argument("--json-out")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    ds = load_dataset(args.dataset, sequential=False)
    common = {"batch_size": args.batch_size, "embedding_dim": args.dim, "n_layers": args.layers, "device": "cpu",
              "seed": 0, "ks": [20]}
    out = {"dataset": ds.name, "train_interactions": len(ds.train), "commit": git_commit(),
           "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads", "epochs": {},
           "row_restricted": not args.full_propagation}
    base = build_model(build_config("lightgcn", None, common), ds)
    batches = make_batches(base, build_config("lightgcn", None, common), ds)
    out["batches_per_epoch"] = len(batches)
    out["propagation_fwd_bwd_s"] = time_propagation(base)
    runs = [(name, name) for name in args.models]
    if args.simgcl_separate:
        runs.append(("simgcl_separate", "simgcl"))
    for name, model_name in runs:
        cfg = build_config(model_name, None, common)
        model = build_model(cfg, ds)
        if args.full_propagation:
            model.ROW_RESTRICTED = False
        if name == "simgcl_separate":
            model.SHARED_PROPAGATION = False
        ts = [time_epoch(model, make_batches(model, cfg, ds), e) for e in range(args.epochs)]
        out["epochs"][name] = statistics.median(ts)
        print(f"{name:10s} epoch {out['epochs'][name]:.2f}s", file=sys.stderr)
    ev = FullRankingEvaluator(ds, "valid", ks=[20])
    t0 = time.perf_counter()
    evaluate_model(base, ds, "valid", ev, 50)
    out["eval_s"] = time.perf_counter() - t0
    unit = out["batches_per_epoch"] * out["propagation_fwd_bwd_s"]
    ep = out["epochs"]
    if "lightgcn" in ep:
        out["lightgcn_ratio"] = ep["lightgcn"] / unit
    if "simgcl" in ep:
        out["simgcl_ratio"] = ep["simgcl"] / (3 * unit)
    if "simgcl" in ep and "xsimgcl" in ep:
        out["xsimgcl_over_simgcl"] = ep["xsimgcl"] / ep["simgcl"]
    if "simgcl_separate" in ep:
        out["simgcl_separate_ratio"] = ep["simgcl_separate"] / (3 * unit)
        if "xsimgcl" in ep:
            out["xsimgcl_over_simgcl_separate"] = ep["xsimgcl"] / ep["simgcl_separate"]
    print(json.dumps(out, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
