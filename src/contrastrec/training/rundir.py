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
    .lock          held while a process writes the run (the holder's pid)
    tb/, mlruns/   ``--track`` tensorboard / MLflow files
    seeds.json     (a ``train --seeds`` folder, beside its seed-S/ runs) the plan and the summary

Checkpoints and JSON are written atomically (``training/checkpoint.py``). A folder is a run when
it holds the files every run writes first (:data:`RunDir.MARKERS`) and nothing but a run's files
(:func:`foreign_entries`); only such a folder, whose lock no other live process holds, is replaced
by ``--overwrite`` (:meth:`RunDir.prepare_new`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Collection, Iterable

_TMP = re.compile(r"^\.(?P<name>.+)\.pid\d+\.[a-z0-9_]+\.tmp$")  # the temp file of an atomic write


def foreign_entries(folder: Path, own: Collection[str]) -> list[str]:
    """The names in ``folder`` that are neither in ``own`` nor an atomic-write temp file of one."""
    out = []
    for p in sorted(folder.iterdir()):
        m = _TMP.match(p.name)
        if p.name not in own and not (m and m["name"] in own):
            out.append(p.name)
    return out


def check_replaceable(folder: Path, own: Collection[str], markers: Iterable[str], what: str) -> None:
    """Refuse (RunDirError) to replace ``folder`` unless it holds every one of ``markers`` and
    nothing but ``own`` names: it is then ``what`` (e.g. "contrastrec run") and nothing else."""
    extra = foreign_entries(folder, own)
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        raise RunDirError(f"{folder}: not a {what} (it holds {extra[0]!r}{more}, which no {what} writes); "
                          "--overwrite replaces only such a folder, so choose another output")
    missing = [m for m in markers if not (folder / m).exists()]
    if missing:
        raise RunDirError(f"{folder}: not a {what} (no {missing[0]}); --overwrite replaces only such a folder, "
                          "so choose another output")


def holds(folder: Path, path: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (links resolved)."""
    folder, path = Path(folder).resolve(), Path(path).resolve()
    return path == folder or folder in path.parents


class RunDirError(RuntimeError):
    """The folder cannot be used as asked (a finished run would be clobbered, nothing to resume)."""


def used_folder(path: str | Path) -> bool:
    """Whether the folder ``path`` holds anything (a bare run lock aside); a file there is a RunDirError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a folder")
    return path.is_dir() and any(p.name != RunDir.LOCK for p in path.iterdir())


def check_output_file(path: str | Path, overwrite: bool) -> Path:
    """``path`` as a command's output file: never a file of a run (its results, checkpoints, log),
    never a folder, and an existing file only with ``overwrite``; else a one-line RunDirError."""
    p = Path(path)
    if p.name in RunDir.FILES and RunDir(p.parent).is_run():
        raise RunDirError(f"{p}: a file of the run in {p.parent}, which no other command writes over; "
                          "choose another output")
    if p.is_dir():
        raise RunDirError(f"{p}: is a folder, not a file")
    if p.exists() and not overwrite:
        raise RunDirError(f"{p}: exists; pass --overwrite to replace it")
    return p


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
    SEEDS = "seeds.json"  # a `train --seeds` folder's plan and summary (seeds.py)
    TRACKING = ("tb", "mlruns")
    FILES = frozenset({RESULTS, LOG, BEST, LAST, PRETRAINED, CONFIG, DATASET, ID_MAPS, LOCK, *TRACKING,
                       *PER_USER.values(), SEEDS})
    MARKERS = (CONFIG, ID_MAPS, DATASET)  # written together when a run starts, before its first epoch

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

    def lock_holder(self) -> int | None:
        """The pid of another live process that holds the run's lock (a run training now), else None."""
        from contrastrec.training.checkpoint import lock_holder

        pid = lock_holder(self.path)
        return pid if pid != os.getpid() else None  # this process: the caller holds it to prepare the run

    def is_run(self) -> bool:
        """Whether the folder holds the files that every run writes first (:data:`MARKERS`)."""
        return all((self.path / m).is_file() for m in self.MARKERS)

    # ------------------------------------------------------------------ writing
    def check_new(self, overwrite: bool = False, dataset: str | Path | None = None) -> bool:
        """Whether a new run may start here; True when it would replace a run. A folder that holds
        anything is refused (a finished run would be clobbered: its results and checkpoints would
        outlive the new config) unless ``overwrite``, and then only a run (its own files and nothing
        else, never the folder of ``dataset``) whose lock no other live process holds."""
        used = used_folder(self.path)
        pid = self.lock_holder() if self.path.is_dir() else None
        if pid is not None:
            raise RunDirError(f"{self.path}: a run is training there now (pid {pid} holds {self.LOCK}); "
                              "choose another --output, or wait for it")
        if not used:
            return False
        if not overwrite:
            raise RunDirError(f"{self.path}: the folder is not empty (a run is there); continue it with "
                              f"--resume {self.path}, or pass --overwrite to replace it")
        if dataset is not None and holds(self.path, dataset):
            raise RunDirError(f"{self.path}: holds the data set ({dataset}); --overwrite never replaces it, "
                              "so choose another --output")
        check_replaceable(self.path, self.FILES, self.MARKERS, "contrastrec run")
        return True

    def prepare_new(self, overwrite: bool = False, dataset: str | Path | None = None) -> None:
        """Make the folder ready for a new run (see :meth:`check_new`): a run it replaces is emptied."""
        if self.check_new(overwrite, dataset):
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
