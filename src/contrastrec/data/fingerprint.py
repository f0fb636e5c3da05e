"""What data a run was trained on: an absolute path and a content fingerprint (per file: its size
and the sha256 of its first MiB), recorded in the run's ``dataset.json`` and checked whenever the
run is loaded again, so that a run never meets a file that changed or another file of that name."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .dataset import DataError

HEAD_BYTES = 1 << 20


def _file_print(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            h.update(fh.read(HEAD_BYTES))
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", path) from None
    return {"size": size, "head_sha256": h.hexdigest()}


def fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path": absolute path, "head_bytes": HEAD_BYTES, "files": {name: {"size", "head_sha256"}}}``
    of a data file, or of the data files of a folder (side files such as README are left out)."""
    from .loading import _is_side_file

    p = Path(os.path.abspath(path))  # absolute and normalised; symbolic links kept
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and not _is_side_file(f))
    else:
        files = [p]
    return {"path": str(p), "head_bytes": HEAD_BYTES, "files": {f.name: _file_print(f) for f in files}}


def check_fingerprint(current: dict[str, Any] | None, recorded: dict[str, Any], run_file: str | Path) -> None:
    """A one-line DataError when the data read now (``current``) is not the data the run recorded."""
    if current is None:
        return
    now, then = current.get("files", {}), recorded.get("files", {})
    where = current.get("path", "")
    for name in sorted(set(now) | set(then)):
        if name not in then:
            problem = f"{name} is not in the data the run was trained on"
        elif name not in now:
            problem = f"{name}, which the run was trained on, is missing"
        elif now[name]["size"] != then[name]["size"]:
            problem = f"{name} has {now[name]['size']} bytes, the run's data had {then[name]['size']}"
        elif now[name]["head_sha256"] != then[name]["head_sha256"]:
            problem = f"the first MiB of {name} differs from the run's data"
        else:
            continue
        raise DataError(f"not the data this run was trained on: {problem} (recorded in {run_file}; pass the "
                        "run's data with --dataset)", where)
