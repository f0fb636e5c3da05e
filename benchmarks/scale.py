"""Cost growth with data size (issue 12): one training epoch, one sampled-user evaluation and the
peak RSS of a whole run, at 0.1M, 1M, 3M and 10M interactions (and 30M on request), for LightGCN,
SimGCL, XSimGCL, SASRec and CL4SRec (and MF); the log-log slope of epoch time against interactions is
the growth exponent.

    python benchmarks/scale.py --data-dir /tmp/synth/scale --out docs/runs/bench/scale.json \\
        --plot docs/img/scale.png [--sizes 0.1M 1M 3M 10M] [--models lightgcn simgcl xsimgcl sasrec cl4srec]

Data: ``contrastrec synth`` (users = K/10, items = K/50; graph models read the parquet triples,
SASRec and CL4SRec the sequences), generated once into --data-dir. Each (model, size) runs
``contrastrec train`` in its own process (1 thread, 1 epoch, ``eval_users=10000``; the batch of each
model is in SETTINGS: LightGCN 100 steps per epoch with ``lr_scale=sqrt``, and as ``lightgcn-b8192``
with a fixed batch; SimGCL / XSimGCL a fixed batch of 8192, and as ``*-k100`` with 100 steps per epoch and
``ssl.max_anchors=4096``; MF 4096 with ``optimizer=lazy_adam``, and as ``mf-adam`` with dense Adam; SASRec
and CL4SRec 256 with ``loss=sampled_softmax``, ``n_negatives=1000`` and ``optimizer=lazy_adam``, and as
``*-adam`` with dense Adam); its results.json gives the epoch and evaluation seconds and the peak RSS of
the whole run (``ru_maxrss`` of the training process: loading, training, evaluation).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = {"0.1M": 100_000, "1M": 1_000_000, "3M": 3_000_000, "10M": 10_000_000, "30M": 30_000_000}
SETTINGS = {
    # LightGCN: 100 steps per epoch (batch = interactions / 100, lr scaled by sqrt(B / 2048)); every step
    # propagates the whole graph once, so with a fixed batch the epoch would cost steps x graph ~ K^2
    "lightgcn": ["batch_size={k100}", "lr_scale=sqrt", "n_layers=2"],
    "lightgcn-b8192": ["batch_size=8192", "lr_scale=sqrt", "n_layers=2"],
    # SimGCL / XSimGCL: in-batch InfoNCE is quadratic in the batch, so the batch stays fixed
    "simgcl": ["batch_size=8192", "lr_scale=sqrt", "n_layers=2", "ssl.warmup_epochs=0"],
    "xsimgcl": ["batch_size=8192", "lr_scale=sqrt", "n_layers=2"],
    # ... or 100 steps per epoch like LightGCN, with the contrastive term on a seeded sample of at most
    # 4096 of the batch's unique users and items (ssl.max_anchors): the per-step InfoNCE stays bounded
    "simgcl-k100": ["batch_size={k100}", "lr_scale=sqrt", "n_layers=2", "ssl.warmup_epochs=0", "ssl.max_anchors=4096"],
    "xsimgcl-k100": ["batch_size={k100}", "lr_scale=sqrt", "n_layers=2", "ssl.max_anchors=4096"],
    # MF (BPR): a fixed batch; its step reads a few thousand rows, so with lazy_adam the epoch is linear in the data,
    # while dense Adam (mf-adam) reads and writes both whole tables every step: steps x (users + items)
    "mf": ["batch_size=4096", "optimizer=lazy_adam"],
    "mf-adam": ["batch_size=4096"],
    # SASRec / CL4SRec: a fixed batch, so steps grow with the data; optimizer=lazy_adam moves only the item rows a
    # step looks up (the *-adam rows: dense Adam reads and writes the whole item table every step, steps x items)
    "sasrec": ["batch_size=256", "loss=sampled_softmax", "n_negatives=1000", "max_len=50", "optimizer=lazy_adam"],
    "sasrec-adam": ["batch_size=256", "loss=sampled_softmax", "n_negatives=1000", "max_len=50"],
    # CL4SRec: SASRec's setting plus its two augmented views and the in-batch InfoNCE between them
    "cl4srec": ["batch_size=256", "loss=sampled_softmax", "n_negatives=1000", "max_len=50", "optimizer=lazy_adam"],
    "cl4srec-adam": ["batch_size=256", "loss=sampled_softmax", "n_negatives=1000", "max_len=50"],
}
SEQUENTIAL = ("sasrec", "cl4srec")


def data_file(data_dir: Path, size: str, sequential: bool) -> Path:
    k = SIZES[size]
    kind = "seq" if sequential else "graph"
    path = data_dir / f"scale_{kind}_{size}.{'txt' if sequential else 'parquet'}"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "contrastrec", "synth", "--users", str(k // 10), "--items", str(k // 50),
               "--interactions", str(k), "--format", "lists" if sequential else "parquet", "--output", str(path),
               "--quiet"]
        if sequential:
            cmd.insert(-3, "--sequential")
        subprocess.run(cmd, check=True)
    return path


def run_one(model: str, size: str, data_dir: Path, eval_users: int, timeout: int) -> dict:
    data = data_file(data_dir, size, model.split("-")[0] in SEQUENTIAL)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        settings = [x.format(k100=SIZES[size] // 100) for x in SETTINGS[model]]
        cmd = [sys.executable, "-m", "contrastrec", "train", "--model", model.split("-")[0], "--dataset", str(data),
               "--output", str(out), "--quiet", "--set", "epochs=1", "threads=1", "embedding_dim=64",
               f"eval_users={eval_users}", "seed=0", *settings]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
        if proc.returncode != 0:
            return {"model": model, "size": size, "error": proc.stderr.strip().splitlines()[-1:]}
        res = json.loads((out / "results.json").read_text())
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {"model": model, "size": size, "interactions": SIZES[size], "batch_size": res["config"]["batch_size"],
            "epoch_seconds": log[0]["seconds"],
            "valid_eval_seconds": log[0].get("eval_seconds"), "test_eval_seconds": res["eval_seconds"],
            "peak_rss_mb": res["peak_memory_mb"],  # ru_maxrss of the training process (load, train, evaluate)
            "commit": res["commit"], "eval_users": eval_users}


def exponent(rows: list[dict], model: str) -> float | None:
    pts = [(math.log(r["interactions"]), math.log(r["epoch_seconds"])) for r in rows
           if r["model"] == model and "epoch_seconds" in r]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)


def table(rows: list[dict], models: list[str]) -> str:
    lines = ["| model | interactions | batch | epoch s | eval s (sampled) | peak RSS MB |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['size']} | error: {r['error']} | | |")
            continue
        lines.append(f"| {r['model']} | {r['size']} | {r.get('batch_size', '')} | {r['epoch_seconds']:.1f} | "
                     f"{r['test_eval_seconds']:.1f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "| model | growth exponent of epoch time (log-log slope) |", "|---|---|"]
    for m in models:
        e = exponent(rows, m)
        lines.append(f"| {m} | {'-' if e is None else f'{e:.2f}'} |")
    return "\n".join(lines)


def plot(rows: list[dict], models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.get_cmap("tab20").colors
    for n, m in enumerate(models):
        pts = sorted((r["interactions"], r["epoch_seconds"]) for r in rows if r["model"] == m and "epoch_seconds" in r)
        if pts:
            e = exponent(rows, m)
            # dashed: the settings that keep a K^2 term (dense Adam at a fixed batch, or a fixed graph batch)
            dashed = m.endswith("-adam") or m.endswith("-b8192") or m in ("simgcl", "xsimgcl")
            ax.plot(*zip(*pts), "o--" if dashed else "o-", color=colors[n % len(colors)],
                    label=f"{m} (slope {e:.2f})" if e is not None else m)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("interactions")
    ax.set_ylabel("seconds per epoch (1 thread)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/contrastrec-scale"))
    p.add_argument("--sizes", nargs="+", default=["0.1M", "1M", "3M", "10M"], choices=list(SIZES))
    p.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--eval-users", type=int, default=10_000)
    p.add_argument("--timeout", type=int, default=3600, help="seconds per run")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plot", type=Path)
    args = p.parse_args()
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = old.get("rows", [])
    commands = [*old.get("commands", []), "python benchmarks/scale.py " + " ".join(sys.argv[1:])]
    done = {(r["model"], r["size"]) for r in rows if "error" not in r}
    for model in args.models:
        for size in args.sizes:
            if (model, size) in done:
                continue
            r = run_one(model, size, args.data_dir, args.eval_users, args.timeout)
            rows = [x for x in rows if (x["model"], x["size"]) != (model, size)] + [r]
            print(json.dumps(r), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"commands": commands, "rows": rows}, indent=1))
    print(table(rows, args.models))
    if args.plot:
        plot(rows, args.models, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
