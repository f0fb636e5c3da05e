"""Small helpers shared by the augmentation modules (random draws, argument checks)."""
from __future__ import annotations

import math

import numpy as np
import torch


def rand(shape, generator: torch.Generator | None, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """``torch.rand`` on ``device`` that also works when ``generator`` lives on another device.

    The numbers are drawn on the generator's device (so a seeded CPU generator gives the same
    augmentation whatever device the data is on) and moved to ``device``.
    """
    if generator is None:
        return torch.rand(shape, device=device, dtype=dtype)
    gdev = generator.device
    out = torch.rand(shape, generator=generator, device=gdev, dtype=dtype)
    return out if out.device == torch.device(device) else out.to(device)


BULK_MIN = 1 << 16


def rand_bulk(shape, generator: torch.Generator | None, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Like :func:`rand`, for large CPU draws (SimGCL noise over a whole embedding table at every
    step): the numbers come from numpy's PCG64 (2-3x faster than torch's CPU Mersenne Twister on
    one thread), seeded by one 63-bit draw from ``generator`` (or torch's global generator), so
    seeding torch still makes the draws repeatable. Other devices, dtypes and small draws use
    :func:`rand`."""
    n = math.prod(shape)
    if n < BULK_MIN or torch.device(device).type != "cpu" or dtype != torch.float32 or (
            generator is not None and generator.device.type != "cpu"):
        return rand(shape, generator, device, dtype)
    seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator))
    out = torch.empty(shape, dtype=torch.float32)
    np.random.Generator(np.random.PCG64(seed)).random(out=out.numpy().reshape(-1), dtype=np.float32)
    return out


def randperm(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    if generator is None:
        return torch.randperm(n, device=device)
    out = torch.randperm(n, generator=generator, device=generator.device)
    return out.to(device)


def check_ratio(name: str, value: float, *, low_open: bool = False, high: float = 1.0) -> float:
    """Validate a ratio/probability in [0, high] (or (0, high] when ``low_open``) and return it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or v > high or v < 0 or (low_open and v == 0):
        lo = "(0" if low_open else "[0"
        raise ValueError(f"{name} must be in {lo}, {high}], got {value!r}")
    return v


def check_int(name: str, value, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        # accept numpy / torch integer scalars
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point():
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise ValueError(f"{name} must be an int, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)
