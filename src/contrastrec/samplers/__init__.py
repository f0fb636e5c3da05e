"""Negative samplers, hard-negative miners and false-negative masks.

Samplers and miners return index tensors (pytorch-metric-learning style); masks are BoolTensors.

* ``UniformNegativeSampler`` / ``PopularityNegativeSampler``: ``sample(users [B], n) -> [B, n]``
  items the user has not interacted with in training.
* ``in_batch_negatives`` / ``InBatchSampler``: the other rows of the batch as negatives.
* ``HardNegativeMiner``: model-ranked hard negatives (band of ranks below the top) blended with
  easy ones; ``mine_in_batch_hard`` for batch-hard mining.
* ``same_label_mask`` / ``combine_masks``: pairs that must not be negatives.
"""
from __future__ import annotations

import scipy.sparse as sp

from .false_negatives import combine_masks, same_label_mask
from .hard import HardNegativeMiner, InBatchHard, mine_in_batch_hard
from .in_batch import InBatchSampler, in_batch_negatives
from .popularity import PopularityNegativeSampler
from .uniform import UniformNegativeSampler

#: name -> class of the negative samplers that ``make_sampler`` builds.
NEGATIVE_SAMPLERS: dict[str, type] = {
    "uniform": UniformNegativeSampler,
    "popularity": PopularityNegativeSampler,
    "in_batch": InBatchSampler,
    "hard": HardNegativeMiner,
}

# the arguments each sampler accepts besides train_csr
_ARGS = {
    "uniform": {"seed"},
    "popularity": {"seed", "alpha", "exclude_positives"},
    "in_batch": set(),
    "hard": {"seed", "skip_top", "band", "hard_ratio", "refresh_every", "chunk_size"},
}


def make_sampler(
    name: str,
    train_csr: sp.spmatrix | None = None,
    *,
    seed: int | None = None,
    alpha: float | None = None,
    exclude_positives: bool | None = None,
    skip_top: int | None = None,
    band: int | None = None,
    hard_ratio: float | None = None,
    refresh_every: int | None = None,
    chunk_size: int | None = None,
):
    """Build the sampler called ``name`` (a key of ``NEGATIVE_SAMPLERS``).

    Only the arguments the sampler takes may be given (others raise ValueError); an argument
    left None takes the class default. ``train_csr`` is required except for ``"in_batch"``.
    ``refresh_every`` cannot be set to None (never) through this factory.
    """
    if name not in NEGATIVE_SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid names: {', '.join(sorted(NEGATIVE_SAMPLERS))}")
    given = {
        "seed": seed,
        "alpha": alpha,
        "exclude_positives": exclude_positives,
        "skip_top": skip_top,
        "band": band,
        "hard_ratio": hard_ratio,
        "refresh_every": refresh_every,
        "chunk_size": chunk_size,
    }
    given = {k: v for k, v in given.items() if v is not None}
    extra = sorted(set(given) - _ARGS[name])
    if extra:
        raise ValueError(
            f"sampler {name!r} does not take {', '.join(extra)}; it takes: {', '.join(sorted(_ARGS[name])) or 'nothing'}"
        )
    if name == "in_batch":
        return InBatchSampler()
    if train_csr is None:
        raise ValueError(f"sampler {name!r} needs train_csr [n_users, n_items]")
    return NEGATIVE_SAMPLERS[name](train_csr, **given)


__all__ = [
    "NEGATIVE_SAMPLERS",
    "HardNegativeMiner",
    "InBatchHard",
    "InBatchSampler",
    "PopularityNegativeSampler",
    "UniformNegativeSampler",
    "combine_masks",
    "in_batch_negatives",
    "make_sampler",
    "mine_in_batch_hard",
    "same_label_mask",
]
