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
