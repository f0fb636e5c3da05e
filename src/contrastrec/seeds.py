"""Several training seeds of one config in one folder (``contrastrec train --seeds N``).

    RUN/seeds.json       the plan (config, seeds) and, once every seed has finished, the summary:
                         per metric the mean, the standard deviation and a t confidence interval
    RUN/seed-<s>/        a complete run for seed s (results.json, per_user_test.parquet, ...)

Every seed trains and tests on one split: ``split_seed`` is fixed to the first seed. The seeds run
one after the other; ``train --resume RUN`` continues the unfinished ones (each is an ordinary run:
it resumes from its own ``last.pt``). ``compare`` and ``report`` read such a folder: per user, the
mean over the seeds; per metric, the seeds' mean and interval.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from contrastrec.training.checkpoint import atomic_write_json
from contrastrec.training.rundir import RunDir, RunDirError

SEEDS_FILE = RunDir.SEEDS

__all__ = ["SEEDS_FILE", "is_seeds_run", "seed_folders", "train_seeds", "resume_seeds", "summarize_seeds"]


def is_seeds_run(path: str | Path) -> bool:
    return (Path(path) / SEEDS_FILE).is_file()


def seed_folders(path: str | Path) -> list[Path]:
    """The seed runs of a ``--seeds`` folder, in the planned order."""
    plan = RunDir(path).read_json(SEEDS_FILE)
    if not isinstance(plan, dict) or not isinstance(plan.get("seeds"), list):
        raise RunDirError(f"{Path(path) / SEEDS_FILE}: not a seeds plan (no 'seeds' list)")
    return [Path(path) / f"seed-{int(s)}" for s in plan["seeds"]]


def _interval(values: list[float], level: float = 0.95) -> dict[str, Any]:
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "std": None, "ci": None, "values": v.tolist()}
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1)) * std / math.sqrt(v.size)
    return {"mean": mean, "std": std, "ci": [mean - half, mean + half], "values": v.tolist()}


def summarize_seeds(results: list[dict], seeds: list[int], level: float = 0.95) -> dict[str, Any]:
    """Mean, standard deviation (ddof 1) and ``level`` t-interval over the seeds of every valid and
    test metric and of the test group metrics."""
    out: dict[str, Any] = {"seeds": seeds, "level": level}
    for phase in ("valid", "test"):
        if all(r.get(phase) for r in results):
            out[phase] = {k: _interval([r[phase][k] for r in results], level) for k in results[0][phase]}
    groups = [((r.get("groups") or {}).get("test") or {}) for r in results]
    if all(groups) and groups[0].get("item_groups") is not None:
        g: dict[str, Any] = {}
        for kind in ("item_groups", "user_groups"):
            g[kind] = {}
            for label, vals in groups[0][kind].items():
                keys = [k for k, v in vals.items() if "@" in k and v is not None]
                g[kind][label] = {k: _interval([x[kind][label][k] for x in groups if x[kind][label].get(k) is not None], level)
                                  for k in keys}
        out["test_groups"] = g
    out["best_epoch"] = [r["best_epoch"] for r in results]
    out["train_seconds"] = [r["train_seconds"] for r in results]
    return out


def _write_plan(output: Path, cfg_dict: dict, seeds: list[int], summary: dict | None = None) -> None:
    atomic_write_json(output / SEEDS_FILE, {"seeds": seeds, "config": cfg_dict,
                                            **({"summary": summary} if summary else {})})


def train_seeds(cfg, dataset, output: str | Path, n: int, fit_fn: Callable[..., dict], **fit_kwargs) -> dict:
    """Train ``n`` seeds (``cfg.seed``, ``cfg.seed + 1``, ...) of ``cfg`` on ``dataset`` into
    ``output/seed-<s>/`` and write ``output/seeds.json``; returns its summary. ``output`` is a new
    (prepared, empty) folder."""
    if n < 2:
        raise ValueError(f"--seeds needs at least 2 seeds, got {n}")
    output = Path(output)
    base = cfg if cfg.split_seed is not None else dataclasses.replace(cfg, split_seed=cfg.seed)
    seeds = [base.seed + i for i in range(n)]
    _write_plan(output, base.to_dict(), seeds)
    return _run_seeds(output, base, seeds, dataset, fit_fn, resume=False, **fit_kwargs)


def resume_seeds(output: str | Path, dataset_fn: Callable[[Any], Any], fit_fn: Callable[..., dict],
                 overrides: dict | None = None, **fit_kwargs) -> dict:
    """Continue the seeds of ``output`` (``train --resume``): finished seeds are kept, interrupted
    ones resumed, missing ones started."""
    from contrastrec.config import ConfigError, config_from_dict, resume_config

    output = Path(output)
    plan = RunDir(output).read_json(SEEDS_FILE)
    seeds = [int(s) for s in plan["seeds"]]
    try:
        base = resume_config(config_from_dict(plan["config"]), overrides or {})
    except ConfigError as e:
        raise RunDirError(f"{output / SEEDS_FILE}: {e}") from None
    return _run_seeds(output, base, seeds, dataset_fn(base), fit_fn, resume=True, overrides=overrides, **fit_kwargs)


def _run_seeds(output: Path, base, seeds: list[int], dataset, fit_fn, resume: bool, overrides=None, **fit_kwargs) -> dict:
    log = fit_kwargs.get("log", print)
    results = []
    for s in seeds:
        run = RunDir(output / f"seed-{s}")
        cfg = dataclasses.replace(base, seed=s)
        if resume and run.results.exists():
            results.append(run.read_results())
            continue
        again = resume and run.last.exists()
        log(f"seed {s} ({seeds.index(s) + 1} of {len(seeds)}){' (resumed)' if again else ''}")
        kw = dict(fit_kwargs, resume_overrides=overrides or {}) if again else fit_kwargs
        results.append(fit_fn(cfg, dataset, run.path, resume=again, **kw))
    summary = summarize_seeds(results, seeds)
    _write_plan(output, base.to_dict(), seeds, summary)
    return summary
