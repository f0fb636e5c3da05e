"""Loss family: pure functions in :mod:`contrastrec.losses.functional`, one short module per loss.

Reduction is the **mean over anchors** everywhere (see ``functional``'s docstring).

SSL calling convention (every class in :data:`SSL_LOSSES`)::

    loss(query: FloatTensor[B, D], key: FloatTensor[B, D],
         labels: LongTensor[B] | None = None,
         positive_mask: BoolTensor[B, B] | None = None) -> scalar

``(query[i], key[i])`` is a positive pair. ``labels`` (same label = same class) and
``positive_mask[i, j]`` both mark pairs that are *not negatives*; they are merged (OR):

* ``infonce``, ``debiased``, ``hard_negative``: marked pairs leave the denominator (false-negative
  masks); debiased / hard_negative also count them as positives in the correction term;
* ``supcon``: marked pairs are positives; with ``labels=None`` each pair is its own class and the
  two views are stacked (SimCLR over 2B views);
* ``triplet``: ``key[i]`` is the positive; every other unmarked in-batch key is a negative, the
  anchor's loss is the mean hinge over them;
* ``nce``: the other unmarked in-batch keys are the noise samples, uniform noise ``P_n = 1/B``;
* ``align_uniform``: labels / positive_mask are ignored (no negatives).

Extra inputs (explicit ``negatives=`` for infonce / triplet) are keyword-only.
"""
from __future__ import annotations

import inspect

from torch import nn

from contrastrec.losses import (
    align_uniform,
    bce,
    bpr,
    debiased,
    functional,
    hard_negative,
    infonce,
    nce,
    sampled_softmax,
    softmax_ce,
    supcon,
    triplet,
)
from contrastrec.losses.align_uniform import AlignUniformLoss
from contrastrec.losses.bce import SampledBCELoss
from contrastrec.losses.bpr import BPRLoss
from contrastrec.losses.debiased import DebiasedInfoNCELoss
from contrastrec.losses.hard_negative import HardNegativeInfoNCELoss
from contrastrec.losses.infonce import InfoNCELoss
from contrastrec.losses.nce import NCELoss
from contrastrec.losses.sampled_softmax import SampledSoftmaxLoss
from contrastrec.losses.softmax_ce import SoftmaxCELoss
from contrastrec.losses.supcon import SupConLoss
from contrastrec.losses.triplet import TripletLoss

__all__ = [
    "functional", "infonce", "debiased", "hard_negative", "supcon", "triplet", "nce", "align_uniform",
    "bpr", "bce", "softmax_ce", "sampled_softmax",
    "InfoNCELoss", "DebiasedInfoNCELoss", "HardNegativeInfoNCELoss", "SupConLoss", "TripletLoss", "NCELoss",
    "AlignUniformLoss", "BPRLoss", "SampledBCELoss", "SoftmaxCELoss", "SampledSoftmaxLoss",
    "SSL_LOSSES", "make_ssl_loss",
]

SSL_LOSSES: dict[str, type[nn.Module]] = {
    "infonce": InfoNCELoss,
    "debiased": DebiasedInfoNCELoss,
    "hard_negative": HardNegativeInfoNCELoss,
    "supcon": SupConLoss,
    "triplet": TripletLoss,
    "nce": NCELoss,
    "align_uniform": AlignUniformLoss,
}


def make_ssl_loss(
    name: str,
    temperature: float | None = None,
    tau_plus: float | None = None,
    beta: float | None = None,
    similarity: str | None = None,
    margin: float | None = None,
    *,
    symmetric: bool | None = None,
    distance: str | None = None,
    gamma: float | None = None,
    pos_clamp: float | None = None,
) -> nn.Module:
    """Build the SSL loss ``name`` (a key of :data:`SSL_LOSSES`).

    Arguments left ``None`` take the class default. An argument the chosen loss does not take
    (e.g. ``temperature`` for ``triplet``) is a ``ValueError`` naming it: it would do nothing.
    Values are validated by the class constructors (``ValueError``). Unknown ``name``:
    ``ValueError`` listing the valid names.
    """
    if name not in SSL_LOSSES:
        raise ValueError(f"unknown SSL loss {name!r}; valid choices: {', '.join(SSL_LOSSES)}")
    cls = SSL_LOSSES[name]
    given = dict(temperature=temperature, tau_plus=tau_plus, beta=beta, similarity=similarity, margin=margin,
                 symmetric=symmetric, distance=distance, gamma=gamma, pos_clamp=pos_clamp)
    accepted = inspect.signature(cls.__init__).parameters
    unused = sorted(k for k, v in given.items() if v is not None and k not in accepted)
    if unused:
        raise ValueError(f"SSL loss {name!r} does not take {', '.join(unused)} "
                         f"(it takes {', '.join(k for k in accepted if k != 'self') or 'no parameter'})")
    return cls(**{k: v for k, v in given.items() if v is not None})
