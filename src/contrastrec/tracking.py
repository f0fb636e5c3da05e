"""Experiment trackers for ``contrastrec train --track tensorboard|mlflow``.

A tracker has ``log_params(dict)``, ``log_metrics(dict, step)`` and ``close()``;
:func:`contrastrec.training.loop.fit` calls ``log_params`` once with the flattened config and
``log_metrics`` once per epoch with every loss term (``loss/<term>``, the sum as
``loss/total``), the epoch time and every validation metric (``valid/<metric>``), then once
with the test metrics (``test/<metric>``, step = best epoch). Metric names use ``_at_`` for
``@`` (``valid/ndcg_at_20``): MLflow refuses ``@``, and both trackers use the same names.

* ``tensorboard``: event files in ``RUN/tb/`` (config as a text summary);
* ``mlflow``: a run in experiment ``contrastrec`` of ``--track-uri`` (default: the file store
  ``RUN/mlruns``; MLflow 3 keeps that backend in maintenance mode, so this module sets
  ``MLFLOW_ALLOW_FILE_STORE=true`` for it; pass ``--track-uri sqlite:///mlflow.db`` for a
  database store).

The caller that makes a tracker closes it (``with make_tracker(...) as t:``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

TRACKERS = ("tensorboard", "mlflow")
_NOT_METRICS = {"epoch", "phase", "valid", "eval_seconds"}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says what to install."""

    def __init__(self, what: str, package: str, extra: str):
        noun = "packages" if " and " in package else "package"
        super().__init__(f"{what} needs the {package} {noun}: pip install 'contrastrec[{extra}]'")


class Tracker(Protocol):
    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def close(self) -> None: ...


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"ssl": {"weight": 0.1}}`` -> ``{"ssl.weight": 0.1}``; lists become JSON strings."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else v
    return out


def metric_name(name: str) -> str:
    return name.replace("@", "_at_")


def epoch_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Loss terms, epoch seconds and validation metrics of one ``log.jsonl`` record."""
    out = {f"loss/{'total' if k == 'loss' else k}": float(v) for k, v in record.items()
           if k not in _NOT_METRICS and k != "seconds" and isinstance(v, (int, float))}
    if "seconds" in record:
        out["time/epoch_seconds"] = float(record["seconds"])
    out.update({metric_name(f"valid/{k}"): float(v) for k, v in (record.get("valid") or {}).items()})
    return out


class _Base:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class TensorBoardTracker(_Base):
    """Scalars and the config (as a markdown table) in TensorBoard event files under ``log_dir``."""

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingExtra("--track tensorboard", "tensorboard", "tensorboard") from None
        self.writer = SummaryWriter(str(log_dir))

    def log_params(self, params: dict[str, Any]) -> None:
        rows = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self.writer.add_text("config", "| key | value |\n|---|---|\n" + rows, 0)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for k, v in metrics.items():
            self.writer.add_scalar(metric_name(k), v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowTracker(_Base):
    """Params and per-step metrics in an MLflow run (experiment ``experiment``)."""

    def __init__(self, uri: str, run_name: str, experiment: str = "contrastrec"):
        try:
            import mlflow
        except ImportError:
            raise MissingExtra("--track mlflow", "mlflow", "mlflow") from None
        self.mlflow = mlflow
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment)
        self.run = mlflow.start_run(run_name=run_name)
        self.run_id = self.run.info.run_id
        self._open = True

    def log_params(self, params: dict[str, Any]) -> None:
        items = [(k, str(v)[:6000]) for k, v in params.items()]
        for s in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.mlflow.log_params(dict(items[s:s + 100]))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics({metric_name(k): float(v) for k, v in metrics.items()}, step=step)

    def close(self) -> None:
        if self._open:
            self.mlflow.end_run()
            self._open = False


def make_tracker(kind: str, run_dir: str | Path, uri: str | None = None) -> Tracker:
    """A tracker writing beside the run in ``run_dir`` (see the module docstring)."""
    run_dir = Path(run_dir)
    if kind == "tensorboard":
        return TensorBoardTracker(uri or run_dir / "tb")
    if kind == "mlflow":
        if uri is None:
            uri = (run_dir / "mlruns").resolve().as_uri()
        if uri.startswith("file:") or "://" not in uri:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return MLflowTracker(uri, run_name=run_dir.resolve().name)
    raise ValueError(f"unknown tracker {kind!r}; valid: {', '.join(TRACKERS)}")
