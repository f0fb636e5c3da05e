"""`contrastrec demo`: the models that declare a ``DEMO`` setting, on a synthetic data set with
planted structure, in minutes on a CPU. (A model's demo setting lives in its own file.)"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path


def demo_models() -> dict[str, dict]:
    """model -> its demo overrides (small, fast settings; validation-selected like every run)."""
    from contrastrec.models.registry import registered

    return {name: dict(cls.DEMO) for name, cls in registered().items() if cls.DEMO is not None}


def run_demo(output: str | None = None, quick: bool = False, models: list[str] | None = None,
             print_fn=print) -> list[dict]:
    from contrastrec.cli import _print_table
    from contrastrec.config import build_config
    from contrastrec.data import make_synthetic
    from contrastrec.training.loop import fit

    n_users, n_items = (300, 200) if quick else (1000, 600)
    ds = make_synthetic(n_users=n_users, n_items=n_items, sequential=True, seed=0)
    print_fn(f"synthetic data set: {ds.n_users} users, {ds.n_items} items, {len(ds.train)} training "
             "interactions (user groups x item clusters, Zipf popularity, sequential successors; leave-one-out)")
    root = Path(output) if output else Path(tempfile.mkdtemp(prefix="contrastrec-demo-"))
    rows = []
    demos = demo_models()
    for name in models or list(demos):
        over = dict(demos.get(name, {}))
        over.update({"device": "cpu", "ks": [10, 20], "metric": "ndcg@20", "patience": 10, "seed": 0, "threads": 1})
        if quick:
            over["epochs"] = min(over.get("epochs", 5), 5)
        cfg = build_config(name, None, over)
        t0 = time.time()
        res = fit(cfg, ds, root / name, progress=False, log=lambda s: None, overwrite=True)
        rows.append({
            "model": name, "hit@10": res["test"]["hit@10"], "ndcg@10": res["test"]["ndcg@10"],
            "hit@20": res["test"]["hit@20"], "ndcg@20": res["test"]["ndcg@20"],
            "valid ndcg@20": res["valid"]["ndcg@20"], "best epoch": res["best_epoch"],
            "seconds": round(time.time() - t0, 1),
        })
        print_fn(f"  {name}: test ndcg@20 {res['test']['ndcg@20']:.4f} ({time.time() - t0:.1f}s)")
    print_fn("")
    print_fn("Test metrics (full ranking; epoch selected on validation; test evaluated once). "
             "Popularity is the floor.")
    print_fn(_print_table(rows, list(rows[0].keys())))
    print_fn(f"runs written to {root}")
    return rows
