"""Comparison report of trained runs (``contrastrec report RUN... --output report.md|.html``).

One table (model, data set, test metrics (default: recall and ndcg at every k), best epoch,
epochs, seconds/epoch, train seconds, peak memory, alignment/uniformity when ``results.json``
has them), then each run's training curves and one figure with every run's embedding
distribution. PNG files are written beside the
report (``<stem>-curves-<run>.png``, ``<stem>-embeddings.png``); Markdown links them relatively,
HTML embeds them (base64) so the file stands alone.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, Callable, Sequence

_FIXED = [("model", "model"), ("dataset", "dataset")]
_TAIL = [("best_epoch", "best epoch"), ("epochs", "epochs"), ("seconds_per_epoch", "s/epoch"),
         ("train_seconds", "train s"), ("peak_memory_mb", "peak MB"), ("alignment", "alignment"),
         ("uniformity", "uniformity")]


def _metric_order(name: str) -> tuple:
    base, _, k = name.partition("@")
    return (base, int(k) if k.isdigit() else 0)


def _checkpoint_model(run: Path) -> str | None:
    """The model of the run's ``best.pt`` (the weights its test metrics come from), None without one."""
    from contrastrec.training.checkpoint import load_checkpoint

    best = run / "best.pt"
    return str(load_checkpoint(best, mmap=True)["config"].get("model")) if best.exists() else None


def collect(runs: Sequence[str | Path], warn: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One flat row per run from its ``results.json`` (test metrics as ``test <metric>``); the model
    is the one in ``best.pt`` (a ``results.json`` that says otherwise is noted through ``warn``)."""
    from contrastrec.training.rundir import RunDir

    rows = []
    for run in runs:
        path = Path(run) / "results.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no results (is {run} a finished run?)")
        r = RunDir(run).read_results()
        emb = r.get("embedding") or {}
        row = {"run": Path(run).resolve().name, **{k: r.get(k) for k, _ in _FIXED + _TAIL}}
        model = _checkpoint_model(Path(run))
        if model is not None and model != r.get("model"):
            warn(f"note: {path} says model {r.get('model')!r}, but {Path(run) / 'best.pt'} holds a {model}: "
                 f"the report shows {model}")
            row["model"] = model
        row["alignment"], row["uniformity"] = emb.get("alignment"), emb.get("uniformity")
        row.update({f"test {m}": v for m, v in (r.get("test") or {}).items()})
        rows.append(row)
    return rows


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


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def figure_paths(runs: Sequence[str | Path], out_dir: Path, stem: str) -> tuple[list[tuple[str, Path]], Path]:
    """Where the figures go: ``([(run name, curves.png)], embeddings.png)``."""
    names = [Path(run).resolve().name for run in runs]
    curves = [(n, out_dir / f"{stem}-curves-{i}-{_slug(n)}.png") for i, n in enumerate(names)]
    return curves, out_dir / f"{stem}-embeddings.png"


def make_figures(runs: Sequence[str | Path], out_dir: Path, stem: str, dataset: str | None = None,
                 warn: Callable[[str], None] = print) -> tuple[list[tuple[str, Path]], Path | None]:
    """Write the PNGs; returns ``([(run name, curves.png)], embeddings.png or None)``."""
    from contrastrec.plots import plot_curves, plot_embeddings

    curves = []
    planned, emb_path = figure_paths(runs, out_dir, stem)
    for run, (name, path) in zip(runs, planned):
        try:
            curves.append((name, plot_curves(run, path)))
        except FileNotFoundError as e:
            warn(f"note: no curves for {name} ({e})")
    try:
        emb = plot_embeddings(runs, emb_path, dataset=dataset)
    except Exception as e:  # e.g. the data set is not reachable: the table is still useful
        warn(f"note: no embedding figure ({type(e).__name__}: {e})")
        emb = None
    return curves, emb


def write_report(runs: Sequence[str | Path], output: str | Path, dataset: str | None = None,
                 warn: Callable[[str], None] = print, metrics: Sequence[str] | None = None,
                 overwrite: bool = False) -> Path:
    """Write ``output`` (.md, or .html when it ends with .html) and its figures. Nothing is written
    over a run's files, nor over an existing file unless ``overwrite``."""
    from contrastrec.training.rundir import check_output_file

    out = Path(output)
    rows = collect(runs, warn)
    check_metrics(rows, metrics)
    curves_at, emb_at = figure_paths(runs, out.parent, out.stem)
    for path in [out, *(p for _, p in curves_at), emb_at]:
        check_output_file(path, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    cols = columns(rows, metrics)
    curves, emb = make_figures(runs, out.parent, out.stem, dataset, warn)
    figures = [(f"training curves: {n}", p) for n, p in curves] + ([("embeddings", emb)] if emb else [])
    title = "contrastrec report"
    if out.suffix.lower() == ".html":
        head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k)))}</td>" for k, _ in cols) + "</tr>"
                       for r in rows)
        imgs = "".join(
            f"<h3>{html.escape(cap)}</h3><img alt='{html.escape(cap)}' "
            f"src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'/>" for cap, p in figures)
        text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
                "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}</style>"
                f"</head><body><h1>{title}</h1><table><tr>{head}</tr>{body}</table>{imgs}</body></html>\n")
    else:
        lines = [f"# {title}", "", "| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_cell(r.get(k)) for k, _ in cols) + " |" for r in rows]
        for cap, p in figures:
            lines += ["", f"## {cap}", "", f"![{cap}]({p.name})"]
        text = "\n".join(lines) + "\n"
    from contrastrec.training.checkpoint import atomic_write_text

    atomic_write_text(out, text)
    return out
