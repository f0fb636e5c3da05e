"""Figures of trained runs (matplotlib, Agg backend: no display needed).

* :func:`plot_embeddings`: one column per run, titled with the model name. Item and user
  embeddings are projected to 2-D (centered SVD, i.e. PCA; t-SNE is too slow for a report) and
  L2-normalized onto the unit circle, as in the SimGCL paper's uniformity figure. Top row: the
  points (a random subsample); bottom row: a Gaussian KDE of their angles. A flatter angle
  density means more uniform representations.
* :func:`plot_curves`: loss terms and validation metrics per epoch from ``log.jsonl``.

A figure's format is its file's suffix, one of :data:`FORMATS`; see :func:`check_output`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


FORMATS: tuple[str, ...] = ("png", "pdf", "svg")


class PlotOutputError(ValueError):
    """A figure path that cannot be written as asked (format, a folder, an existing file)."""


def check_output(output: str | Path, overwrite: bool = False) -> Path:
    """``output`` as the figure file to write: not a folder, its suffix one of :data:`FORMATS`, and
    not an existing file unless ``overwrite``; else a one-line :class:`PlotOutputError` naming it."""
    out = Path(output)
    if out.is_dir():
        raise PlotOutputError(f"{out}: is a folder; give a file name ending in {_suffixes()}")
    if out.suffix[1:].lower() not in FORMATS:
        raise PlotOutputError(f"{out}: unknown figure format {out.suffix or '(no suffix)'!r}; "
                              f"use a name ending in {_suffixes()}")
    if out.exists() and not overwrite:
        raise PlotOutputError(f"{out}: exists; pass --overwrite to replace it")
    return out


def _suffixes() -> str:
    return ", ".join(f".{f}" for f in FORMATS[:-1]) + f" or .{FORMATS[-1]}"


def circle_projection(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` -> 2-D unit vectors: top-2 principal directions, then L2 normalization."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 rows and 2 dimensions to project, got shape {x.shape}")
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    p = x @ vt[:2].T
    return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)


def angle_density(points: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE of the angles of 2-D unit vectors on ``grid`` (radians), wrapped at ±π."""
    from scipy.stats import gaussian_kde

    a = np.arctan2(points[:, 1], points[:, 0])
    if len(a) < 2 or np.ptp(a) == 0:
        return np.zeros_like(grid)
    wrapped = np.concatenate([a - 2 * np.pi, a, a + 2 * np.pi])
    kde = gaussian_kde(wrapped, bw_method=0.05)
    return 3 * kde(grid)


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[rng.choice(len(x), n, replace=False)]


def plot_embeddings(runs: Sequence[str | Path], output: str | Path, max_points: int = 2000, seed: int = 0,
                    dataset: str | None = None, overwrite: bool = True) -> Path:
    """Side-by-side embedding distributions of ``runs`` (see the module docstring); ``output`` is
    checked first (:func:`check_output`)."""
    from contrastrec.serving.run import load_run

    output = check_output(output, overwrite)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(2, len(runs), figsize=(3.6 * len(runs), 6.6), squeeze=False)
    grid = np.linspace(-np.pi, np.pi, 361)
    for col, path in enumerate(runs):
        run = load_run(path, dataset)
        users, items = run.embeddings("test")
        top, bottom = axes[0, col], axes[1, col]
        top.set_title(f"{run.cfg.model}\n{run.name}", fontsize=9)
        top.set_aspect("equal")
        top.set_xlim(-1.15, 1.15)
        top.set_ylim(-1.15, 1.15)
        bottom.set_xlabel("angle (rad)")
        if items.shape[1] < 2:
            top.text(0, 0, f"dimension {items.shape[1]}:\nnothing to project", ha="center", va="center")
            continue
        for name, emb, color in (("items", items, "tab:blue"), ("users", users, "tab:orange")):
            if len(emb) < 2:
                continue
            p = circle_projection(_subsample(emb, max_points, rng))
            top.scatter(p[:, 0], p[:, 1], s=4, alpha=0.3, color=color, label=name)
            bottom.plot(grid, angle_density(p, grid), color=color, label=name)
        top.legend(loc="upper right", fontsize=7, markerscale=3)
        bottom.set_xlim(-np.pi, np.pi)
    axes[1, 0].set_ylabel("density")
    fig.tight_layout()
    return _save(fig, output)


def read_log(run: str | Path) -> list[dict]:
    path = Path(run) / "log.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no training log")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(run: str | Path, output: str | Path, metrics: Sequence[str] | None = None,
                overwrite: bool = True) -> Path:
    """Loss terms (left) and validation metrics (right) per epoch of one run; ``output`` is checked
    first (:func:`check_output`)."""
    output = check_output(output, overwrite)
    records = read_log(run)
    skip = {"epoch", "phase", "seconds", "eval_seconds", "valid"}
    terms = list(dict.fromkeys(k for r in records for k in r if k not in skip))
    names = list(dict.fromkeys(k for r in records for k in (r.get("valid") or {})))
    if metrics:
        names = [m for m in names if m in metrics]
    elif len(names) > 6:  # keep the plot readable: recall and ndcg at every k
        names = [m for m in names if m.split("@")[0] in ("recall", "ndcg")] or names[:6]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for t in terms:
        pts = [(r["epoch"], r[t]) for r in records if isinstance(r.get(t), (int, float))]
        if pts:
            left.plot(*zip(*pts), marker=".", label=t)
    for m in names:
        pts = [(r["epoch"], r["valid"][m]) for r in records if m in (r.get("valid") or {})]
        right.plot(*zip(*pts), marker=".", label=m)
    if left.lines and all(y > 0 for line in left.lines for y in line.get_ydata()):
        left.set_yscale("log")  # terms differ by orders of magnitude (reg vs rec)
    left.set(title="loss terms", xlabel="epoch")
    right.set(title="validation", xlabel="epoch")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(Path(run).resolve().name, fontsize=10)
    fig.tight_layout()
    return _save(fig, output)


def _save(fig, out: Path) -> Path:
    """Write ``fig`` to ``out`` (a :func:`check_output` path) in the format of its suffix, all or nothing."""
    from contrastrec.training.checkpoint import atomic_write_bytes

    try:
        atomic_write_bytes(out, lambda f: fig.savefig(f, format=out.suffix[1:].lower(), dpi=110))
    finally:
        plt.close(fig)
    return out
