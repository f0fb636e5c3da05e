"""A run directory: the one place that names the files of a run.

    results.json   valid and test metrics, best epoch, costs, the full config
    log.jsonl      one line per epoch: loss terms, validation metrics, seconds
    best.pt        the validation-selected checkpoint (config + model)
    last.pt        the resume point (config + model + optimizer + loop state)
    pretrained.pt  schema=pretrain_finetune: the model at the end of pre-training
    config.yaml    the config, readable
    dataset.json   the data set's summary, path and notes
    id_maps.json   raw ids <-> indices
    per_user_valid.parquet, per_user_test.parquet
                   the final evaluations' values per user (raw id, groups, every metric)
    .lock          held while a process writes the run

Checkpoints and JSON are written atomically (``training/checkpoint.py``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


class RunDirError(RuntimeError):
    """The folder cannot be used as asked (a finished run would be clobbered, nothing to resume)."""


class RunDir:
    RESULTS = "results.json"
    LOG = "log.jsonl"
    BEST = "best.pt"
    LAST = "last.pt"
    PRETRAINED = "pretrained.pt"
    CONFIG = "config.yaml"
    DATASET = "dataset.json"
    ID_MAPS = "id_maps.json"
    LOCK = ".lock"
    PER_USER = {"valid": "per_user_valid.parquet", "test": "per_user_test.parquet"}

    @classmethod
    def per_user_name(cls, phase: str) -> str:
        return cls.PER_USER[phase]

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    results = property(lambda self: self.path / self.RESULTS)
    log = property(lambda self: self.path / self.LOG)
    best = property(lambda self: self.path / self.BEST)
    last = property(lambda self: self.path / self.LAST)
    pretrained = property(lambda self: self.path / self.PRETRAINED)
    config = property(lambda self: self.path / self.CONFIG)
    dataset = property(lambda self: self.path / self.DATASET)
    id_maps = property(lambda self: self.path / self.ID_MAPS)
    lock = property(lambda self: self.path / self.LOCK)

    # ------------------------------------------------------------------ reading
    def read_json(self, name: str, missing: Any = None) -> Any:
        """``name`` parsed, ``missing`` when absent; a corrupt file is a one-line RunDirError."""
        p = self.path / name
        if not p.exists():
            return missing
        try:
            return json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunDirError(f"{p}: not valid JSON ({e})") from None

    def read_results(self) -> dict[str, Any]:
        res = self.read_json(self.RESULTS)
        if res is None:
            raise RunDirError(f"{self.results}: not found (the run has not finished)")
        return res

    def read_log(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    # ------------------------------------------------------------------ writing
    def prepare_new(self, overwrite: bool = False) -> None:
        """Make the folder ready for a new run. A folder that holds anything is refused (a finished
        run would be clobbered: its results and checkpoints would outlive the new config) unless
        ``overwrite``, which empties it first."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: exists and is not a folder")
        if self.path.is_dir() and any(p.name != self.LOCK for p in self.path.iterdir()):
            if not overwrite:
                raise RunDirError(f"{self.path}: the folder is not empty (a run is there); continue it with "
                                  f"--resume {self.path}, or pass --overwrite to replace it")
            for p in self.path.iterdir():
                if p.name == self.LOCK:
                    continue
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        self.path.mkdir(parents=True, exist_ok=True)

    def truncate_log(self, before_epoch: int) -> None:
        """Keep the log lines of epochs ``< before_epoch`` (a resumed run rewrites the epochs after
        its resume point, so each epoch appears once)."""
        if not self.log.exists():
            return
        keep = [line for line in self.log.read_text().splitlines()
                if line.strip() and json.loads(line).get("epoch", -1) < before_epoch]
        from contrastrec.training.checkpoint import atomic_write_text

        atomic_write_text(self.log, "".join(line + "\n" for line in keep))

    def append_log(self, record: dict[str, Any]) -> None:
        import os

        from contrastrec.training.checkpoint import WriteError

        try:
            with open(self.log, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise WriteError(e.errno, f"{self.log}: cannot write ({os.strerror(e.errno).lower() if e.errno else e})") from e
