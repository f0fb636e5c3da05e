"""Named random streams (contrastrec.rng): independent across names and seeds, fixed by
(seed, name, epoch), and the only way the package seeds a run's draws."""
from __future__ import annotations

import itertools
import pathlib
import re

import numpy as np
import pytest
import torch

from contrastrec.rng import numpy_stream, seed_sequence, spawn_rng, stream_seed, torch_stream
from tests.conftest import one_batch

NAMES = ["init", "torch.global", "batches", "ssl.negatives", "ssl.anchors", "mixgcf.mixing", "sgl.views",
         "hccf.dropout", "cl4srec.augment", "s3rec.mask", "bert4rec.mask", "duorec.augment"]
SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "contrastrec"


def _draws(g, n=2000):
    return g.random(n) if isinstance(g, np.random.Generator) else torch.rand(n, generator=g).numpy()


def _max_abs_corr(samples: list[np.ndarray]) -> float:
    c = np.corrcoef(np.stack(samples))
    return float(np.abs(c[~np.eye(len(samples), dtype=bool)]).max())


@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_two_streams_of_one_run_are_independent(seed):
    # seed 0 included: under the old `seed * salt + epoch` rule every stream was seeded by the epoch alone
    for make in (numpy_stream, torch_stream):
        for epoch in (0, 3):
            samples = [_draws(make(seed, n, epoch)) for n in NAMES]
            assert _max_abs_corr(samples) < 0.12  # 2000 draws: |r| of independent uniforms < ~0.09 at 3 sigma
            firsts = {float(s[0]) for s in samples}
            assert len(firsts) == len(NAMES)


def test_one_stream_under_two_seeds_and_two_epochs_is_independent():
    samples = [_draws(numpy_stream(s, "batches", e)) for s in (0, 1, 2, 2024) for e in (0, 1)]
    assert _max_abs_corr(samples) < 0.12


def test_no_collisions_on_a_grid_of_seeds_names_and_epochs():
    # (seed, salt, epoch) triples collided under the old rule: 0*a+e == 0*b+e, 1*7919+0 == 0+7919, ...
    keys = [(s, n, e) for s, n, e in itertools.product(range(0, 40), NAMES, range(0, 40))]
    seeds = {stream_seed(*k) for k in keys}
    assert len(seeds) == len(keys)


def test_streams_are_fixed_by_seed_name_and_epoch():
    assert np.array_equal(_draws(numpy_stream(7, "sgl.views", 2)), _draws(numpy_stream(7, "sgl.views", 2)))
    assert torch.equal(torch_stream(7, "x", 1).get_state(), torch.Generator().manual_seed(stream_seed(7, "x", 1)).get_state())
    assert 0 <= stream_seed(2**62, "init", 10**6) < 2**63
    assert 0 <= stream_seed(5, "iclrec.kmeans", 3, bits=31) < 2**31
    assert seed_sequence(3, "a", 1).spawn_key != seed_sequence(3, "b", 1).spawn_key


def test_spawn_rng_keeps_the_synthetic_generators_streams():
    # the synthetic-data streams were SeedSequence(seed, spawn_key=key) before rng.py: unchanged data
    old = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(2, 5))).random(5)
    assert np.array_equal(spawn_rng(11, 2, 5).random(5), old)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_bad_seeds_and_epochs_are_refused(bad):
    with pytest.raises(ValueError):
        stream_seed(bad, "init")
    with pytest.raises(ValueError):
        numpy_stream(0, "init", bad)


def test_a_model_at_seed_zero_draws_different_numbers_in_its_streams():
    # MixGCF's α draws and the anchor sample of one epoch: the same generator state at seed 0 before
    model, _ = one_batch("mixgcf", epoch=2)
    assert model.cfg.seed == 0
    a = torch.rand(1000, generator=model._mix_gen)
    b = torch.rand(1000, generator=model._anchor_gen)
    assert not torch.equal(a, b)
    assert abs(float(np.corrcoef(a.numpy(), b.numpy())[0, 1])) < 0.15


def _seed_arithmetic(tree) -> list[int]:
    """Lines of `seed * x` / `seed + x` (a name or attribute called seed) and of salt names."""
    import ast

    def is_seed(n):
        return (isinstance(n, ast.Name) and n.id == "seed") or (isinstance(n, ast.Attribute) and n.attr == "seed")

    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)) and (is_seed(node.left) or is_seed(node.right)):
            bad.append(node.lineno)
        if isinstance(node, (ast.Name, ast.Attribute)) and re.search(r"SALT|epoch_generator", getattr(node, "id", getattr(node, "attr", ""))):
            bad.append(node.lineno)
    return bad


def test_the_package_seeds_run_draws_only_through_rng():
    # no `seed * salt + epoch` arithmetic and no numbered salts left in the package's code (strings and
    # comments aside); seeds.py derives the seeds of separate runs (seed, seed + 1, ...), not streams
    import ast

    found = [f"{p.relative_to(SRC)}:{line}" for p in SRC.rglob("*.py") if p.name != "seeds.py"
             for line in _seed_arithmetic(ast.parse(p.read_text()))]
    assert not found, found
    assert _seed_arithmetic(ast.parse("g.manual_seed(cfg.seed * 7919 + epoch)")) == [1]
