"""Hyper-parameter search with Optuna (``contrastrec tune``), selected on validation only.

* sampler: TPE seeded with the config's ``seed``; pruner: ``MedianPruner`` on the per-epoch
  validation metric (``cfg.metric``), reported from :func:`~contrastrec.training.loop.fit`
  through its ``tracker`` hook (:class:`PruningReporter` raises ``optuna.TrialPruned``);
* every trial is a full run in ``DIR/trials/NNN`` trained with ``evaluate_test=False``;
* the best trial (highest validation metric) is copied to ``DIR/best`` and evaluated on the test
  set exactly once: ``DIR/best/results.json`` gains ``"test"`` and ``"tuning"``;
* ``DIR/trials.csv`` and ``DIR/trials.md`` list every trial.

``DIR`` must be new or empty: a used folder is refused (an earlier study would mix with this one).

Equal budgets (:func:`tune_models`, ``tune --model A --model B --budget-seconds S``): every model gets
the same ``--trials`` trials (pruned and failed ones count) and the same per-trial training budget
``max_train_seconds = S / trials``, so at most ``S`` seconds of training per model; each model's study
is then ``DIR/MODEL/`` (one model: ``DIR`` itself) and ``DIR/budget.json`` and ``DIR/summary.md``
record, per model, the trials run, the seconds used, the trials cut by the budget and the selected
setting with its (single) test result. The selected trial was trained under the same budget as
every trial, so it is reused, not retrained.

A search space maps config keys to distributions (the ``--space`` YAML format)::

    lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    embedding_dim: {type: categorical, choices: [32, 64, 128]}
    n_layers: {type: int, low: 1, high: 4}

Without ``--space`` the model's default space (its ``SPACE``, declared in the model's file) is used.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from contrastrec.config import ConfigError, build_config, load_yaml, model_class, valid_keys
from contrastrec.models.registry import RegistryView

Space = dict[str, dict[str, Any]]

SPACES = RegistryView("SPACE")  # model name -> its default search space


def default_space(model: str) -> Space:
    """The model's default search space (its class's ``SPACE``)."""
    return dict(model_class(model).SPACE)


def check_space(space: Space, source: str = "space", model: str | None = None) -> Space:
    """Validate keys (config keys; with ``model``, its own section's too) and distributions; raise
    ConfigError naming the problem."""
    keys = set(valid_keys(model=model))
    for key, d in space.items():
        if key not in keys:
            raise ConfigError(f"{source}: unknown config key {key!r}")
        if not isinstance(d, dict) or d.get("type") not in ("float", "int", "categorical"):
            raise ConfigError(f"{source}: {key}: expected {{type: float|int|categorical, ...}}, got {d!r}")
        if d["type"] == "categorical":
            if not isinstance(d.get("choices"), list) or not d["choices"]:
                raise ConfigError(f"{source}: {key}: categorical needs a non-empty list 'choices'")
        elif "low" not in d or "high" not in d or not float(d["low"]) <= float(d["high"]):
            raise ConfigError(f"{source}: {key}: {d['type']} needs low <= high")
        elif d.get("log") and float(d["low"]) <= 0:
            raise ConfigError(f"{source}: {key}: log scale needs low > 0")
    return space


def load_space(path: str | Path, model: str | None = None) -> Space:
    return check_space(load_yaml(path), str(path), model=model)


def suggest(trial, space: Space) -> dict[str, Any]:
    """Draw one value per key from ``trial``."""
    out: dict[str, Any] = {}
    for key, d in space.items():
        if d["type"] == "categorical":
            out[key] = trial.suggest_categorical(key, d["choices"])
        elif d["type"] == "int":
            out[key] = trial.suggest_int(key, int(d["low"]), int(d["high"]), step=int(d.get("step", 1)),
                                         log=bool(d.get("log", False)))
        else:
            out[key] = trial.suggest_float(key, float(d["low"]), float(d["high"]), step=d.get("step"),
                                           log=bool(d.get("log", False)))
    return out


class PruningReporter:
    """A ``fit`` tracker that reports the validation metric to an Optuna trial and prunes."""

    def __init__(self, trial, metric: str):
        from contrastrec.tracking import metric_name

        self.trial, self.key = trial, metric_name(f"valid/{metric}")

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        import optuna

        if self.key in metrics:
            self.trial.report(metrics[self.key], step)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {step}")

    def close(self) -> None:
        pass


def _require_optuna():
    try:
        import optuna
    except ImportError:
        from contrastrec.tracking import MissingExtra

        raise MissingExtra("contrastrec tune", "optuna", "tune") from None
    return optuna


def _write_tables(study, out: Path, metric: str) -> list[dict[str, Any]]:
    rows = []
    for t in study.trials:
        rows.append({"trial": t.number, "state": t.state.name.lower(), f"valid_{metric}": t.value,
                     "last_epoch": t.last_step, **t.params, **t.user_attrs,
                     "seconds": round(t.duration.total_seconds(), 2) if t.duration else None})
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(out / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)

    def cell(v: Any) -> str:
        return "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    (out / "trials.md").write_text("\n".join(lines) + "\n")
    return rows


@dataclass(frozen=True)
class Budget:
    """What every tuned model gets: ``trials`` trials, each trained at most ``seconds / trials``
    seconds (``max_train_seconds``; ``seconds=0``: no time limit)."""

    trials: int
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ConfigError(f"--trials: must be >= 1, got {self.trials}")
        if not self.seconds >= 0:
            raise ConfigError(f"--budget-seconds: must be >= 0, got {self.seconds}")

    @property
    def per_trial(self) -> float:
        return self.seconds / self.trials

    def overrides(self, fixed: dict[str, Any]) -> dict[str, Any]:
        """``fixed`` with the per-trial ``max_train_seconds``; a fixed one as well is refused."""
        if not self.seconds:
            return dict(fixed)
        if "max_train_seconds" in fixed:
            raise ConfigError("max_train_seconds: set by --budget-seconds (budget / trials); do not --set it too")
        return {**fixed, "max_train_seconds": self.per_trial}


def _trial_record(trial, res: dict[str, Any]) -> None:
    trial.set_user_attr("best_epoch", res["best_epoch"])
    trial.set_user_attr("train_seconds", res["train_seconds"])
    trial.set_user_attr("stopped", res.get("stopped"))


def _study_record(study, budget: Budget, seconds: float) -> dict[str, Any]:
    """What budget.json says of one model's study: trials by state, seconds, trials cut by the budget."""
    states = [t.state.name.lower() for t in study.trials]
    attrs = [t.user_attrs for t in study.trials]
    return {"trials": len(states), **{s: states.count(s) for s in ("complete", "pruned", "fail")},
            "cut_by_budget": sum(a.get("stopped") == "max_train_seconds" for a in attrs),
            "seconds": round(seconds, 2),
            "train_seconds": round(sum(a.get("train_seconds", 0.0) for a in attrs), 2),
            "max_train_seconds_per_trial": budget.per_trial or None}


def _prepare(model: str, dataset: str | Path, space: Space | None, fixed: dict[str, Any]):
    """``(config of the first trial, space)``, checked before any trial of any model."""
    cfg0 = build_config(model, None, {**fixed, "dataset": str(dataset)})
    space = check_space(space if space is not None else default_space(cfg0.model), model=cfg0.model)
    if not space:
        raise ConfigError(f"model {cfg0.model!r} has no hyper-parameters to tune")
    return cfg0, space


def _refuse_used(out: Path) -> None:
    from contrastrec.training.rundir import RunDirError, used_folder

    if used_folder(out):  # an earlier study's trials.csv, trials/ and best/ would mix with this one's
        raise RunDirError(f"{out}: the folder is not empty (a study or other files are there); "
                          "choose another --output")


def tune(model: str, dataset: str | Path, trials: int, output: str | Path, space: Space | None = None,
         overrides: dict[str, Any] | None = None, n_startup_trials: int = 3, n_warmup_steps: int = 2,
         log: Callable[[str], None] = print, budget_seconds: float = 0.0) -> dict[str, Any]:
    """Run the search; returns ``{"best_trial", "params", "valid", "test", "output", "budget"}``
    (``budget``: the study's record, see :func:`tune_models`)."""
    optuna = _require_optuna()
    from contrastrec.data import dataset_for
    from contrastrec.training.checkpoint import atomic_write_json
    from contrastrec.training.loop import TrainingError, fit, test_run
    from contrastrec.training.rundir import RunDir

    out = Path(output)
    _refuse_used(out)
    budget = Budget(trials, budget_seconds)
    base = {**budget.overrides(overrides or {}), "dataset": str(dataset)}
    cfg0, space = _prepare(model, dataset, space, base)
    ds = dataset_for(cfg0)
    out.mkdir(parents=True, exist_ok=True)
    metric = cfg0.metric.lower()

    def objective(trial) -> float:
        params = suggest(trial, space)
        cfg = build_config(model, None, {**base, **params})
        run = RunDir(out / "trials" / f"{trial.number:03d}")
        try:
            res = fit(cfg, ds, run.path, progress=False, log=lambda s: None,
                      tracker=PruningReporter(trial, metric), evaluate_test=False)
        except optuna.TrialPruned:  # its epochs count against the budget too
            trial.set_user_attr("train_seconds", round(sum(r.get("seconds", 0.0) for r in run.read_log()), 3))
            raise
        _trial_record(trial, res)
        value = float(res["valid"][metric])
        log(f"{cfg0.model} trial {trial.number}: valid {metric} {value:.4f}  {json.dumps(params)}")
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", study_name=f"contrastrec-{cfg0.model}",
        sampler=optuna.samplers.TPESampler(seed=cfg0.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps),
    )
    t0 = time.time()
    study.optimize(objective, n_trials=trials, catch=(TrainingError, ConfigError))
    record = _study_record(study, budget, time.time() - t0)
    _write_tables(study, out, metric)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise TrainingError(f"no trial completed; see {out / 'trials.csv'}")
    best = study.best_trial
    best_dir = out / "best"
    shutil.copytree(out / "trials" / f"{best.number:03d}", best_dir)

    # the single test evaluation, on the validation-selected trial's best checkpoint (trained under
    # the same per-trial budget as every trial, so it is not retrained)
    cfg = build_config(model, None, {**base, **best.params})
    test = test_run(best_dir, cfg, ds)
    results = json.loads((best_dir / "results.json").read_text())
    results["tuning"] = {"trial": best.number, "params": best.params, "metric": metric, "value": best.value,
                         "n_trials": len(study.trials), "n_complete": len(done), "sampler": "TPE",
                         "pruner": "median", "budget": record}
    atomic_write_json(best_dir / "results.json", results)
    log(f"{cfg0.model} best trial {best.number}: valid {metric} {best.value:.4f}; test {json.dumps(test)}")
    return {"model": cfg0.model, "best_trial": best.number, "params": best.params, "metric": metric,
            "valid": results["valid"], "test": test, "output": str(out), "budget": record}


def tune_models(models: list[str], dataset: str | Path, trials: int, output: str | Path,
                spaces: dict[str, Space] | None = None, overrides: dict[str, Any] | None = None,
                budget_seconds: float = 0.0, log: Callable[[str], None] = print, **kwargs: Any) -> dict[str, Any]:
    """Tune each of ``models`` at one budget (the same trials, the same per-trial seconds), one after
    the other, into ``output/MODEL`` (one model: ``output``); write ``output/budget.json`` and
    ``output/summary.md``. Every model's config and space is checked before the first trial."""
    _require_optuna()
    from contrastrec.training.checkpoint import atomic_write_json, atomic_write_text

    out = Path(output)
    _refuse_used(out)
    if not models or len(set(models)) != len(models):
        raise ConfigError(f"--model: name each model once, got {', '.join(models) or 'none'}")
    spaces = spaces or {}
    unknown = sorted(set(spaces) - set(models))
    if unknown:
        raise ConfigError(f"--space: {unknown[0]!r} is not a tuned --model")
    budget = Budget(trials, budget_seconds)
    fixed = budget.overrides(overrides or {})
    checked = {m: _prepare(m, dataset, spaces.get(m), fixed)[1] for m in models}
    runs = [tune(m, dataset, trials, out if len(models) == 1 else out / m, checked[m], overrides,
                 log=log, budget_seconds=budget_seconds, **kwargs) for m in models]
    summary = {"dataset": str(dataset), "trials": trials, "budget_seconds": budget_seconds or None,
               "max_train_seconds_per_trial": budget.per_trial or None,
               "policy": "each model: the same trials (pruned and failed ones count) and, with --budget-seconds, "
                         "max_train_seconds = budget / trials per trial; selection on validation; the selected "
                         "trial's checkpoint tested once",
               "models": {r["model"]: {k: r[k] for k in ("output", "best_trial", "params", "metric", "valid",
                                                        "test", "budget")} for r in runs}}
    atomic_write_json(out / "budget.json", summary)
    atomic_write_text(out / "summary.md", summary_table(summary))
    return summary


def summary_table(summary: dict[str, Any]) -> str:
    """The markdown table of ``budget.json``: one row per tuned model."""
    def num(v: Any) -> str:
        return "" if v is None else f"{v:.4f}"

    def params(p: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())

    lines = [f"Equal-budget tuning on {summary['dataset']}: {summary['trials']} trials per model"
             + (f", {summary['budget_seconds']:g} s of training per model "
                f"({summary['max_train_seconds_per_trial']:g} s per trial)" if summary["budget_seconds"] else "")
             + "; selected on validation, tested once.", "",
             "| model | trials | complete | pruned | failed | cut by budget | seconds | train seconds "
             "| best valid | test (selected) | selected params |", "|" + "---|" * 11]
    for name, m in summary["models"].items():
        b, metric = m["budget"], m["metric"]
        lines.append(f"| {name} | {b['trials']} | {b['complete']} | {b['pruned']} | {b['fail']} | {b['cut_by_budget']} "
                     f"| {b['seconds']:.1f} | {b['train_seconds']:.1f} | {metric} {num(m['valid'].get(metric))} "
                     f"| {metric} {num(m['test'].get(metric))} | {params(m['params'])} |")
    return "\n".join(lines) + "\n"
