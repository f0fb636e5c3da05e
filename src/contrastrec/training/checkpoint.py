"""Checkpoints: written atomically (temp file + fsync + rename), loaded with ``weights_only=True``.

A checkpoint is a plain dict of tensors and Python scalars/containers, and always carries the
run's config, so it can be rebuilt without any other file.

Failures are one-line errors naming the file: :class:`CheckpointError` (a ``ValueError``) for a
file that is not a loadable checkpoint (truncated, corrupt, unsafe, no config), :class:`WriteError`
(an ``OSError``, same ``errno``) when a write fails (full disk, unwritable folder). A failed or
killed write never replaces the previous file; the temp file it leaves (``.NAME.pid<PID>.*.tmp``)
is removed by the next write of the same file once its writer is dead (:func:`clean_stale_tmp`).
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import torch


class CheckpointError(ValueError):
    """A file that cannot be used as a checkpoint; the message is ``"<path>: <cause>"`` on one line."""


class WriteError(OSError):
    """A failed atomic write (``errno`` kept); the message is ``"<path>: <cause>"`` on one line."""

    def __str__(self) -> str:
        return self.strerror or ""


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _torch_cause(e: BaseException) -> str:
    """The informative part of a torch.load error (its messages run to several paragraphs)."""
    text = " ".join(str(e).split())
    m = re.search(r"WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", text)
    text = m[1] if m and m[1] else text
    return _one_line(text.split(". This is an internal miniz error")[0], 120)


def _os_error_in_chain(e: BaseException | None) -> OSError | None:
    """The OSError behind ``e``: torch.save's zip writer answers a failed ``write`` (full disk) with
    its own RuntimeError ("unexpected pos ..."), raised while the OSError is being handled."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _reason(e: OSError) -> str:
    return os.strerror(e.errno).lower() if e.errno else _one_line(e)


_IN_FLIGHT: set[str] = set()  # this process's temp files being written now
_TMP_TAIL = re.compile(r"^(?:pid(?P<pid>\d+)\.)?[a-z0-9_]+\.tmp$")  # after ".NAME." (mkstemp's letters)
_TMP_ANY = re.compile(r"^\..+\.pid(?P<pid>\d+)\.[a-z0-9_]+\.tmp$")


def clean_stale_tmp(directory: str | Path, name: str | None = None) -> list[Path]:
    """Remove the temp files of atomic writes in ``directory`` whose writer is dead (a killed
    process), only those of target ``name`` if given; returns the removed paths. Temp files of a
    live writer are kept. For a given ``name``, temp files without a pid (written by versions
    before the pid was added) count as dead."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if name is None:
            m = _TMP_ANY.match(entry.name)
        else:
            prefix = f".{name}."
            m = _TMP_TAIL.match(entry.name[len(prefix):]) if entry.name.startswith(prefix) else None
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        if m["pid"] and _alive(int(m["pid"])) and (int(m["pid"]) != os.getpid()
                                                   or os.path.abspath(entry.path) in _IN_FLIGHT):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def atomic_write_bytes(path: str | Path, write_fn) -> None:
    """Write ``path`` through ``write_fn(file)``: all of it or, on any failure, none of it (the
    previous file is kept and the temp file removed). ``OSError``s become :class:`WriteError`."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise WriteError(e.errno, f"{folder}: cannot write in this folder ({_reason(e)})") from e
    tmp = os.path.abspath(tmp)
    _IN_FLIGHT.add(tmp)
    clean_stale_tmp(folder, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        os_error = _os_error_in_chain(e)
        if os_error is not None and not isinstance(e, WriteError):
            raise WriteError(os_error.errno, f"{path}: cannot write ({_reason(os_error)})") from os_error
        raise
    finally:
        _IN_FLIGHT.discard(tmp)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_path(target: str | Path, folder: bool = False) -> Iterator[Path]:
    """A temp path beside ``target`` to write (with ``folder``: an empty folder made there); on
    success it becomes ``target`` in one rename (an existing folder ``target`` is renamed aside,
    then removed), on any failure it is removed and ``target`` is kept as it was. ``OSError``s while
    making or renaming it become :class:`WriteError`. For writers that need a path; a file written
    through a file object: :func:`atomic_write_bytes`."""
    target = Path(target)
    tmp = target.parent / f".{target.name}.pid{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        if not target.parent.exists():  # (a file in the way fails below, as "not a directory")
            target.parent.mkdir(parents=True)
        tmp.mkdir() if folder else tmp.touch()  # the usual permissions (mkdtemp's are 0700)
    except OSError as e:
        raise WriteError(e.errno, f"{target}: cannot write there ({_reason(e)})") from e
    try:
        yield tmp
        _replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _replace(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; a folder ``target`` is renamed aside first and removed after."""
    old = tmp.with_name(tmp.name[:-len(".tmp")] + ".old.tmp") if target.is_dir() else None
    try:
        if old is not None:
            os.rename(target, old)
        os.replace(tmp, target)
    except OSError as e:
        if old is not None and old.exists() and not target.exists():
            os.rename(old, target)
        raise WriteError(e.errno, f"{target}: cannot replace it ({_reason(e)})") from e
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Strict JSON (``NaN``/``Infinity`` are not JSON): a non-finite number is a one-line
    ``WriteError`` naming the file and the key, and nothing is written."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        raise WriteError(errno.EINVAL, f"{path}: not written: {_non_finite_key(obj)} is not a finite number "
                                       "(NaN or infinity are not JSON)") from None
    atomic_write_text(path, text + "\n")


def _non_finite_key(obj: Any, where: str = "") -> str:
    """The first key path (``test.recall@10``) of ``obj`` holding NaN or an infinity."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        key = f"{where}.{k}" if where else str(k)
        if isinstance(v, float) and not math.isfinite(v):
            return key
        found = _non_finite_key(v, key)
        if found:
            return found
    return ""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    if "config" not in state:
        raise ValueError("a checkpoint must carry its config")
    atomic_write_bytes(path, lambda f: torch.save(state, f))


# errors of the file system, not of the file's content (torch reports a truncated archive as EINVAL)
_READ_ERRORS = {errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT, errno.EISDIR, errno.ENXIO}


def _corrupt_cause(path: Path, e: BaseException) -> str:
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip; a truncated one loses its directory
        return f"{size} bytes, not a PyTorch zip archive"
    return f"{type(e).__name__}: {_torch_cause(e)}"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """The checkpoint dict at ``path``; ``FileNotFoundError`` if absent, :class:`CheckpointError`
    for anything else that is not a readable, safe checkpoint with its config. ``mmap``: tensors are
    mapped, not read (to read the config of a large checkpoint)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except OSError as e:
        if e.errno in _READ_ERRORS:
            raise CheckpointError(f"{path}: cannot read checkpoint ({_reason(e)})") from None
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({_corrupt_cause(path, e)})") from None
    except Exception as e:
        unsafe = re.search(r"GLOBAL (\S+)", str(e))
        if unsafe:
            raise CheckpointError(f"{path}: cannot load checkpoint safely (it holds a {unsafe[1]}, and "
                                  "weights_only=True loads tensors and plain containers only)") from None
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({_corrupt_cause(path, e)})") from None
    if not isinstance(ck, dict):
        raise CheckpointError(f"{path}: not a contrastrec checkpoint (holds a {type(ck).__name__}, not a dict)")
    if not isinstance(ck.get("config"), dict):
        raise CheckpointError(f"{path}: not a contrastrec checkpoint (no config)")
    return ck


class RunLock:
    """An exclusive lock on a run directory (``DIR/.lock`` holding the owner's pid), so that two
    processes never write the same run. A lock left by a dead process is taken over."""

    def __init__(self, directory: str | Path):
        self.path = Path(directory) / ".lock"
        self.held = False

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = lock_holder(self.path.parent)
                if pid is not None:
                    raise RuntimeError(
                        f"{self.path.parent}: another process (pid {pid}) is writing this run; "
                        f"use another --output or wait for it"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale lock
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self.held = True
            return self
        raise RuntimeError(f"{self.path}: cannot take the run lock")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(directory: str | Path) -> int | None:
    """The pid of the live process that holds ``directory``'s run lock (this one included), or None
    (no lock, or a stale one left by a dead process)."""
    try:
        pid = int((Path(directory) / ".lock").read_text().strip() or "0")
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and _alive(pid) else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _shape(t: Any) -> str:
    return "[" + ", ".join(str(n) for n in getattr(t, "shape", ())) + "]"


def load_weights(module: torch.nn.Module, state: Any, path: str | Path, what: str = "model") -> None:
    """``module.load_state_dict(state)``, or a one-line :class:`CheckpointError` naming ``path``
    when the weights do not fit the module its config builds (missing, unexpected or resized
    tensors: a checkpoint edited, or saved by other code, or its config changed)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no {what} weights (holds no '{what}' state dict)")
    want = module.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    resized = [k for k in want if k in state and tuple(getattr(state[k], "shape", ())) != tuple(want[k].shape)]
    problems = []
    if resized:
        k = resized[0]
        more = f" and {len(resized) - 1} more" if len(resized) > 1 else ""
        problems.append(f"{k} is {_shape(state[k])} in the file but {_shape(want[k])} in the model{more}")
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s) (e.g. {unexpected[0]})")
    if problems:
        raise CheckpointError(f"{path}: the {what} weights do not fit the {type(module).__name__} that its "
                              f"config builds: {'; '.join(problems)}")
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot load the {what} weights ({' '.join(str(e).split())[:200]})") from None


def config_of(ck: dict[str, Any], path: str | Path):
    """The config saved in checkpoint ``ck`` (read from ``path``); one that this version cannot
    read is a one-line :class:`CheckpointError` naming the file."""
    from contrastrec.config import ConfigError, config_from_dict

    try:
        return config_from_dict(ck["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: its saved config is not valid here ({e})") from None
