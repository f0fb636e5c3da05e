"""Comparison report of trained runs (``contrastrec report RUN... --output report.md|.html``).

* one table: model, data set, seeds, test metrics (default: recall and ndcg at every k), best
  epoch, epochs, seconds/epoch, train seconds, peak memory, alignment/uniformity when
  ``results.json`` has them. A ``train --seeds`` folder is one row: each metric as mean ± standard
  deviation [confidence interval] over its seeds (``seeds.json``), the other columns the seeds'
  mean (or their values, when they are whole numbers that differ);
* the test metrics per item-popularity group and per user-activity group, and coverage, ARP and
  Gini at every k (``results.json`` ``"groups"``; of a seeds folder the means over its seeds);
  runs without them (older runs) show "–" and a note says why;
* with two runs or more, the paired per-user comparison with the first of every run that can be
  paired with it (:func:`contrastrec.compare.compare_runs`, the numbers of ``contrastrec compare``),
  and one line naming the others and why (other splits, no per-user results);
* each run's training curves and one figure with every run's embedding distribution (of a seeds
  folder: its first seed). PNG files are written beside the report (``<stem>-curves-<run>.png``,
  ``<stem>-embeddings.png``); Markdown links them relatively, HTML embeds them (base64) so the file
  stands alone.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

_FIXED = [("model", "model"), ("dataset", "dataset"), ("seeds", "seeds")]
_TAIL = [("best_epoch", "best epoch"), ("epochs", "epochs"), ("seconds_per_epoch", "s/epoch"),
         ("train_seconds", "train s"), ("peak_memory_mb", "peak MB"), ("alignment", "alignment"),
         ("uniformity", "uniformity")]
_BEYOND = ("coverage", "arp", "gini")
_NO_GROUPS = "trained before group metrics were recorded, or with item_groups and user_groups 0; retrain it to get them"
DASH = "–"  # a value the run does not have


@dataclass(frozen=True)
class Spread:
    """A metric over the seeds of a ``--seeds`` folder (std and ci are None with one seed)."""

    mean: float
    std: float | None
    ci: tuple[float, float] | None

    def __str__(self) -> str:
        text = f"{self.mean:.4f}"
        if self.std is not None:
            text += f" ± {self.std:.4f}"
        if self.ci is not None:
            text += f" [{self.ci[0]:.4f}, {self.ci[1]:.4f}]"
        return text


def _metric_order(name: str) -> tuple:
    base, _, k = name.partition("@")
    return (base, int(k) if k.isdigit() else 0)


def _checkpoint_model(run: Path) -> str | None:
    """The model of the run's ``best.pt`` (the weights its test metrics come from), None without one."""
    from contrastrec.training.checkpoint import load_checkpoint

    best = run / "best.pt"
    return str(load_checkpoint(best, mmap=True)["config"].get("model")) if best.exists() else None


def _test_groups(results: dict) -> tuple[dict | None, str | None]:
    """``(groups["test"], None)`` of a run's results, or ``(None, why there are none)``."""
    groups = results.get("groups")
    test = groups.get("test") if isinstance(groups, dict) else None
    if isinstance(test, dict):
        return test, None
    return None, (groups.get("note") if isinstance(groups, dict) and groups.get("note") else _NO_GROUPS)


def _run_row(run: Path, warn: Callable[[str], None]) -> dict[str, Any]:
    """The row of one run (see :func:`collect`)."""
    from contrastrec.training.rundir import RunDir

    path = run / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results (is {run} a finished run?)")
    r = RunDir(run).read_results()
    emb = r.get("embedding") or {}
    row = {"run": run.resolve().name, **{k: r.get(k) for k, _ in _FIXED[:2] + _TAIL}}
    model = _checkpoint_model(run)
    if model is not None and model != r.get("model"):
        warn(f"note: {path} says model {r.get('model')!r}, but {run / 'best.pt'} holds a {model}: "
             f"the report shows {model}")
        row["model"] = model
    row["alignment"], row["uniformity"] = emb.get("alignment"), emb.get("uniformity")
    row.update({f"test {m}": v for m, v in (r.get("test") or {}).items()})
    row["groups"], row["groups_note"] = _test_groups(r)
    return row


def _over_seeds(values: list) -> Any:
    """One cell for the seeds' values of a column: the value they share, the whole numbers that
    differ ("17/19"), or the mean."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if all(v == vals[0] for v in vals):
        return vals[0]
    if all(isinstance(v, int) for v in vals):
        return "/".join(map(str, vals))
    return float(np.mean(vals, dtype=np.float64))


def mean_tree(trees: list) -> Any:
    """The element-wise mean of equally shaped JSON values (numbers averaged over those that are
    not None, as seeds.summarize_seeds does; other leaves taken from the first)."""
    if all(isinstance(t, dict) for t in trees):
        return {k: mean_tree([t.get(k) for t in trees]) for k in trees[0]}
    numbers = [t for t in trees if isinstance(t, (int, float)) and not isinstance(t, bool)]
    if numbers and len(numbers) == sum(t is not None for t in trees):
        return float(np.mean(numbers, dtype=np.float64))
    return trees[0]


def _seeds_row(run: Path, warn: Callable[[str], None]) -> dict[str, Any]:
    """The row of a ``--seeds`` folder: metrics over its seeds (``seeds.json``), groups averaged."""
    from contrastrec.seeds import SEEDS_FILE, seed_folders
    from contrastrec.training.rundir import RunDir, RunDirError

    summary = (RunDir(run).read_json(SEEDS_FILE) or {}).get("summary") or {}
    if not summary.get("test"):
        raise RunDirError(f"{run / SEEDS_FILE}: no summary yet (not every seed has finished; "
                          f"`contrastrec train --resume {run}` finishes them)")
    seeds = [_run_row(f, warn) for f in seed_folders(run)]
    row = {"run": run.resolve().name, "model": seeds[0]["model"], "dataset": seeds[0]["dataset"],
           "seeds": len(seeds), "seed_list": summary.get("seeds"), "level": summary.get("level", 0.95)}
    row.update({k: _over_seeds([s[k] for s in seeds]) for k, _ in _TAIL})
    row.update({f"test {m}": Spread(v["mean"], v.get("std"), tuple(v["ci"]) if v.get("ci") else None)
                for m, v in summary["test"].items()})
    groups = [s["groups"] for s in seeds]
    row["groups"] = mean_tree(groups) if all(g is not None for g in groups) else None
    row["groups_note"] = next((s["groups_note"] for s in seeds if s["groups_note"]), None)
    return row


def collect(runs: Sequence[str | Path], warn: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One flat row per run from its ``results.json`` (test metrics as ``test <metric>``, the test
    group summary as ``groups``, None without one, and ``groups_note`` saying why); the model is the
    one in ``best.pt`` (a ``results.json`` that says otherwise is noted through ``warn``). A
    ``--seeds`` folder gives one row: metrics as :class:`Spread`, groups as the seeds' means."""
    from contrastrec.seeds import is_seeds_run

    return [_seeds_row(Path(run), warn) if is_seeds_run(run) else _run_row(Path(run), warn) for run in runs]


def check_metrics(rows: list[dict[str, Any]], metrics: Sequence[str] | None) -> None:
    """Refuse (ConfigError) a metric that no run's test results hold, naming the ones they hold."""
    from contrastrec.config import ConfigError

    found = sorted({k[5:] for r in rows for k in r if k.startswith("test ")}, key=_metric_order)
    unknown = [m for m in metrics or () if m not in found]
    if unknown:
        raise ConfigError(f"--metrics: unknown metric {unknown[0]!r}: no run's test results have it; "
                          f"they have {', '.join(found) or 'none'}")


def columns(rows: list[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """Table columns; test metrics: ``metrics`` if given, else recall and ndcg at every k."""
    found = {k for r in rows for k in r if k.startswith("test ")}
    keep = [f"test {m}" for m in metrics] if metrics else \
        [k for k in found if k[5:].split("@")[0] in ("recall", "ndcg")] or list(found)
    metrics = sorted(set(keep), key=lambda k: _metric_order(k[5:]))
    cols = [("run", "run")] + _FIXED + [(m, m) for m in metrics] + _TAIL
    return [(k, h) for k, h in cols if any(r.get(k) is not None for r in rows)]


def _group_entries(row: dict[str, Any]) -> list[dict]:
    """The item-group and user-group entries of a row's test groups (none without groups)."""
    groups = row["groups"] or {}
    return [g for kind in ("item_groups", "user_groups") for g in (groups.get(kind) or {}).values()]


def focus_metrics(rows: list[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[str]:
    """The metrics of the group tables and the paired comparison: those of ``metrics`` the runs
    have, else recall and ndcg at the largest k."""
    have = {k for r in rows for g in _group_entries(r) for k in g if "@" in k} \
        or {k[5:] for r in rows for k in r if k.startswith("test ")}
    if metrics:
        return [m for m in metrics if m in have]
    ks = [int(k) for m in have for base, _, k in [m.partition("@")] if base in ("recall", "ndcg") and k.isdigit()]
    return [m for m in (f"recall@{max(ks)}", f"ndcg@{max(ks)}") if m in have] if ks else []


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def _value(v: Any) -> str:
    return DASH if v is None else _cell(v)


def _labels(rows: list[dict[str, Any]], kind: str) -> list[str]:
    out: list[str] = []
    for r in rows:
        out += [lab for lab in ((r["groups"] or {}).get(kind) or {}) if lab not in out]
    return out


Table = tuple[list[str], list[list[str]]]


def group_table(rows: list[dict[str, Any]], kind: str, metrics: Sequence[str]) -> Table:
    """One row per run: each metric in each group of ``kind`` (``item_groups``, ``user_groups``)."""
    labels = _labels(rows, kind)
    cols = [(m, lab) for m in metrics for lab in labels]
    body = [[r["run"]] + [_value((((r["groups"] or {}).get(kind) or {}).get(lab) or {}).get(m)) for m, lab in cols]
            for r in rows]
    return ["run"] + [f"{m} {lab}" for m, lab in cols], body


def beyond_table(rows: list[dict[str, Any]]) -> Table:
    """One row per run: coverage, ARP and Gini at every k."""
    keys = {k for r in rows for k in (r["groups"] or {}) if k.partition("@")[0] in _BEYOND}
    keys = sorted(keys, key=lambda k: (int(k.partition("@")[2]), _BEYOND.index(k.partition("@")[0])))
    return ["run", *keys], [[r["run"]] + [_value((r["groups"] or {}).get(k)) for k in keys] for r in rows]


def _item_group_sizes(row: dict[str, Any]) -> str:
    parts = [f"{lab} {g.get('items', 0):.0f} items ({100 * g.get('train_share', 0):.1f}%)"
             for lab, g in (row["groups"].get("item_groups") or {}).items()]
    return f"Item groups of {row['run']} (share of the training interactions): {', '.join(parts)}." if parts else ""


def group_blocks(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[tuple]:
    """The group and beyond-accuracy sections, with a note per run that has none."""
    with_groups = [r for r in rows if r["groups"] is not None]
    notes = [("p", f"{DASH}: {r['run']} has no group metrics ({r['groups_note']}).")
             for r in rows if r["groups"] is None]
    if not with_groups:
        return [("h", 2, "groups and beyond accuracy (test)"), *notes]
    sizes = _item_group_sizes(with_groups[0])
    blocks: list[tuple] = []
    if _labels(rows, "item_groups"):
        blocks += [("h", 2, "item-popularity groups (test)"), ("table", *group_table(rows, "item_groups", metrics)),
                   *([("p", sizes)] if sizes else [])]
    if _labels(rows, "user_groups"):
        blocks += [("h", 2, "user-activity groups (test)"), ("table", *group_table(rows, "user_groups", metrics))]
    return blocks + [("h", 2, "beyond accuracy (test)"),
            ("p", "coverage: share of the catalogue in at least one top-k list; ARP: average training popularity of "
                  "the recommended items; Gini: inequality of exposure (0 even, 1 one item takes all)."),
            ("table", *beyond_table(rows)), *notes]


def seeds_notes(rows: list[dict[str, Any]]) -> list[tuple]:
    return [("p", f"{r['run']}: mean ± standard deviation [{round(100 * r['level'])}% t interval] over "
                  f"{r['seeds']} seeds ({', '.join(map(str, r['seed_list'] or []))}); its group and beyond-accuracy "
                  "values are the means over the seeds, its paired comparison uses each user's mean over the seeds.")
            for r in rows if r.get("seeds")]


def comparison_blocks(runs: Sequence[str | Path], metrics: Sequence[str]) -> list[tuple]:
    """The paired comparison with the first run of every run that can be paired with it
    (``compare_runs``), a line naming those that cannot, or one line why there is none."""
    from contrastrec.compare import CompareError, compare_runs, pairable, table_cells

    if len(runs) < 2:
        return []
    names = [str(r) for r in runs]
    title = ("h", 2, f"paired comparison with {Path(names[0]).resolve().name} (test, per user)")
    ok, why = pairable(names)
    try:
        if not metrics:
            raise CompareError("no metric to compare")
        if not ok:
            raise CompareError("; ".join(why))
        rows = compare_runs([names[0], *ok], metrics=list(metrics))
    except CompareError as e:
        return [title, ("p", f"No paired comparison: {e}.")]
    n = sum(r.significant for r in rows)
    cmd = f"contrastrec compare {' '.join([names[0], *ok])} --metrics {' '.join(metrics)}"
    return [title,
            ("p", f"Each run against the first on the users both scored; p-values of the paired t-test and the "
                  f"Wilcoxon signed-rank test, Holm-corrected over all {len(rows)} rows; *: significant "
                  f"(Holm-corrected Wilcoxon p < 0.05): {n} of {len(rows)}. The numbers of `{cmd}`."),
            ("table", *table_cells(rows)), *([("p", f"Not paired with the first: {'; '.join(why)}.")] if why else [])]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def figure_paths(runs: Sequence[str | Path], out_dir: Path, stem: str) -> tuple[list[tuple[str, Path]], Path]:
    """Where the figures go: ``([(run name, curves.png)], embeddings.png)``."""
    names = [Path(run).resolve().name for run in runs]
    curves = [(n, out_dir / f"{stem}-curves-{i}-{_slug(n)}.png") for i, n in enumerate(names)]
    return curves, out_dir / f"{stem}-embeddings.png"


def figure_source(run: str | Path) -> Path:
    """The run whose curves and embeddings stand for ``run``: a seeds folder's first seed."""
    from contrastrec.seeds import is_seeds_run, seed_folders

    return seed_folders(run)[0] if is_seeds_run(run) else Path(run)


def make_figures(runs: Sequence[str | Path], out_dir: Path, stem: str, dataset: str | None = None,
                 warn: Callable[[str], None] = print) -> tuple[list[tuple[str, Path]], Path | None]:
    """Write the PNGs; returns ``([(run name, curves.png)], embeddings.png or None)``."""
    from contrastrec.plots import plot_curves, plot_embeddings

    curves = []
    sources = [figure_source(r) for r in runs]
    planned, emb_path = figure_paths(runs, out_dir, stem)
    for src, (name, path) in zip(sources, planned):
        try:
            curves.append((name, plot_curves(src, path)))
        except FileNotFoundError as e:
            warn(f"note: no curves for {name} ({e})")
    try:
        emb = plot_embeddings(sources, emb_path, dataset=dataset)
    except Exception as e:  # e.g. the data set is not reachable: the table is still useful
        warn(f"note: no embedding figure ({type(e).__name__}: {e})")
        emb = None
    return curves, emb


def render_markdown(title: str, blocks: list[tuple]) -> str:
    """Blocks ``("h", level, text)``, ``("p", text)``, ``("table", head, body)``, ``("img", caption, path)``
    as Markdown (images linked by name: they lie beside the report)."""
    parts = [f"# {title}"]
    for kind, *a in blocks:
        if kind == "h":
            parts.append(f"{'#' * a[0]} {a[1]}")
        elif kind == "p":
            parts.append(a[0])
        elif kind == "table":
            parts.append("\n".join(["| " + " | ".join(a[0]) + " |", "|" + "---|" * len(a[0])]
                                   + ["| " + " | ".join(cells) + " |" for cells in a[1]]))
        else:
            parts.append(f"![{a[0]}]({a[1].name})")
    return "\n\n".join(parts) + "\n"


def render_html(title: str, blocks: list[tuple]) -> str:
    """The blocks of :func:`render_markdown` as one standalone HTML page (images embedded)."""
    esc = html.escape
    parts = []
    for kind, *a in blocks:
        if kind == "h":
            parts.append(f"<h{a[0]}>{esc(a[1])}</h{a[0]}>")
        elif kind == "p":
            parts.append(f"<p>{esc(a[0])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in a[0])
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>" for cells in a[1])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        else:
            data = base64.b64encode(a[1].read_bytes()).decode()
            parts.append(f"<img alt='{esc(a[0])}' src='data:image/png;base64,{data}'/>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}</style>"
            f"</head><body><h1>{title}</h1>{''.join(parts)}</body></html>\n")


def write_report(runs: Sequence[str | Path], output: str | Path, dataset: str | None = None,
                 warn: Callable[[str], None] = print, metrics: Sequence[str] | None = None,
                 overwrite: bool = False) -> Path:
    """Write ``output`` (.md, or .html when it ends with .html) and its figures. Nothing is written
    over a run's files, nor over an existing file unless ``overwrite``."""
    from contrastrec.training.checkpoint import atomic_write_text
    from contrastrec.training.rundir import check_output_file

    out = Path(output)
    rows = collect(runs, warn)
    check_metrics(rows, metrics)
    curves_at, emb_at = figure_paths(runs, out.parent, out.stem)
    for path in [out, *(p for _, p in curves_at), emb_at]:
        check_output_file(path, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = columns(rows, metrics)
    focus = focus_metrics(rows, metrics)
    blocks: list[tuple] = [("table", [h for _, h in cols], [[_cell(r.get(k)) for k, _ in cols] for r in rows]),
                           *seeds_notes(rows), *group_blocks(rows, focus), *comparison_blocks(runs, focus)]
    curves, emb = make_figures(runs, out.parent, out.stem, dataset, warn)
    for cap, p in [(f"training curves: {n}", p) for n, p in curves] + ([("embeddings", emb)] if emb else []):
        blocks += [("h", 2, cap), ("img", cap, p)]
    render = render_html if out.suffix.lower() == ".html" else render_markdown
    atomic_write_text(out, render("contrastrec report", blocks))
    return out
