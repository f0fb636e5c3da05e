"""Intent-aware view: each node re-expressed through K global intent prototypes (DCCF: Ren et al.,
"Disentangled Contrastive Collaborative Filtering", SIGIR 2023, method section: intent-aware
information aggregation with global intent prototypes; the authors' code HKUDS/DCCF model.py and SSLRec
models/general_cf/dccf.py).

With learnable prototypes ``W = [c_1 .. c_K] ∈ R^{D×K}``, a node with embedding ``e [D]`` has the intent
distribution ``p(c_k | e) = softmax_k(e·c_k)`` and the intent-aware representation

    r = Σ_k p(c_k | e) c_k,     i.e. for a table  R = softmax(E W, dim=1) Wᵀ      ([N, D] -> [N, D])

a point in the convex hull of the prototypes: a view of the node that is disentangled into intents
(shared by every node of its kind) rather than propagated from its neighbours. Deterministic.

* :func:`intent_view` ``(x [N, D], prototypes [D, K]) -> [N, D]``;
* :class:`IntentPrototypes` ``(dim, n_intents)``: one learnable ``[D, K]`` prototype matrix (xavier
  uniform, as SSLRec; the authors' code: xavier normal); ``module(x) -> [N, D]``;
* :class:`UserItemIntents` ``(dim, n_intents)``: DCCF's separate user and item prototypes on the
  node numbering of :mod:`contrastrec.graph` (users first): ``module(x, n_users) -> [N, D]`` sends rows
  ``< n_users`` through the user prototypes and the rest through the item prototypes.
"""
from __future__ import annotations

import torch
from torch import nn

from contrastrec.augment._common import check_int

__all__ = ["intent_view", "IntentPrototypes", "UserItemIntents"]


def intent_view(x: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """``softmax(x @ prototypes, dim=-1) @ prototypesᵀ``: ``x [N, D]``, ``prototypes [D, K]`` -> ``[N, D]``."""
    if x.shape[-1] != prototypes.shape[0]:
        raise ValueError(f"x has dimension {x.shape[-1]} but the prototypes are {tuple(prototypes.shape)} ([D, K])")
    return torch.softmax(x @ prototypes, dim=-1) @ prototypes.t()


class IntentPrototypes(nn.Module):
    """K learnable intent prototypes ``weight [D, K]``; ``forward(x [N, D]) -> [N, D]`` (:func:`intent_view`)."""

    def __init__(self, dim: int, n_intents: int):
        super().__init__()
        check_int("dim", dim, minimum=1)
        check_int("n_intents", n_intents, minimum=1)
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(dim, n_intents)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return intent_view(x, self.weight)


class UserItemIntents(nn.Module):
    """Separate user and item prototypes (``user.weight``, ``item.weight``: ``[D, K]`` each).
    ``forward(x [N, D], n_users) -> [N, D]``: rows ``:n_users`` use the user prototypes, the rest
    the item prototypes (rows of a whole node table, or any sorted selection of node ids, whose
    first ``n_users`` rows are users)."""

    def __init__(self, dim: int, n_intents: int):
        super().__init__()
        self.user = IntentPrototypes(dim, n_intents)
        self.item = IntentPrototypes(dim, n_intents)

    def forward(self, x: torch.Tensor, n_users: int) -> torch.Tensor:
        return torch.cat([self.user(x[:n_users]), self.item(x[n_users:])], 0)
