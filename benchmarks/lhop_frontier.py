"""How much of the graph an exact L-hop subgraph propagation would touch (issue 12).

A graph model's step needs the final embeddings of the batch's rows only (its users, positive and
negative items). Layer L of those rows needs layer L-1 of their 1-hop neighbourhood, which needs layer
L-2 of the 2-hop neighbourhood, and so on; an exact "L-hop subgraph" propagation computes each layer
on that frontier only. contrastrec already computes the last layer on the batch's rows only
(``LightGCNEncoder.propagate_rows``). This script measures, on a ``contrastrec synth`` graph, what
fraction of the nodes and of the adjacency's non-zeros the batch rows and their 1-hop frontier
cover, for a few batch sizes: if the frontier is most of the graph, an exact subgraph propagation
saves little and only neighbour *sampling* (PinSAGE-style, a different model) would bound the cost.

    python benchmarks/lhop_frontier.py --data /tmp/scale-data/scale_graph_10M.parquet \\
        --batches 2048 8192 100000 --json-out runs/bench/lhop_frontier.json

Batches are drawn like the trainer's: B training pairs uniformly, their users and positive items,
and B uniform negative items (seeded).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from contrastrec.graph import bipartite_adjacency


def frontier_fractions(users: np.ndarray, items: np.ndarray, adj: sp.csr_matrix, n_users: int, batch: int,
                       seed: int = 0) -> dict:
    """Node and non-zero fractions of a batch's rows and of their 1-hop frontier (rows included);
    ``users``/``items`` are contiguous ids, ``adj`` their bipartite adjacency."""
    n, n_items = adj.shape[0], adj.shape[0] - n_users
    deg = np.diff(adj.indptr)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(users), batch)
    rows = np.unique(np.concatenate([users[pick], n_users + items[pick], n_users + rng.integers(0, n_items, batch)]))
    hop1 = np.union1d(np.unique(adj[rows].indices), rows)
    return {"batch": batch, "nodes": n, "nnz": int(adj.nnz),
            "rows_node_fraction": len(rows) / n, "rows_nnz_fraction": float(deg[rows].sum() / adj.nnz),
            "hop1_node_fraction": len(hop1) / n, "hop1_nnz_fraction": float(deg[hop1].sum() / adj.nnz)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="parquet with user and item columns")
    p.add_argument("--batches", type=int, nargs="+", default=[2048, 8192, 100_000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", type=Path)
    args = p.parse_args()
    table = pq.read_table(args.data, columns=["user", "item"])
    _, users = np.unique(table.column("user").to_numpy(), return_inverse=True)
    _, items = np.unique(table.column("item").to_numpy(), return_inverse=True)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    adj = bipartite_adjacency(users, items, n_users, n_items)  # built once, shared by every batch size
    rows = []
    for b in args.batches:
        r = frontier_fractions(users, items, adj, n_users, b, args.seed)
        rows.append(r)
        print(f"batch {b}: rows {r['rows_node_fraction']:.1%} of nodes / {r['rows_nnz_fraction']:.1%} of non-zeros "
              f"(the last layer's product); 1-hop frontier {r['hop1_node_fraction']:.1%} / "
              f"{r['hop1_nnz_fraction']:.1%} (layer L-1's)", flush=True)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"command": "python benchmarks/lhop_frontier.py " + " ".join(sys.argv[1:]),
                                             "data": str(args.data), "interactions": len(users), "rows": rows},
                                            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
