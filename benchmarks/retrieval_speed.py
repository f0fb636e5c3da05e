"""Approximate vs exact top-k retrieval (FAISS): recall@k, build time, query latency, throughput.

For each catalog and index kind:

* ``recall@k``: mean ``|approx ∩ exact| / k`` over the queries, exact = ``IndexFlatIP``;
* ``build_s``: index construction (training included);
* ``p50_ms`` / ``p99_ms``: latency of single-query searches (one query per call, one thread);
* ``batch_qps``: queries per second when all queries are searched in one call (``--threads``).

Catalogs:

* ``--run DIR``: the run's item embeddings, queried with its users' vectors (a run trained on
  the largest shared data set is the realistic case); otherwise a clustered random catalog
  (``--items`` x ``--dim``, default 50,000 x 64);
* ``synthetic-1M``: a clustered catalog of ``--large-items`` (default 1,000,000) x ``--dim``
  items (skip with ``--large-items 0``). HNSW (M=32) takes minutes to build at 1M on 2 cores, so
  by default only IVF (k-means on a 100k sample, ``nlist`` 2564 = the most lists that sample
  trains well; ``--nlist 4096`` for more) runs there (``--large-kinds ivf hnsw`` adds HNSW).

    python benchmarks/retrieval_speed.py --json-out retrieval_speed.json
    python benchmarks/retrieval_speed.py --run runs/yelp-lightgcn --large-items 0

Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import faiss
import numpy as np

from contrastrec.retrieval import build_index, recall_at_k, search


def clustered(n: int, d: int, n_centers: int, seed: int, spread: float = 1.0, chunk: int = 200_000) -> np.ndarray:
    """Points around ``n_centers`` Gaussian centers (like item clusters), float32, made in chunks."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(12345).normal(size=(n_centers, d)).astype(np.float32)
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        out[s:s + m] = centers[rng.integers(0, n_centers, m)] + spread * rng.standard_normal((m, d), dtype=np.float32)
    return out


def timed_queries(index, queries: np.ndarray, k: int, n_single: int, threads: int) -> dict[str, float]:
    """Single queries on one thread (as a server answering requests in parallel would), then one
    batched call on ``threads`` threads."""
    lat = []
    faiss.omp_set_num_threads(1)
    for q in queries[:n_single]:
        t = time.perf_counter()
        index.search(q[None, :], k)
        lat.append((time.perf_counter() - t) * 1000)
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    index.search(queries, k)
    batch = time.perf_counter() - t
    return {"p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3),
            "batch_qps": round(len(queries) / batch, 1)}


def bench_catalog(name: str, items: np.ndarray, queries: np.ndarray, kinds: list[str], args) -> list[dict]:
    rows = []
    t = time.perf_counter()
    exact = build_index(items, "exact")
    build = time.perf_counter() - t
    _, truth = search(exact, queries, args.k)
    rows.append({"catalog": name, "n_items": len(items), "dim": items.shape[1], "kind": "exact",
                 "build_s": round(build, 2), f"recall@{args.k}": 1.0,
                 **timed_queries(exact, queries, args.k, args.single, args.threads)})
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    for kind in kinds:
        t = time.perf_counter()
        index = build_index(items, kind, m=args.m, ef_construction=args.ef_construction,
                            nlist=args.nlist or None, train_sample=args.train_sample)
        build = time.perf_counter() - t
        settings = [("efSearch", v) for v in args.ef_search] if kind == "hnsw" else [("nprobe", v) for v in args.nprobe]
        for key, value in settings:
            if kind == "hnsw":
                index.hnsw.efSearch = value
                extra = {"M": args.m, "efConstruction": args.ef_construction}
            else:
                index.nprobe = value
                extra = {"nlist": index.nlist}
            _, ids = index.search(queries, args.k)
            rows.append({"catalog": name, "n_items": len(items), "dim": items.shape[1], "kind": kind, **extra,
                         key: value, "build_s": round(build, 2),
                         f"recall@{args.k}": round(recall_at_k(ids, truth), 4),
                         **timed_queries(index, queries, args.k, args.single, args.threads)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        del index
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="run directory: benchmark on its item embeddings and user vectors")
    p.add_argument("--dataset", help="override the run's data path")
    p.add_argument("--items", type=int, default=50_000, help="clustered catalog size without --run")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--large-items", type=int, default=1_000_000, help="synthetic large catalog (0: skip)")
    p.add_argument("--kinds", nargs="+", default=["hnsw", "ivf"], choices=["hnsw", "ivf"])
    p.add_argument("--large-kinds", nargs="+", default=["ivf"], choices=["hnsw", "ivf"])
    p.add_argument("--queries", type=int, default=1000, help="queries for recall and batched throughput")
    p.add_argument("--single", type=int, default=200, help="single-query searches timed for p50/p99")
    p.add_argument("-k", "--k", type=int, default=20)
    p.add_argument("--m", type=int, default=32, help="HNSW M")
    p.add_argument("--ef-construction", type=int, default=80)
    p.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--nlist", type=int, default=0, help="IVF lists (default: ~4 sqrt(n), at most 4096)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 64])
    p.add_argument("--train-sample", type=int, default=100_000, help="IVF k-means sample")
    p.add_argument("--spread", type=float, default=1.0,
                   help="within-cluster noise of the random catalogs (centers ~ N(0, 1)); larger is harder")
    p.add_argument("--threads", type=int, default=2, help="threads of the batched searches and builds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", help="also write the JSON here")
    args = p.parse_args()
    faiss.omp_set_num_threads(args.threads)

    rows = []
    if args.run:
        from contrastrec.serving.run import load_run

        run = load_run(args.run, args.dataset)
        users, items = run.embeddings("test")
        pick = np.random.default_rng(args.seed).choice(len(users), min(args.queries, len(users)), replace=False)
        name = f"run {run.name} ({run.cfg.model} on {run.dataset.name})"
        rows += bench_catalog(name, items, np.ascontiguousarray(users[pick]), args.kinds, args)
    else:
        n_centers = max(10, args.items // 1000)
        items = clustered(args.items, args.dim, n_centers, args.seed, args.spread)
        queries = clustered(args.queries, args.dim, n_centers, args.seed + 1, args.spread)
        rows += bench_catalog(f"clustered {args.items}", items, queries, args.kinds, args)
    if args.large_items > 0:
        t = time.perf_counter()
        items = clustered(args.large_items, args.dim, 1000, args.seed, args.spread)
        queries = clustered(args.queries, args.dim, 1000, args.seed + 1, args.spread)
        print(f"generated {args.large_items} x {args.dim} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        rows += bench_catalog(f"synthetic-{args.large_items // 1000}k", items, queries, args.large_kinds, args)
    out = {"benchmark": "retrieval_speed", "k": args.k, "queries": args.queries, "single_queries": args.single,
           "threads": args.threads, "faiss": faiss.__version__,
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "results": rows}
    line = json.dumps(out)
    print(line)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
