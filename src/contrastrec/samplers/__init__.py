"""Negatives in one place: samplers, miners and false-negative masks.

Samplers and miners return index tensors (pytorch-metric-learning style); masks are BoolTensors.

* main-loss negatives (items for a user, ``neg_sampler``): ``UniformNegativeSampler`` /
  ``PopularityNegativeSampler`` (the trainer draws ``neg_sampler: uniform`` for a whole epoch itself,
  ``training.batches.UniformNegatives``, the same distribution, vectorized): ``sample(users [B], n) -> [B, n]`` items the user has not
  interacted with in training; ``HardNegativeMiner``: model-ranked hard negatives (a band of ranks
  below the top) blended with easy ones;
* contrastive-loss negatives (rows of a pool of embeddings, ``ssl.negatives``): ``PoolMiner``
  (uniform, popularity, hard), which :class:`~contrastrec.models.ssl.SSLBranch` hands its loss;
  in-batch negatives need no sampler (the loss uses the other rows of the batch);
* synthetic negatives (``neg_sampler=mixgcf``): ``mix_negatives`` / ``mix_negatives_rows`` build one hard negative per pair
  from the layer embeddings of a graph encoder and uniform candidates (MixGCF, KDD 2021);
* ``same_label_mask`` / ``combine_masks``: pairs that must not be negatives (``ssl.false_negatives``,
  same-item rows, same intent).
"""
from __future__ import annotations

import scipy.sparse as sp

from .false_negatives import combine_masks, same_label_mask
from .hard import HardNegativeMiner
from .mixgcf import MixedNegatives, mix_negatives, mix_negatives_rows
from .pool import PoolMiner
from .popularity import PopularityNegativeSampler
from .uniform import UniformNegativeSampler

#: name -> class of the negative samplers that ``make_sampler`` builds.
NEGATIVE_SAMPLERS: dict[str, type] = {
    "uniform": UniformNegativeSampler,
    "popularity": PopularityNegativeSampler,
    "hard": HardNegativeMiner,
}

# the arguments each sampler accepts besides train_csr
_ARGS = {
    "uniform": {"seed"},
    "popularity": {"seed", "alpha", "exclude_positives"},
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
    left None takes the class default.
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
    if train_csr is None:
        raise ValueError(f"sampler {name!r} needs train_csr [n_users, n_items]")
    return NEGATIVE_SAMPLERS[name](train_csr, **given)


__all__ = [
    "NEGATIVE_SAMPLERS",
    "HardNegativeMiner",
    "MixedNegatives",
    "PoolMiner",
    "PopularityNegativeSampler",
    "UniformNegativeSampler",
    "combine_masks",
    "make_sampler",
    "mix_negatives",
    "mix_negatives_rows",
    "same_label_mask",
]
