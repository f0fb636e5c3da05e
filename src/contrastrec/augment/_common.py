"""Small helpers shared by the augmentation modules (random draws, argument checks)."""
from __future__ import annotations

import math

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
