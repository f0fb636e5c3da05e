"""Sequential-model step costs, side by side in one run (issue: CL4SRec-style epoch <= 3x SASRec;
augmentation < 5% of a step; ICLRec k-means < 10% of an epoch).

For each model, times ``--steps`` training steps on the same data (length-bucketed batches of
256) and extrapolates to a full epoch (steps x batches per epoch); times the augmentation of one
batch of 256 alone; times ICLRec's E-step (encode all sequences + k-means); and one full
validation evaluation.

    python benchmarks/seq_speed.py --dataset ../shared/datasets/beauty --json-out runs/bench/seq_speed.json
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


def time_steps(model, batches, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    model.phase = "joint"
    it = batches.epoch(0, torch.device("cpu"))
    ts = []
    for i, batch in zip(range(steps + 2), it):
        t0 = time.perf_counter()
        loss = sum(model.loss_terms(batch).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ts.append(time.perf_counter() - t0)
    return statistics.mean(ts[2:])  # first steps warm up


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="../shared/datasets/beauty")
    ap.add_argument("--models", nargs="*", default=["sasrec", "cl4srec", "coserec", "duorec", "iclrec"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json-out")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    ds = load_dataset(a.dataset)
    common = {"device": "cpu", "seed": 0, "batch_size": 256}
    res = {"dataset": ds.name, "commit": git_commit(), "steps_timed": a.steps,
           "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads", "step_s": {}, "epoch_s_estimate": {}}
    for name in a.models:
        cfg = build_config(name, None, common)
        model = build_model(cfg, ds)
        batches = make_batches(model, cfg, ds)
        res["batches_per_epoch"] = len(batches)
        if name == "iclrec":
            t0 = time.perf_counter()
            model.on_epoch_start(0)
            res["iclrec_estep_s"] = time.perf_counter() - t0
        else:
            model.on_epoch_start(0)
        step = time_steps(model, batches, a.steps)
        res["step_s"][name] = step
        res["epoch_s_estimate"][name] = step * len(batches)
        if hasattr(model, "augment") and name in ("cl4srec", "coserec"):
            batch = next(iter(batches.epoch(1, torch.device("cpu"))))
            seqs = torch.nn.functional.pad(batch["seq"], (cfg.max_len - batch["seq"].shape[1], 0))
            ts = []
            for _ in range(20):
                t0 = time.perf_counter()
                model.views(seqs)
                ts.append(time.perf_counter() - t0)
            res[f"{name}_augment_s"] = statistics.median(ts)
            res[f"{name}_augment_share_of_step"] = statistics.median(ts) / step
        print(f"{name:8s} step {step * 1000:.0f} ms  epoch ~{step * len(batches):.1f} s", file=sys.stderr)
        if name == "sasrec":
            ev = FullRankingEvaluator(ds, "valid", ks=[5, 10, 20])
            t0 = time.perf_counter()
            evaluate_model(model, ds, "valid", ev, cfg.max_len)
            res["eval_s"] = time.perf_counter() - t0
    e = res["epoch_s_estimate"]
    for name in e:
        if name != "sasrec" and "sasrec" in e:
            res[f"{name}_over_sasrec"] = e[name] / e["sasrec"]
    if "iclrec_estep_s" in res and "iclrec" in e:
        res["iclrec_estep_share_of_epoch"] = res["iclrec_estep_s"] / e["iclrec"]
    print(json.dumps(res, indent=2))
    if a.json_out:
        os.makedirs(os.path.dirname(a.json_out) or ".", exist_ok=True)
        with open(a.json_out, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
