"""Faults around checkpoints: killed writers, truncated/corrupt/foreign files, full disks and
unwritable folders. Each fault gives one clear one-line error naming the file, never a torch
traceback, and never costs the previous good checkpoint."""
from __future__ import annotations

import errno
import io
import os
import subprocess
import sys

import pytest
import torch

from contrastrec.training import checkpoint
from contrastrec.training.checkpoint import (
    CheckpointError,
    WriteError,
    clean_stale_tmp,
    load_checkpoint,
    save_checkpoint,
)

STATE = {"config": {"model": "mf", "embedding_dim": 8}, "model": {"w": torch.arange(2000.0)}, "epoch": 3}


def tmp_files(folder):
    return sorted(x for x in os.listdir(folder) if x.endswith(".tmp"))


def good_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save(STATE, buf)
    return buf.getvalue()


def assert_one_line(e: BaseException, path, *needles):
    msg = str(e)
    assert "\n" not in msg and len(msg) < 300, msg
    assert msg.startswith(f"{path}: "), msg
    for n in needles:
        assert n in msg, msg


# --------------------------------------------------------------------------- killed writers
def test_a_killed_writer_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "last.pt"
    save_checkpoint(target, STATE)
    code = ("import os, signal\nfrom contrastrec.training.checkpoint import atomic_write_bytes\n"
            "def w(f):\n    f.write(b'x' * 4096); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
            f"atomic_write_bytes({str(target)!r}, w)\n")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert child.returncode == -9
    left = tmp_files(tmp_path)
    assert len(left) == 1 and left[0].startswith(".last.pt.pid")  # what a killed run leaves behind
    assert load_checkpoint(target)["epoch"] == 3  # the previous checkpoint is untouched
    save_checkpoint(target, {**STATE, "epoch": 4})
    assert tmp_files(tmp_path) == [] and load_checkpoint(target)["epoch"] == 4


def test_only_temp_files_of_dead_writers_are_removed(tmp_path):
    live = f".last.pt.pid{os.getppid()}.abc123.tmp"  # a live process (not us) may be writing it
    dead = ".last.pt.pid999999999.abc123.tmp"
    mine = f".last.pt.pid{os.getpid()}.zz9.tmp"  # ours, but not being written: left by a failure
    legacy = ".last.pt.m11okhli.tmp"  # written before temp names carried the pid
    other = ".best.pt.pid999999999.q1.tmp"  # another target
    unrelated = "notes.tmp"
    for n in (live, dead, mine, legacy, other, unrelated):
        (tmp_path / n).write_bytes(b"partial")
    save_checkpoint(tmp_path / "last.pt", STATE)
    assert tmp_files(tmp_path) == sorted([live, other, unrelated])
    assert clean_stale_tmp(tmp_path) == [tmp_path / other]  # every target: pid-named files only
    assert tmp_files(tmp_path) == sorted([live, unrelated])


# --------------------------------------------------------------------------- unreadable files
def _truncated(n):
    return lambda g: g[:n] if n >= 0 else g[:len(g) + n]


def _flipped(frac):
    def f(g):
        b = bytearray(g)
        at = int(len(b) * frac)
        b[at:at + 16] = bytes((x ^ 0xA5) for x in b[at:at + 16])
        return bytes(b)
    return f


BAD_BYTES = {
    "empty": (lambda g: b"", "truncated or corrupt checkpoint (empty file)"),
    "truncated-10": (_truncated(10), "truncated or corrupt checkpoint"),
    "truncated-half": (lambda g: g[: len(g) // 2], "truncated or corrupt checkpoint"),
    "truncated-last-byte": (_truncated(-1), "truncated or corrupt checkpoint"),
    "truncated-tail-100": (_truncated(-100), "truncated or corrupt checkpoint"),
    "random-bytes": (lambda g: bytes(range(256)) * 4, "truncated or corrupt checkpoint"),
    "text": (lambda g: b"model: mf\nepochs: 3\n", "truncated or corrupt checkpoint"),
    "flipped-header": (_flipped(0.02), "truncated or corrupt checkpoint"),
    "flipped-tail": (_flipped(0.97), "truncated or corrupt checkpoint"),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_truncated_or_corrupt_files_give_one_checkpoint_error(tmp_path, case):
    make, needle = BAD_BYTES[case]
    p = tmp_path / "best.pt"
    p.write_bytes(make(good_bytes()))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    assert isinstance(e.value, ValueError)
    assert_one_line(e.value, p, needle)
    assert e.value.__cause__ is None and e.value.__suppress_context__  # no torch traceback attached


BAD_PAYLOADS = {
    "no-config": ({"model": {"w": torch.ones(2)}}, "not a contrastrec checkpoint (no config)"),
    "config-not-a-dict": ({"config": "mf", "model": {}}, "not a contrastrec checkpoint (no config)"),
    "list": ([torch.ones(2)], "not a contrastrec checkpoint (holds a list, not a dict)"),
    "tensor": (torch.ones(2), "not a contrastrec checkpoint (holds a Tensor, not a dict)"),
    "int": (7, "not a contrastrec checkpoint (holds a int, not a dict)"),
    "none": (None, "not a contrastrec checkpoint (holds a NoneType, not a dict)"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_foreign_payloads_give_one_checkpoint_error(tmp_path, case):
    obj, needle = BAD_PAYLOADS[case]
    p = tmp_path / "best.pt"
    torch.save(obj, p)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    assert_one_line(e.value, p, needle)


def test_unsafe_objects_and_folders(tmp_path):
    import fractions

    p = tmp_path / "evil.pt"
    torch.save({"config": {}, "x": fractions.Fraction(1, 3)}, p)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    assert_one_line(e.value, p, "cannot load checkpoint safely", "fractions.Fraction")
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "dir.pt")
    assert_one_line(e.value, tmp_path / "dir.pt", "a folder, not a checkpoint file")
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):  # unchanged: callers catch it
        load_checkpoint(tmp_path / "missing.pt")


# --------------------------------------------------------------------------- full disk
class DiskFull(io.RawIOBase):
    """A file that accepts ``limit`` bytes, then fails like a full disk."""

    def __init__(self, f, limit: int, err: int = errno.ENOSPC):
        self.f, self.limit, self.err, self.written = f, limit, err, 0

    def writable(self):
        return True

    def write(self, b):
        room = self.limit - self.written
        if len(b) > room:
            if room > 0:
                self.f.write(bytes(b[:room]))
                self.written += room
            raise OSError(self.err, os.strerror(self.err))
        self.written += len(b)
        return self.f.write(b)

    def flush(self):
        self.f.flush()


SIZE = len(good_bytes())
FULL_AT = {"byte-0": 0, "byte-1": 1, "byte-100": 100, "byte-4096": 4096, "half": SIZE // 2, "last-byte": SIZE - 1}


@pytest.fixture
def previous(tmp_path):
    p = tmp_path / "run" / "best.pt"
    save_checkpoint(p, STATE)
    return p, p.read_bytes()


def assert_intact(p, before):
    assert p.read_bytes() == before and load_checkpoint(p)["epoch"] == 3
    assert tmp_files(p.parent) == []


@pytest.mark.parametrize("where", sorted(FULL_AT))
def test_disk_full_while_writing_keeps_the_previous_checkpoint(previous, monkeypatch, where):
    p, before = previous
    real_save = torch.save
    monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, DiskFull(f, FULL_AT[where])))
    with pytest.raises(OSError) as e:
        save_checkpoint(p, {**STATE, "epoch": 4})
    assert isinstance(e.value, WriteError) and e.value.errno == errno.ENOSPC
    assert_one_line(e.value, p, "no space left on device")
    assert str(e.value) == f"{p}: cannot write (no space left on device)"
    assert_intact(p, before)


@pytest.mark.parametrize("step, err, words", [
    ("fsync", errno.ENOSPC, "no space left on device"),  # delayed allocation: the error comes late
    ("replace", errno.ENOSPC, "no space left on device"),
    ("write", errno.EDQUOT, "disk quota exceeded"),
    ("write", errno.EIO, "input/output error"),
])
def test_late_and_other_write_failures_keep_the_previous_checkpoint(previous, monkeypatch, step, err, words):
    p, before = previous

    def fail(*a, **k):
        raise OSError(err, os.strerror(err))

    if step == "write":
        real_save = torch.save
        monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, DiskFull(f, 1000, err)))
    else:
        monkeypatch.setattr(checkpoint.os, step, fail)
    with pytest.raises(WriteError) as e:
        save_checkpoint(p, {**STATE, "epoch": 4})
    monkeypatch.undo()
    assert e.value.errno == err
    assert_one_line(e.value, p, words)
    assert_intact(p, before)


def test_json_writes_fail_the_same_way(previous, monkeypatch):
    p, before = previous
    target = p.parent / "results.json"
    checkpoint.atomic_write_json(target, {"ok": 1})
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "x")))
    with pytest.raises(WriteError) as e:
        checkpoint.atomic_write_json(target, {"ok": 2})
    assert str(e.value) == f"{target}: cannot write (no space left on device)"
    monkeypatch.undo()
    assert target.read_text().strip().endswith("}") and '"ok": 1' in target.read_text()
    assert_intact(p, before)


# --------------------------------------------------------------------------- unwritable folders
def test_a_folder_that_cannot_be_written(tmp_path, monkeypatch):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(WriteError) as e:
        save_checkpoint(blocker / "x" / "best.pt", STATE)
    assert_one_line(e.value, blocker / "x", "cannot write in this folder (not a directory)")

    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: refuse the way a read-only folder does
        def refuse(*a, **k):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(ro))

        monkeypatch.setattr(checkpoint.tempfile, "mkstemp", refuse)
    else:
        ro.chmod(0o500)
    try:
        with pytest.raises(WriteError) as e:
            save_checkpoint(ro / "best.pt", STATE)
    finally:
        ro.chmod(0o700)
    assert e.value.errno == errno.EACCES
    assert_one_line(e.value, ro, "cannot write in this folder (permission denied)")
    assert os.listdir(ro) == []
