"""MixGCF: synthetic hard negatives mixed from a GNN's layer embeddings.

Huang et al., "MixGCF: An Improved Training Method for Graph Neural Network-based Recommender
Systems", KDD 2021 (authors' code: huangtinglin/MixGCF, ``modules/LightGCN.py``,
``negative_sampling``). For each (user u, positive p) pair and M uniformly drawn candidate
negatives n_1..n_M, at every layer l = 0..L of the propagation:

* **positive mixing**: ``e'_m^(l) = α^(l) e_p^(l) + (1 - α^(l)) e_m^(l)``, with ``α^(l) ~ U[0, 1)``
  drawn once per pair and layer and shared by the M candidates (the authors' ``seed`` of shape
  ``[B, 1, L+1, 1]``);
* **hop mixing**: keep the candidate whose mixed embedding scores highest against the user,
  ``m_l = argmax_m <q, e'_m^(l)>``, where the query ``q`` is the user's pooled embedding (the
  authors' ``pool`` = mean / sum / final) or, for ``pool="concat"``, the user's layer-l embedding;
* **pooling**: the chosen mixed embeddings ``e'_{m_l}^(l)`` are pooled over the layers like the
  model pools its own layers (LightGCN: the mean) into one synthetic negative.

The selection is an argmax, so gradients flow only through the chosen, mixed embeddings (into the
positive's and the chosen candidates' layer embeddings), as in the authors' code. Because α is
shared by the candidates and ``1 - α > 0``, ``<q, e'_m> = α <q, e_p> + (1 - α) <q, e_m>`` ranks the
candidates as ``<q, e_m>`` does: the argmax is computed on the candidates themselves and only the
chosen ones are mixed (same result as mixing all M, without the ``[B, M, L+1, D]`` mixture).

:func:`mix_negatives` takes the candidates' layer embeddings ``[B, M, L+1, D]``;
:func:`mix_negatives_rows` takes their rows in the L+1 layer tables and gathers with gradient only
the chosen ones (what a model uses: the same values and gradients, a much cheaper backward).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

POOLS = ("mean", "sum", "final", "concat")


class MixedNegatives(NamedTuple):
    """The result of :func:`mix_negatives` for a batch of B pairs, L+1 layers, dimension D."""

    emb: torch.Tensor  # [B, D] pooled synthetic negative ([B, (L+1) D] for pool="concat")
    layers: torch.Tensor  # [B, L+1, D] the chosen mixed embedding at each layer (layer 0: its L2 target)
    index: torch.Tensor  # LongTensor[B, L+1] the candidate (0..M-1) chosen at each layer
    alpha: torch.Tensor  # [B, L+1] the positive-mixing coefficients


def pool_layers(layers: torch.Tensor, pool: str = "mean") -> torch.Tensor:
    """``[..., L+1, D] -> [..., D]``: ``mean`` / ``sum`` over the layers, the ``final`` layer, or
    ``concat`` (``[..., (L+1) D]``), the authors' ``pool`` options."""
    if pool == "mean":
        return layers.mean(-2)
    if pool == "sum":
        return layers.sum(-2)
    if pool == "final":
        return layers[..., -1, :]
    if pool == "concat":
        return layers.flatten(-2)
    raise ValueError(f"unknown pool {pool!r}; valid: {', '.join(POOLS)}")


def _check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; valid: {', '.join(POOLS)}")


def _alpha(alpha, generator, b: int, n_layers: int, like: torch.Tensor) -> torch.Tensor:
    """The positive-mixing coefficients ``[B, L+1]``: ``alpha`` as given, or ``U[0, 1)`` draws."""
    if alpha is None:
        dev = generator.device if generator is not None else like.device
        alpha = torch.rand((b, n_layers), generator=generator, device=dev)
    elif alpha.shape != (b, n_layers):
        raise ValueError(f"alpha must be [B, L+1] = {(b, n_layers)}, got {tuple(alpha.shape)}")
    return alpha.to(device=like.device, dtype=like.dtype)


def _check_user(user: torch.Tensor, b: int, n_layers: int, d: int) -> None:
    if user.shape not in ((b, d), (b, n_layers, d)):
        raise ValueError(f"user must be [B, D] or [B, L+1, D] = {(b, d)} or {(b, n_layers, d)}, got {tuple(user.shape)}")


def _mix(pos_layers, chosen, index, alpha, pool) -> MixedNegatives:
    """Positive mixing of the chosen candidates ``chosen [B, L+1, D]`` and pooling."""
    a = alpha.unsqueeze(-1)
    layers = a * pos_layers + (1 - a) * chosen
    return MixedNegatives(pool_layers(layers, pool), layers, index, alpha)


def mix_negatives(
    user: torch.Tensor,
    pos_layers: torch.Tensor,
    cand_layers: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    pool: str = "mean",
) -> MixedNegatives:
    """One MixGCF synthetic negative per (user, positive) pair.

    Args:
        user: the score query: ``[B, D]`` (the user's pooled embedding, the authors' query for
            pool mean / sum / final) or ``[B, L+1, D]`` (the user's embedding at each layer, their
            query for pool concat). Only used to choose (no gradient flows through it).
        pos_layers: ``[B, L+1, D]`` the positive item's embedding at layers 0..L.
        cand_layers: ``[B, M, L+1, D]`` the M candidate negatives' embeddings at layers 0..L
            (uniformly drawn non-interacted items).
        alpha: ``[B, L+1]`` mixing coefficients in [0, 1]; drawn ``U[0, 1)`` from ``generator``
            (``torch.rand((B, L+1), generator=generator)``, on the generator's device) when None.
        generator: the torch generator of the α draw (None: torch's global generator).
        pool: how the chosen layers become one vector: ``mean`` | ``sum`` | ``final`` | ``concat``.

    Returns:
        :class:`MixedNegatives` ``(emb [B, D], layers [B, L+1, D], index [B, L+1], alpha [B, L+1])``.
    """
    if pos_layers.dim() != 3 or cand_layers.dim() != 4:
        raise ValueError(f"pos_layers must be [B, L+1, D] and cand_layers [B, M, L+1, D], got "
                         f"{tuple(pos_layers.shape)} and {tuple(cand_layers.shape)}")
    b, m, n_layers, d = cand_layers.shape
    if pos_layers.shape != (b, n_layers, d) or m == 0:
        raise ValueError(f"pos_layers {tuple(pos_layers.shape)} does not match cand_layers "
                         f"{tuple(cand_layers.shape)} (need [B, L+1, D] and [B, M >= 1, L+1, D])")
    _check_user(user, b, n_layers, d)
    _check_pool(pool)
    alpha = _alpha(alpha, generator, b, n_layers, pos_layers)
    with torch.no_grad():  # hop mixing: rank the candidates at each layer (positive mixing does not reorder them)
        q, c = user.detach(), cand_layers.detach()
        scores = torch.einsum("bd,bmld->bml", q, c) if q.dim() == 2 else torch.einsum("bld,bmld->bml", q, c)
        index = scores.argmax(1)  # [B, L+1]
    chosen = cand_layers.gather(1, index[:, None, :, None].expand(b, 1, n_layers, d)).squeeze(1)
    return _mix(pos_layers, chosen, index, alpha, pool)


def mix_negatives_rows(
    user: torch.Tensor,
    pos_layers: torch.Tensor,
    tables: Sequence[torch.Tensor],
    cand_rows: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    pool: str = "mean",
) -> MixedNegatives:
    """:func:`mix_negatives` with the candidates given as rows of per-layer tables: the same
    values, draws and gradients as ``mix_negatives(user, pos_layers, stack([t[cand_rows] for t in
    tables], -2))``, but the candidates are scored without autograd (one ``[B*M, D]`` gather per
    layer) and only the chosen rows (``[B, L+1]``) are gathered with gradient: a step's backward
    does not scatter B*M rows into every layer.

    Args:
        user, pos_layers, alpha, generator, pool: as in :func:`mix_negatives`.
        tables: the L+1 layer tables ``[N, D]`` (e.g. ``LightGCNEncoder.propagate()``).
        cand_rows: ``LongTensor[B, M]`` the candidates' rows in the tables.

    Returns:
        :class:`MixedNegatives`; ``index`` is the position 0..M-1 in ``cand_rows``.
    """
    n_layers = len(tables)
    if cand_rows.dim() != 2 or pos_layers.dim() != 3 or n_layers == 0:
        raise ValueError(f"cand_rows must be [B, M] and pos_layers [B, L+1, D] with L+1 = len(tables) >= 1, got "
                         f"{tuple(cand_rows.shape)}, {tuple(pos_layers.shape)} and {n_layers} tables")
    b, m = cand_rows.shape
    d = tables[0].shape[1]
    if pos_layers.shape != (b, n_layers, d) or m == 0:
        raise ValueError(f"pos_layers {tuple(pos_layers.shape)} does not match {n_layers} tables of dimension {d} "
                         f"and cand_rows {tuple(cand_rows.shape)} (need [B, L+1, D] and [B, M >= 1])")
    _check_user(user, b, n_layers, d)
    _check_pool(pool)
    alpha = _alpha(alpha, generator, b, n_layers, pos_layers)
    flat = cand_rows.reshape(-1)
    with torch.no_grad():  # hop mixing, layer by layer: scores [B, M] each
        q = user.detach()
        scores = torch.stack([torch.bmm(t.detach().index_select(0, flat).view(b, m, d),
                                        (q if q.dim() == 2 else q[:, l]).unsqueeze(-1)).squeeze(-1)
                              for l, t in enumerate(tables)], -1)
        index = scores.argmax(1)  # [B, L+1]
    rows = cand_rows.gather(1, index)  # [B, L+1]: the chosen candidate's row at each layer
    chosen = torch.stack([t[rows[:, l]] for l, t in enumerate(tables)], 1)
    return _mix(pos_layers, chosen, index, alpha, pool)
