"""The memory a training run needs, estimated from the config and the data size before the model is
built, and checked against what is free: ``embedding_dim: 1e8`` used to allocate until the process
was killed. The estimate is a lower bound (tables, their optimizer state, one evaluation chunk);
activations and a model's smaller extras are not counted."""
from __future__ import annotations

import torch

from contrastrec.config import Config, ConfigError, model_class

FLOAT_BYTES = 4
# copies of each trainable value: itself, its gradient and Adam's two moments (adam and lazy_adam)
COPIES = 4


def estimate_training_bytes(cfg: Config, n_users: int, n_items: int) -> int:
    """Bytes of the model's tables (:meth:`Recommender.table_values`) times :data:`COPIES`, plus
    one evaluation chunk of scores (``eval_batch_size x n_items``)."""
    values = sum(model_class(cfg.model).table_values(cfg, n_users, n_items).values())
    return FLOAT_BYTES * (COPIES * values + cfg.eval_batch_size * n_items)


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: the CUDA device's free memory, else the machine's available memory
    (psutil when installed, else ``/proc/meminfo``'s MemAvailable); None when it cannot be told."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(cfg: Config, n_users: int, n_items: int, device: torch.device) -> None:
    """Refuse, on one line with the estimate and what is free, a run whose tables cannot fit."""
    need, free = estimate_training_bytes(cfg, n_users, n_items), available_bytes(device)
    if free is not None and need > free:
        raise ConfigError(
            f"embedding_dim={cfg.embedding_dim}: model {cfg.model} on {n_users:,} users and {n_items:,} items needs "
            f"at least {_gib(need)} (its tables x{COPIES} for gradients and Adam's moments, and one evaluation chunk "
            f"of eval_batch_size={cfg.eval_batch_size}), but {device} has {_gib(free)} free; lower embedding_dim")
