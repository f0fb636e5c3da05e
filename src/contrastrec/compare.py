"""Paired comparison of runs on the same split, user by user (``contrastrec compare``).

The first run is the base; every other run is compared with it on the users both scored in
their test evaluation (``per_user_test.parquet``), overall and per group (item-popularity groups:
the users with a target in the group; user-activity groups: the users in the group). For each
(run, metric, group):

* the means, the relative difference ``(mean_B - mean_A) / mean_A``;
* the paired t-test (:func:`scipy.stats.ttest_rel`) and the Wilcoxon signed-rank test
  (:func:`scipy.stats.wilcoxon`, zero differences dropped, two-sided);
* a bootstrap confidence interval of the relative difference (users resampled with replacement,
  percentile interval, seeded);
* Holm's step-down correction of each test's p-values over every row of the table (all the
  metrics, groups and runs compared: one family), and ``significant`` = Holm-corrected Wilcoxon
  p below ``alpha``.

Runs whose split or id maps differ are refused: a per-user comparison across splits is meaningless.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from contrastrec.training.rundir import RunDir, RunDirError

__all__ = ["CompareError", "Row", "holm", "paired_row", "compare_runs", "pairable", "table_cells", "format_table"]


class CompareError(RuntimeError):
    """Runs that cannot be compared (other split, other ids, no per-user results)."""


@dataclass
class Row:
    run: str
    metric: str
    group: str  # "all", "items:tail", "users:sparse", ...
    users: int
    mean_a: float
    mean_b: float
    rel_diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_t: float
    p_wilcoxon: float
    p_t_holm: float = float("nan")
    p_wilcoxon_holm: float = float("nan")
    significant: bool = False


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as ``p``; NaN stays NaN and is not counted)."""
    idx = [i for i, v in enumerate(p) if not math.isnan(v)]
    m = len(idx)
    out = [float("nan")] * len(p)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _bootstrap_rel(a: np.ndarray, b: np.ndarray, n_boot: int, level: float, rng) -> tuple[float | None, float | None]:
    n = a.size
    sa, sb = np.zeros(n_boot), np.zeros(n_boot)
    for s in range(0, n_boot, 200):  # batches of resamples: memory n x 200
        idx = rng.integers(0, n, size=(min(200, n_boot - s), n))
        sa[s:s + idx.shape[0]] = a[idx].mean(axis=1)
        sb[s:s + idx.shape[0]] = b[idx].mean(axis=1)
    ok = sa > 0
    if not ok.any():
        return None, None
    rel = (sb[ok] - sa[ok]) / sa[ok]
    lo, hi = np.quantile(rel, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_row(run: str, metric: str, group: str, a: np.ndarray, b: np.ndarray, n_boot: int = 1000,
               level: float = 0.95, seed: int = 0) -> Row:
    """The tests of one (run, metric, group): ``a`` and ``b`` are the two runs' values of the
    same users, in the same order."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = float(a.mean()) if a.size else float("nan"), float(b.mean()) if b.size else float("nan")
    d = b - a
    if a.size < 2 or not np.any(d != 0):
        p_t = p_w = 1.0 if a.size else float("nan")
    else:
        p_t = float(stats.ttest_rel(b, a).pvalue) if np.std(d) > 0 else 0.0
        p_w = float(stats.wilcoxon(b, a).pvalue)
    rel = (mb - ma) / ma if ma > 0 else None
    lo = hi = None
    if a.size >= 2:
        from contrastrec.rng import numpy_stream

        lo, hi = _bootstrap_rel(a, b, n_boot, level, numpy_stream(seed, f"compare.bootstrap.{run}.{metric}.{group}"))
    return Row(run, metric, group, int(a.size), ma, mb, rel, lo, hi, p_t, p_w)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(run_dir: str | Path):
    """``(per-user table, dataset.json, id-maps digest)`` of a run; of a ``--seeds`` folder the
    per-user mean over its seeds (one split, so the same users)."""
    from contrastrec.seeds import is_seeds_run, seed_folders

    if not is_seeds_run(run_dir):
        return _load_one(run_dir)
    parts = [_load_one(f) for f in seed_folders(run_dir)]
    if len({(p[1].get("split_sha256"), p[2]) for p in parts}) != 1:
        raise CompareError(f"{run_dir}: its seeds were not trained on one split")
    tables = [p[0].set_index("user").sort_index() for p in parts]
    numeric = [c for c in tables[0].columns if "@" in c]
    mean = tables[0].copy()
    mean[numeric] = sum(t[numeric] for t in tables) / len(tables)
    return mean.reset_index(), parts[0][1], parts[0][2]


def _load_one(run_dir: str | Path):
    import pyarrow.parquet as pq

    run = RunDir(run_dir)
    path = run / RunDir.per_user_name("test")
    if not path.is_file():
        raise CompareError(f"{path}: not found (runs trained before per-user results, or with item_groups "
                           "and user_groups 0, have none: rerun it, or `contrastrec evaluate --run RUN "
                           "--per-user DIR` and compare DIR)")
    if not run.id_maps.is_file():
        raise CompareError(f"{run.id_maps}: not found")
    ds = run.read_json(RunDir.DATASET, {}) or {}
    return pq.read_table(path).to_pandas(), ds, _digest(run.id_maps)


def _group_labels(table) -> tuple[list[str], list[str]]:
    """The item-group labels (head first) and user-group labels (sparsest first) of a per-user table."""
    items = list(dict.fromkeys(c.split("|", 1)[1] for c in table.columns if "|" in c))
    users = []
    if "user_group" in table.columns:
        users = list(table.groupby("user_group")["user_group_index"].min().sort_values().index)
    return items, users


def _check_pair(base_run: str, base, run: str, other) -> None:
    """Refuse (CompareError) ``run`` (loaded as ``other``) when it cannot be paired with ``base_run``:
    another split, other id maps, other groups."""
    (table_a, ds_a, ids_a), (table_b, ds_b, ids_b) = base, other
    a, b = ds_a.get("split_sha256"), ds_b.get("split_sha256")
    if a is None or b is None:
        raise CompareError(f"{run}: its dataset.json has no split fingerprint (trained before it was recorded); "
                           "rerun it to compare")
    if a != b:
        raise CompareError(f"{run}: another split than {base_run} (split fingerprints differ): "
                           "per-user results on different splits cannot be paired")
    if ids_b != ids_a:
        raise CompareError(f"{run}: other id maps than {base_run} (id_maps.json differ)")
    mine, theirs = _group_labels(table_a), _group_labels(table_b)
    if theirs != mine:
        raise CompareError(f"{run}: other groups than {base_run} (item_groups or user_groups differ: items "
                           f"{'/'.join(theirs[0]) or 'none'} vs {'/'.join(mine[0]) or 'none'}, users "
                           f"{'/'.join(theirs[1]) or 'none'} vs {'/'.join(mine[1]) or 'none'})")


def _load_checked(run: str | Path):
    try:
        return _load(run)
    except RunDirError as e:
        raise CompareError(str(e)) from None


def pairable(runs: list[str]) -> tuple[list[str], list[str]]:
    """The runs after the first that can be paired with it, and one line why for each that cannot
    (all of them, with the first's own reason, when the first cannot be read)."""
    try:
        base = _load_checked(runs[0])
    except CompareError as e:
        return [], [str(e)]
    ok, why = [], []
    for r in runs[1:]:
        try:
            _check_pair(runs[0], base, r, _load_checked(r))
            ok.append(r)
        except CompareError as e:
            why.append(str(e))
    return ok, why


def compare_runs(runs: list[str], metrics: list[str] | None = None, n_boot: int = 1000, level: float = 0.95,
                 alpha: float = 0.05, seed: int = 0) -> list[Row]:
    """Rows for every run after the first against the first (see the module docstring)."""
    if len(runs) < 2:
        raise CompareError("give at least two runs (the first is the base)")
    loaded = [_load_checked(r) for r in runs]
    for r, other in zip(runs[1:], loaded[1:]):
        _check_pair(runs[0], loaded[0], r, other)
    base = loaded[0][0]
    item_labels, user_labels = _group_labels(base)
    if metrics is None:
        metrics = [c for c in base.columns if "@" in c and "|" not in c and c.split("@")[0] in ("recall", "ndcg")]
    missing = [m for m in metrics if m not in base.columns]
    if missing:
        known = sorted(c for c in base.columns if "@" in c and "|" not in c)
        raise CompareError(f"unknown metric(s) {', '.join(missing)}; the runs have: {', '.join(known)}")
    rows: list[Row] = []
    for r, (other, _, _) in zip(runs[1:], loaded[1:]):
        j = base.merge(other, on="user", suffixes=("_a", "_b"))
        name = str(r)
        for m in metrics:
            rows.append(paired_row(name, m, "all", j[f"{m}_a"].to_numpy(), j[f"{m}_b"].to_numpy(), n_boot, level, seed))
            for lab in item_labels:
                col = f"{m}|{lab}"
                sel = j[f"{col}_a"].notna().to_numpy()
                rows.append(paired_row(name, m, f"items:{lab}", j[f"{col}_a"].to_numpy()[sel],
                                       j[f"{col}_b"].to_numpy()[sel], n_boot, level, seed))
            for lab in user_labels:
                sel = (j["user_group_a"] == lab).to_numpy()
                rows.append(paired_row(name, m, f"users:{lab}", j[f"{m}_a"].to_numpy()[sel],
                                       j[f"{m}_b"].to_numpy()[sel], n_boot, level, seed))
    for attr in ("p_t", "p_wilcoxon"):
        for row, adj in zip(rows, holm([getattr(x, attr) for x in rows])):
            setattr(row, f"{attr}_holm", adj)
    for row in rows:
        row.significant = bool(row.p_wilcoxon_holm < alpha)
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:+.1f}%"


def table_cells(rows: list[Row], level: float = 0.95) -> tuple[list[str], list[list[str]]]:
    """The header and the formatted cells of :func:`format_table` (``*``: significant after Holm)."""
    head = ["run", "metric", "group", "users", "base", "run value", "rel. diff", f"{round(100 * level)}% CI",
            "p (t)", "p (Wilcoxon)", "Holm p (Wilcoxon)", ""]
    body = []
    for r in rows:
        ci = "-" if r.ci_low is None else f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]"
        body.append([Path(r.run).name, r.metric, r.group, str(r.users), f"{r.mean_a:.4f}", f"{r.mean_b:.4f}",
                     _pct(r.rel_diff), ci, f"{r.p_t:.3g}", f"{r.p_wilcoxon:.3g}", f"{r.p_wilcoxon_holm:.3g}",
                     "*" if r.significant else ""])
    return head, body


def format_table(rows: list[Row], level: float = 0.95) -> str:
    """A Markdown table of the rows (``*``: significant after Holm's correction)."""
    head, body = table_cells(rows, level)
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(cells) + " |" for cells in body])


def rows_json(rows: list[Row]) -> str:
    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    return json.dumps([{k: clean(v) for k, v in asdict(r).items()} for r in rows], indent=2)
