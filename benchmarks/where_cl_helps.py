"""Where does contrastive learning earn its place? One data set's evidence file for docs/results.md.

    python benchmarks/where_cl_helps.py --dataset yelp-sslrec --base runs/lgcn --contrastive runs/simgcl [...] \
        --out docs/runs/where/yelp-sslrec.json
    python benchmarks/collect_results.py --update      # regenerates the section from docs/runs/where/*.json

For every contrastive run against the base (same split, paired per user: `contrastrec compare`):
overall, tail-item and sparse-user recall@K / NDCG@K with the relative difference, its bootstrap CI
and the Holm-corrected Wilcoxon p; coverage, ARP, Gini, alignment/uniformity, minutes and epochs
(and why training stopped). Runs may be `train --seeds` folders (then per-user means over seeds).
The per-user files are not copied (they stay with the runs); the JSON keeps what the table needs.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _run_facts(run: Path, k: int) -> dict:
    from contrastrec.seeds import is_seeds_run, seed_folders

    folders = seed_folders(run) if is_seeds_run(run) else [run]
    res = [json.loads((f / "results.json").read_text()) for f in folders]
    first = res[0]
    g = (first.get("groups") or {}).get("test") or {}
    return {
        "run": str(run), "model": first["model"], "commit": first.get("commit"), "seeds": len(res),
        "minutes": round(sum(r["train_seconds"] for r in res) / 60 / len(res), 1),
        "epochs": first["epochs"], "best_epoch": first["best_epoch"], "stopped": first.get("stopped"),
        f"coverage@{k}": g.get(f"coverage@{k}"), f"arp@{k}": g.get(f"arp@{k}"), f"gini@{k}": g.get(f"gini@{k}"),
        "alignment": (first.get("embedding") or {}).get("alignment"),
        "uniformity": (first.get("embedding") or {}).get("uniformity"),
        "eval_users": first.get("eval_users"),
    }


def evidence(dataset: str, base: Path, contrastive: list[Path], k: int, n_boot: int) -> dict:
    from dataclasses import asdict

    from contrastrec.compare import compare_runs

    metrics = [f"recall@{k}", f"ndcg@{k}"]
    rows = compare_runs([str(base), *map(str, contrastive)], metrics=metrics, n_boot=n_boot)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"dataset": dataset, "k": k, "metrics": metrics, "made_at": commit,
            "command": " ".join(["python benchmarks/where_cl_helps.py", "--dataset", dataset, "--base", str(base),
                                 "--contrastive", *map(str, contrastive), "-k", str(k)]),
            "base": _run_facts(base, k), "contrastive": [_run_facts(c, k) for c in contrastive],
            "rows": [{key: (None if isinstance(v, float) and math.isnan(v) else v) for key, v in asdict(r).items()}
                     for r in rows]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--contrastive", type=Path, nargs="+", required=True)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    ev = evidence(a.dataset, a.base, a.contrastive, a.k, a.bootstrap)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(ev, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
