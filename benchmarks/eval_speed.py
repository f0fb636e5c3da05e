"""Time full-ranking evaluation against the bare score-matrix product + top-k.

(a) bare:     for each chunk of users: ``user_emb[u] @ item_emb.T`` then ``torch.topk`` (no mask)
(b) evaluate: ``contrastrec.evaluation.evaluate`` with history exclusion and all metrics

Both run on the same users and the same random embeddings. Target: ratio (b)/(a) <= 2.0.

    python benchmarks/eval_speed.py                      # 42,712 users x 26,822 items x 64
    python benchmarks/eval_speed.py --dataset ratings.csv --json-out eval_speed.json

``--dataset PATH``: an interactions file, one ``user item [...]`` per line (separated by
whitespace, ``,``, ``;`` or ``::``; a first line like ``user,item,...`` and ``#`` lines are
skipped). Its user/item counts are used, each user's last interaction is the target and the
others are the excluded history; the embeddings stay random.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time

import numpy as np
import scipy.sparse as sp
import torch

from contrastrec.evaluation import METRICS, evaluate
from contrastrec.evaluation.evaluator import resolve_chunk_size


def random_split(n_users, n_items, train_per_user, targets_per_user, seed):
    """~train_per_user history items and ~targets_per_user targets per user (Poisson, >= 1 target)."""
    rng = np.random.default_rng(seed)

    def draw(mean, min_count):
        counts = np.maximum(rng.poisson(mean, size=n_users), min_count)
        rows = np.repeat(np.arange(n_users, dtype=np.int64), counts)
        cols = rng.integers(0, n_items, size=rows.shape[0], dtype=np.int64)
        m = sp.csr_matrix((np.ones(rows.shape[0], np.float32), (rows, cols)), shape=(n_users, n_items))
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    return draw(targets_per_user, 1), draw(train_per_user, 0)


def file_split(path):
    """Users/items from an interactions file; last interaction per user = target, rest = history."""
    users, items = [], []
    umap, imap = {}, {}
    with open(path) as f:
        for n, line in enumerate(f):
            if line.startswith("#"):
                continue
            parts = [p for p in re.split(r"[,\t ;:]+", line.strip()) if p]
            if len(parts) < 2:
                continue
            if n == 0 and "user" in parts[0].lower() and "item" in parts[1].lower():
                continue  # header
            users.append(umap.setdefault(parts[0], len(umap)))
            items.append(imap.setdefault(parts[1], len(imap)))
    u = np.asarray(users, np.int64)
    i = np.asarray(items, np.int64)
    order = np.argsort(u, kind="stable")
    u, i = u[order], i[order]
    last = np.ones(u.shape[0], bool)
    last[:-1] = u[1:] != u[:-1]
    shape = (len(umap), len(imap))

    def csr(mask):
        m = sp.csr_matrix((np.ones(mask.sum(), np.float32), (u[mask], i[mask])), shape=shape)
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    return csr(last), csr(~last)


def time_bare(U, I, users, k, chunk_size):
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for s in range(0, users.shape[0], chunk_size):
            u = users[s : s + chunk_size]
            torch.topk(U[u] @ I.T, k, dim=1)
    return time.perf_counter() - t0, time.process_time() - c0


def time_eval(U, I, users, targets, exclude, ks, chunk_size):
    def score_fn(u):
        return U[u] @ I.T

    t0, c0 = time.perf_counter(), time.process_time()
    out = evaluate(score_fn, users, targets, exclude, ks=ks, metrics=METRICS, chunk_size=chunk_size)
    return (time.perf_counter() - t0, time.process_time() - c0), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=42_712)
    ap.add_argument("--items", type=int, default=26_822)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--train-per-user", type=float, default=5.0)
    ap.add_argument("--targets-per-user", type=float, default=2.0)
    ap.add_argument("--ks", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--chunk-size", type=int, default=None,
                    help="users per chunk for both (a) and (b); default: the evaluator's automatic choice")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each; the minimum is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", default=None, help="interactions file (user item per line) for real sizes")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)

    if args.dataset:
        targets, exclude = file_split(args.dataset)
        n_users, n_items = targets.shape
    else:
        n_users, n_items = args.users, args.items
        targets, exclude = random_split(n_users, n_items, args.train_per_user, args.targets_per_user, args.seed)
    g = torch.Generator().manual_seed(args.seed)
    U = torch.randn(n_users, args.dim, generator=g)
    I = torch.randn(n_items, args.dim, generator=g)
    users = np.flatnonzero(np.diff(targets.indptr) > 0).astype(np.int64)  # same users for (a) and (b)
    users_t = torch.from_numpy(users)
    K = min(max(args.ks), n_items)
    args.chunk_size = resolve_chunk_size(args.chunk_size, n_items)

    # warm-up (allocator, thread pool)
    time_bare(U, I, users_t[: args.chunk_size * 2], K, args.chunk_size)
    time_eval(U, I, users[: args.chunk_size], targets, exclude, args.ks, args.chunk_size)

    bare, ev, out = [], [], None
    for _ in range(args.repeat):
        bare.append(time_bare(U, I, users_t, K, args.chunk_size))
        t, out = time_eval(U, I, users, targets, exclude, args.ks, args.chunk_size)
        ev.append(t)
    t_bare, t_eval = min(t for t, _ in bare), min(t for t, _ in ev)
    c_bare, c_eval = min(c for _, c in bare), min(c for _, c in ev)
    ratio = t_eval / t_bare

    print(f"users evaluated: {users.shape[0]:,}  items: {n_items:,}  dim: {args.dim}  "
          f"history nnz: {exclude.nnz:,}  targets nnz: {targets.nnz:,}  chunk: {args.chunk_size}  "
          f"threads: {torch.get_num_threads()}")
    print(f"(a) bare matmul + topk : {t_bare:8.3f} s wall  {c_bare:8.3f} s cpu")
    print(f"(b) evaluate()         : {t_eval:8.3f} s wall  {c_eval:8.3f} s cpu")
    print(f"ratio (b)/(a)          : {ratio:8.3f} wall  {c_eval / c_bare:8.3f} cpu"
          f"  (target <= 2.0: {'OK' if ratio <= 2.0 else 'FAIL'})")
    record = {
        "benchmark": "eval_speed",
        "n_users": int(users.shape[0]),
        "n_items": int(n_items),
        "dim": args.dim,
        "history_nnz": int(exclude.nnz),
        "targets_nnz": int(targets.nnz),
        "ks": args.ks,
        "chunk_size": args.chunk_size,
        "repeat": args.repeat,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "dataset": args.dataset,
        "bare_s": round(t_bare, 4),
        "evaluate_s": round(t_eval, 4),
        "ratio": round(ratio, 4),
        "bare_cpu_s": round(c_bare, 4),
        "evaluate_cpu_s": round(c_eval, 4),
        "cpu_ratio": round(c_eval / c_bare, 4),
        "all_bare_s": [round(t, 4) for t, _ in bare],
        "all_evaluate_s": [round(t, 4) for t, _ in ev],
        "ok": ratio <= 2.0,
        "metrics": {k: round(v, 6) for k, v in (out or {}).items()},
    }
    line = json.dumps(record)
    print(line)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
