"""Named random streams: the one place where a run's randomness is derived.

Every draw a run makes comes from a *stream*: a name (``"batches"``, ``"sgl.views"``,
``"torch.global"``, ...), the config ``seed`` and an ``epoch`` (0 for draws made once). The three
are mixed by :class:`numpy.random.SeedSequence`, with the name hashed (SHA-256, so the value does
not depend on the Python process), which gives

* independence: two streams of one run (``seed`` equal, names differ) and the same stream under two
  seeds draw unrelated numbers — even at ``seed = 0``, where a ``seed * salt + epoch`` rule seeds
  every stream by the epoch alone;
* resumability: an epoch's draws depend on (seed, name, epoch) only, so a resumed run draws what an
  uninterrupted one would have.

Names are free-form (``"<component>.<what>"`` by convention); a new component picks a new name and
needs nothing here.

>>> a = numpy_stream(0, "batches", 3).integers(0, 2**31, 4)
>>> b = numpy_stream(0, "sgl.views", 3).integers(0, 2**31, 4)
>>> bool((a == b).any())
False
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

__all__ = ["seed_sequence", "stream_seed", "numpy_stream", "torch_stream", "spawn_rng"]

_MASK63 = (1 << 63) - 1


def _whole(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(value)


def _name_key(name: str) -> int:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a stream name must be a non-empty string, got {name!r}")
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def seed_sequence(seed: int, name: str, epoch: int = 0) -> np.random.SeedSequence:
    """The :class:`~numpy.random.SeedSequence` of stream ``name`` at ``epoch`` under ``seed``."""
    return np.random.SeedSequence(_whole("seed", seed), spawn_key=(_name_key(name), _whole("epoch", epoch)))


def stream_seed(seed: int, name: str, epoch: int = 0, bits: int = 63) -> int:
    """An integer seed in ``[0, 2**bits)`` for libraries that take one (torch, faiss, optuna)."""
    if not 1 <= bits <= 63:
        raise ValueError(f"bits must be in 1..63, got {bits}")
    lo, hi = seed_sequence(seed, name, epoch).generate_state(2, np.uint32)
    return ((int(hi) << 32) | int(lo)) & _MASK63 & ((1 << bits) - 1)


def numpy_stream(seed: int, name: str, epoch: int = 0) -> np.random.Generator:
    """A numpy generator for stream ``name`` at ``epoch``."""
    return np.random.default_rng(seed_sequence(seed, name, epoch))


def torch_stream(seed: int, name: str, epoch: int = 0, device: torch.device | str | None = None) -> torch.Generator:
    """A torch generator (on ``device``, default the CPU) for stream ``name`` at ``epoch``."""
    g = torch.Generator(device=device) if device is not None else torch.Generator()
    return g.manual_seed(stream_seed(seed, name, epoch))


def spawn_rng(seed: int, *key: int) -> np.random.Generator:
    """A numpy generator for the numeric spawn key ``key`` under ``seed`` (the synthetic-data
    generator's streams, whose keys are small integers it declares)."""
    return np.random.default_rng(np.random.SeedSequence(_whole("seed", seed), spawn_key=tuple(_whole("key", k) for k in key)))
