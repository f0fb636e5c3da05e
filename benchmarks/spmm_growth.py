"""Does the graph models' per-edge cost keep growing with the data, or level off? (issue 12)

LightGCN's epoch (a fixed number of steps, batches growing with the data) grows with exponent ~1.25
in the interactions K on one thread, although its operation count is linear: sparse products ∝
non-zeros, Adam ∝ (users + items) · d. This script times the two parts on their own, one thread,
on ``contrastrec synth`` graphs (users = K/10, items = K/50, as benchmarks/scale.py) up to sizes
beyond the scale table:

* ``spmm``: one product of LightGCN's normalised adjacency (2K non-zeros) with a ``[U + I, 64]``
  float32 table (``torch.sparse.mm``, what a layer of ``LightGCNEncoder`` runs), ns per non-zero;
* ``adam``: one ``torch.optim.Adam`` step on a ``[U + I, 64]`` table, ns per element.

If the cost per non-zero (per element) stops rising once the table is far larger than the caches,
the growth above 1 is the working set leaving the caches, not a super-linear step, and the
exponent tends to 1 at larger K.

    python benchmarks/spmm_growth.py --data-dir /tmp/scale-data --sizes 0.1M 1M 3M 10M 30M \\
        --json-out runs/bench/spmm_growth.json

Sizes missing from --data-dir are generated there with ``contrastrec synth`` (parquet).
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from contrastrec.graph import normalized_adjacency

SIZES = {"0.1M": 100_000, "1M": 1_000_000, "3M": 3_000_000, "10M": 10_000_000, "30M": 30_000_000,
         "100M": 100_000_000}


def graph_file(data_dir: Path, size: str) -> Path:
    path = data_dir / f"scale_graph_{size}.parquet"
    if not path.exists():
        k = SIZES[size]
        subprocess.run([sys.executable, "-m", "contrastrec", "synth", "--users", str(k // 10), "--items",
                        str(k // 50), "--interactions", str(k), "--format", "parquet", "--output", str(path),
                        "--quiet"], check=True)
    return path


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(path: Path, dim: int, repeats: int) -> dict:
    cols = pq.read_table(path, columns=["user", "item"])
    users = np.unique(cols["user"].to_numpy(), return_inverse=True)[1]
    items = np.unique(cols["item"].to_numpy(), return_inverse=True)[1]
    del cols
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    t = time.perf_counter()
    adj = normalized_adjacency(users, items, n_users, n_items)
    build = time.perf_counter() - t
    nnz = adj.values().numel()
    n = n_users + n_items
    x = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    spmm = best_of(lambda: torch.sparse.mm(adj, x), repeats)
    p = torch.nn.Parameter(x.clone())
    p.grad = torch.randn_like(x)
    opt = torch.optim.Adam([p], lr=1e-3)
    opt.step()  # the moments are allocated outside the timing
    adam = best_of(opt.step, repeats)
    return {"interactions": len(users), "users": n_users, "items": n_items, "nnz": nnz, "dim": dim,
            "table_mb": round(n * dim * 4 / 2**20, 1), "build_seconds": round(build, 2),
            "spmm_seconds": round(spmm, 4), "spmm_ns_per_nnz": round(spmm / nnz * 1e9, 3),
            "adam_seconds": round(adam, 4), "adam_ns_per_element": round(adam / (n * dim) * 1e9, 3)}


def slope(rows: list[dict], key: str) -> float:
    xs = [math.log(r["interactions"]) for r in rows]
    ys = [math.log(r[key]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/contrastrec-scale"))
    p.add_argument("--sizes", nargs="+", default=["0.1M", "1M", "3M", "10M", "30M"], choices=list(SIZES))
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json-out", type=Path)
    a = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for size in a.sizes:
        r = {"size": size, **measure(graph_file(a.data_dir, size), a.dim, a.repeats)}
        rows.append(r)
        print(json.dumps(r), flush=True)
    print("| size | non-zeros | table MB | spmm s | ns / non-zero | adam s | ns / element |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['nnz']:,} | {r['table_mb']:.0f} | {r['spmm_seconds']:.3f} | "
              f"{r['spmm_ns_per_nnz']:.2f} | {r['adam_seconds']:.3f} | {r['adam_ns_per_element']:.2f} |")
    out = {"command": "python benchmarks/spmm_growth.py " + " ".join(sys.argv[1:]), "rows": rows}
    if len(rows) >= 2:
        out["spmm_exponent"] = round(slope(rows, "spmm_seconds"), 3)
        out["adam_exponent"] = round(slope(rows, "adam_seconds"), 3)
        print(f"exponents over {rows[0]['size']}-{rows[-1]['size']}: spmm {out['spmm_exponent']}, "
              f"adam {out['adam_exponent']}")
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
