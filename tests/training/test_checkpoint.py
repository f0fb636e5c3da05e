import os

import pytest
import torch

from contrastrec.training.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint


def test_roundtrip_weights_only(tmp_path):
    p = tmp_path / "c.pt"
    save_checkpoint(p, {"config": {"model": "mf"}, "model": {"w": torch.ones(2)}})
    ck = load_checkpoint(p)
    assert ck["config"]["model"] == "mf" and torch.equal(ck["model"]["w"], torch.ones(2))


def test_requires_config(tmp_path):
    with pytest.raises(ValueError, match="config"):
        save_checkpoint(tmp_path / "c.pt", {"model": {}})


def test_atomic_failure_keeps_old_file(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "old")

    class Boom(Exception):
        pass

    from contrastrec.training import checkpoint

    def bad(f):
        f.write(b"partial")
        raise Boom()

    with pytest.raises(Boom):
        checkpoint.atomic_write_bytes(p, bad)
    assert p.read_text() == "old"
    assert [x for x in os.listdir(tmp_path) if x.endswith(".tmp")] == []


def test_refuses_pickled_objects(tmp_path):
    p = tmp_path / "evil.pt"

    import fractions

    torch.save({"config": {}, "x": fractions.Fraction(1, 3)}, p)  # an arbitrary pickled class
    with pytest.raises(ValueError, match="cannot load checkpoint safely"):
        load_checkpoint(p)


def test_run_lock_excludes_a_second_writer_and_takes_over_stale_locks(tmp_path):
    import subprocess
    import sys

    from contrastrec.training.checkpoint import RunLock

    with RunLock(tmp_path):
        child = subprocess.run(
            [sys.executable, "-c", f"from contrastrec.training.checkpoint import RunLock; RunLock({str(tmp_path)!r}).acquire()"],
            capture_output=True, text=True)
        assert child.returncode != 0 and "another process" in child.stderr
    assert not (tmp_path / ".lock").exists()
    (tmp_path / ".lock").write_text("999999999")  # a pid that does not exist
    RunLock(tmp_path).acquire().release()


def test_fit_refuses_a_locked_run(tmp_path):
    from contrastrec.config import build_config
    from contrastrec.training.loop import TrainingError, fit
    from tests.conftest import make_tiny

    (tmp_path / ".lock").write_text(str(os.getppid()))  # a live process that is not us
    cfg = build_config("mf", None, {"epochs": 1, "device": "cpu", "embedding_dim": 8})
    with pytest.raises(TrainingError, match="another process"):
        fit(cfg, make_tiny(), tmp_path, progress=False, log=lambda s: None)
