"""`contrastrec demo`: the models that declare a ``DEMO`` setting, on a synthetic data set shaped
like a real log (thousands of items, a handful of training interactions per user, Zipf
popularity), in minutes on a CPU. (A model's demo setting lives in its own file.)

Each model trains until early stopping, within an epoch cap (its ``DEMO`` sets the epochs, the
patience and the lr so that on this data it early-stops well within the cap); a per-model time limit is
only a safety net that a normal run does not reach, so the table does not depend on the machine or its
load. The table says which of the three ended each run. Rows are grouped by family: the base a model is built on (its
encoder: ``mf``, ``lightgcn``, ``sasrec``) first, then the contrastive models on it, each with
its relative difference to the base on test NDCG@20 and on the tail items, marked ``*`` where
the paired per-user test of :func:`contrastrec.compare.compare_runs` is significant after Holm's
correction. A closing line reads the table.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

METRIC = "ndcg@20"
# the data: a sparse log (median 6 training interactions per user, ~0.3 % density)
DATA = {"n_users": 2000, "n_items": 2000, "interactions_per_user": 8, "n_clusters": 20, "popularity_skew": 1.0,
        "sequential": True, "seed": 0}
QUICK_DATA = {**DATA, "n_users": 300, "n_items": 200, "n_clusters": 10}
# what every model gets unless its DEMO says otherwise: train until `patience` validations without
# improvement, within `epochs`; `max_train_seconds` is a safety net, far above what a model takes (it
# would make the result depend on the machine's speed and load)
BUDGET = {"epochs": 100, "patience": 3, "max_train_seconds": 30.0}
QUICK_BUDGET = {"epochs": 5, "pretrain_epochs": 1, "max_train_seconds": 0.0}  # tests: a few epochs
# what the demo fixes for every model (one thread: the demo runs beside other work on small CPUs)
FIXED = {"device": "cpu", "ks": [10, 20], "metric": METRIC, "seed": 0, "threads": 1}
STOPPED = {"patience": "early stop", "epochs": "CUT: epochs", "max_train_seconds": "CUT: time"}


def demo_models() -> dict[str, dict]:
    """model -> its demo overrides (small, fast settings; validation-selected like every run)."""
    from contrastrec.models.registry import registered

    return {name: dict(cls.DEMO) for name, cls in registered().items() if cls.DEMO is not None}


def demo_config(name: str, quick: bool = False):
    """The config model ``name`` trains with in the demo: budget, then its ``DEMO``, then the fixed keys."""
    from contrastrec.config import build_config
    from contrastrec.models.registry import registered

    over = {**BUDGET, **(registered()[name].DEMO or {}), **FIXED}
    if quick:  # a few epochs, no time budget (tests)
        over.update(epochs=min(over["epochs"], QUICK_BUDGET["epochs"]), max_train_seconds=0.0)
        if "pretrain_epochs" in over:
            over["pretrain_epochs"] = min(over["pretrain_epochs"], QUICK_BUDGET["pretrain_epochs"])
    return build_config(name, None, over)


def family_of(name: str, encoder: str) -> tuple[str, str]:
    """``(family, role)`` of a model: its family is the base it is built on (its encoder), its
    role ``floor`` (untrained), ``base`` (the encoder itself), ``contrastive`` or ``other``."""
    from contrastrec.models.registry import is_contrastive, registered

    cls = registered()[name]
    if cls.task == "none":
        return "floor", "floor"
    kind = "seq" if getattr(cls, "sequential", False) else "graph"
    role = "base" if name == encoder else "contrastive" if is_contrastive(cls) else "other"
    return f"{kind}:{encoder}", role


def data_shape(ds) -> dict[str, Any]:
    """Users, items, training interactions, their median per user and the density of the training log."""
    per_user = np.bincount(np.asarray(ds.train.users), minlength=ds.n_users)
    n = len(ds.train)
    return {"users": ds.n_users, "items": ds.n_items, "train": n,
            "median_per_user": float(np.median(per_user[per_user > 0])), "density": n / (ds.n_users * ds.n_items)}


def _row(name: str, cfg, res: dict, path: Path, seconds: float) -> dict[str, Any]:
    family, role = family_of(name, cfg.encoder)
    items = (res.get("groups") or {}).get("test", {}).get("item_groups", {})
    tail = list(items)[-1] if items else None
    return {"family": family, "model": name, "role": role, f"test {METRIC}": res["test"][METRIC],
            "vs base": None, "tail": tail, f"tail {METRIC}": items[tail].get(METRIC) if tail else None,
            "tail vs base": None, f"valid {METRIC}": res["valid"][METRIC], "best epoch": res["best_epoch"],
            "epochs": res["epochs"], "stopped": res.get("stopped"), "seconds": seconds,
            "significant": None, "tail significant": None, "gains": [], "losses": [], "path": str(path)}


def _rel(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else (value - base) / base


def group_families(rows: list[dict]) -> list[dict]:
    """The rows ordered by family (floor first, then each family in order of first appearance),
    within a family the base first, then the contrastive models, then the others (run order kept)."""
    order = list(dict.fromkeys(["floor"] + [r["family"] for r in rows]))
    rank = {"floor": 0, "base": 0, "contrastive": 1, "other": 2}
    return sorted(rows, key=lambda r: (order.index(r["family"]), rank[r["role"]]))


def attach_base_comparison(rows: list[dict], compare: Callable[[list[str]], list] | None = None) -> None:
    """Fill each non-base row's ``vs base`` / ``tail vs base`` (relative differences of the rows'
    values) and, from the paired per-user tests of its family (one Holm family: every group of every
    model against the base), ``significant``, ``tail significant`` and the item groups of its
    significant ``gains`` and ``losses``."""
    if compare is None:
        from contrastrec.compare import compare_runs

        def compare(paths):
            return compare_runs(paths, metrics=[METRIC])
    for family in dict.fromkeys(r["family"] for r in rows):
        members = [r for r in rows if r["family"] == family]
        base = next((r for r in members if r["role"] == "base"), None)
        others = [r for r in members if r is not base]
        if base is None or not others or family == "floor":
            continue
        tests = {(t.run, t.group): t for t in compare([base["path"]] + [r["path"] for r in others])}
        for r in others:
            r["vs base"] = _rel(r[f"test {METRIC}"], base[f"test {METRIC}"])
            r["tail vs base"] = _rel(r[f"tail {METRIC}"], base[f"tail {METRIC}"])
            overall, tail = tests.get((r["path"], "all")), tests.get((r["path"], f"items:{r['tail']}"))
            r["significant"] = bool(overall and overall.significant)
            r["tail significant"] = bool(tail and tail.significant)
            for (run, group), t in tests.items():
                if run == r["path"] and group.startswith("items:") and t.significant and t.rel_diff is not None:
                    (r["gains"] if t.rel_diff > 0 else r["losses"]).append(group.split(":", 1)[1])


def closing_line(rows: list[dict]) -> str:
    """What the table says: how many contrastive models beat their base significantly (and how many
    lose to it), and on which item groups the significant gains are."""
    cl = [r for r in rows if r["role"] == "contrastive" and r["significant"] is not None]
    wins = sum(r["significant"] and r["vs base"] > 0 for r in cl)
    losses = sum(r["significant"] and r["vs base"] < 0 for r in cl)
    groups: dict[str, int] = {}
    for r in cl:
        for g in r["gains"]:
            groups[g] = groups.get(g, 0) + 1
    where = ", ".join(f"{g} items ({n} of {len(cl)})" for g, n in sorted(groups.items(), key=lambda kv: -kv[1]))
    return (f"on this data, {wins} of {len(cl)} contrastive models beat their base significantly "
            f"({losses} are significantly below it); the gains are on {where or 'none of the item groups'}")


def budget_line(rows: list[dict]) -> str:
    """How many trained models the budget cut (they are compared at equal budget, not at convergence)."""
    trained = [r for r in rows if r["stopped"] not in (None, "untrained")]
    cut = [r for r in trained if r["stopped"] != "patience"]
    if not cut:
        return f"all {len(trained)} trained models reached early stopping"
    return (f"{len(cut)} of {len(trained)} trained models were cut by their budget (CUT), so they are compared at "
            "an equal budget, not at convergence")


def _pct(rel: float | None, significant: bool | None) -> str:
    return "" if rel is None else f"{100 * rel:+.1f}%" + ("*" if significant else "")


def display_rows(rows: list[dict]) -> list[dict]:
    """The printed cells of the rows: relative differences as signed percentages (``*``:
    significant), the base marked, the stop reason spelled out."""
    out = []
    for r in rows:
        d = dict(r)
        d["vs base"] = "base" if r["role"] == "base" else _pct(r["vs base"], r["significant"])
        d["tail vs base"] = "base" if r["role"] == "base" else _pct(r["tail vs base"], r["tail significant"])
        d["stopped"] = STOPPED.get(r["stopped"] or "", "")
        d["best/epochs"] = f"{r['best epoch']}/{r['epochs']}" if r["stopped"] not in (None, "untrained") else ""
        out.append(d)
    return out


COLUMNS = ["family", "model", "role", f"test {METRIC}", "vs base", f"tail {METRIC}", "tail vs base",
           f"valid {METRIC}", "best/epochs", "stopped", "seconds"]


def format_demo_table(rows: list[dict]) -> str:
    from contrastrec.table import format_table, seconds

    return format_table(display_rows(rows), COLUMNS, {"seconds": seconds})


def run_demo(output: str | None = None, quick: bool = False, models: list[str] | None = None,
             print_fn=print) -> list[dict]:
    """Train the demo models (all with a ``DEMO`` setting, or ``models``), print the table and the
    closing line; return the rows (grouped by family)."""
    from contrastrec.data import make_synthetic
    from contrastrec.training.loop import TrainingError, fit

    start = time.time()
    recipe = QUICK_DATA if quick else DATA
    ds = make_synthetic(**recipe)
    s = data_shape(ds)
    print_fn(f"synthetic data set: {s['users']} users, {s['items']} items, {s['train']} training interactions, "
             f"median {s['median_per_user']:g} per user, density {100 * s['density']:.2f} % (Zipf popularity, "
             f"skew {recipe['popularity_skew']:g}, in {recipe['n_clusters']} item clusters; user groups; "
             "sequential successors; leave-one-out)")
    b = QUICK_BUDGET if quick else BUDGET
    limit = (f"a safety net of {b['max_train_seconds']:g} s of training per model" if b["max_train_seconds"]
             else "no time limit")
    print_fn(f"each model trains until {BUDGET['patience'] + 1} validations in a row without improvement (early "
             f"stop; patience {BUDGET['patience']}) or its epoch cap (default {b['epochs']}) ends it; {limit}")
    root = Path(output) if output else Path(tempfile.mkdtemp(prefix="contrastrec-demo-"))
    rows = []
    for name in models or list(demo_models()):
        cfg = demo_config(name, quick)
        t0 = time.time()
        try:
            res = fit(cfg, ds, root / name, progress=False, log=lambda s: None, overwrite=True)
        except TrainingError as e:  # one model's failure (e.g. its budget ended before a validation) is told
            print_fn(f"  {name}: failed, left out of the table: {e}")
            continue
        rows.append(_row(name, cfg, res, root / name, time.time() - t0))
        print_fn(f"  {name}: test {METRIC} {res['test'][METRIC]:.4f} ({time.time() - t0:.1f} s)")
    rows = group_families(rows)
    attach_base_comparison(rows)
    print_fn("")
    print_fn("Test metrics (full ranking; epoch selected on validation; test evaluated once). Popularity is the floor.")
    print_fn(f"vs base: relative difference of test {METRIC} to the family's base; * = the paired per-user Wilcoxon "
             "test is significant (Holm-corrected over the family, p < 0.05)")
    print_fn("tail: the least popular items, a third of the training interactions; stopped: early stop, or CUT by "
             "the epoch cap or the time safety net (the model may still have been improving)")
    print_fn(format_demo_table(rows))
    print_fn(closing_line(rows))
    print_fn(budget_line(rows))
    print_fn(f"total: {sum(r['seconds'] for r in rows):.1f} s over {len(rows)} models, {time.time() - start:.1f} s "
             f"with the data and the tests; runs written to {root}")
    return rows
