"""Synthetic interaction data with planted structure (for tests, examples and sanity checks).

Generative story (all draws from one ``numpy.random.Generator(seed)``):

* items are split into ``n_clusters`` clusters of (almost) equal size, at random; within a cluster
  items have Zipf-like popularity ``1 / rank ** popularity_skew`` (random ranks);
* users are assigned uniformly to ``n_groups`` groups; a group puts ``group_focus`` of its mass on a
  few preferred clusters (``max(1, n_clusters // n_groups)``) and the rest uniformly on all;
* a *fresh* draw picks a cluster from the user's group, then an item from the cluster's popularity;
* graph mode (``sequential=False``): a user's items are distinct fresh draws;
* sequential mode: the first item is a fresh draw, then with probability ``follow_prob`` the next
  item is one of the ``n_successors`` successors of the previous item (fixed random successors
  inside its cluster), else a fresh draw. A sequential model can learn the successor structure;
  popularity cannot.

Sequence lengths are ``max(min_length, Poisson(interactions_per_user))``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset import Dataset, IdMap
from .readers import RawInteractions, write_interactions
from .splits import leave_one_out, random_split


@dataclass
class SyntheticTruth:
    """Planted structure: ``user_group[n_users]``, ``item_cluster[n_items]``,
    ``successors[n_items, n_successors]`` (item indices), ``group_cluster_probs[n_groups, n_clusters]``."""

    user_group: np.ndarray
    item_cluster: np.ndarray
    successors: np.ndarray
    group_cluster_probs: np.ndarray


def _generate(
    n_users: int,
    n_items: int,
    n_groups: int,
    n_clusters: int,
    interactions_per_user: float,
    popularity_skew: float,
    sequential: bool,
    seed: int,
    follow_prob: float,
    n_successors: int,
    group_focus: float,
    min_length: int,
) -> tuple[np.ndarray, np.ndarray, SyntheticTruth]:
    """Rows ``(users int64[N], items int64[N])`` grouped by user, in sequence order, and the truth."""
    if n_users < 1 or n_items < 2:
        raise ValueError("need n_users >= 1 and n_items >= 2")
    n_clusters = max(1, min(n_clusters, n_items))
    n_groups = max(1, n_groups)
    rng = np.random.default_rng(seed)

    # clusters and within-cluster popularity
    item_cluster = rng.permutation(np.arange(n_items) % n_clusters).astype(np.int64)
    pop_rank_key = rng.random(n_items)
    by_cluster = np.lexsort((pop_rank_key, item_cluster))  # items sorted by cluster, then rank
    sizes = np.bincount(item_cluster, minlength=n_clusters)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank_in_cluster = np.arange(n_items) - np.repeat(starts, sizes)
    w = 1.0 / (rank_in_cluster + 1.0) ** popularity_skew
    cum = np.cumsum(w)
    cluster_tot = np.add.reduceat(w, starts)
    cluster_cum_before = np.repeat(cum[starts] - w[starts], sizes)
    within_cdf = (cum - cluster_cum_before) / np.repeat(cluster_tot, sizes)
    keys = np.repeat(np.arange(n_clusters, dtype=np.float64), sizes) + within_cdf  # increasing

    # group preferences over clusters
    m = max(1, n_clusters // n_groups)
    probs = np.full((n_groups, n_clusters), (1.0 - group_focus) / n_clusters)
    for g in range(n_groups):
        pref = rng.choice(n_clusters, size=m, replace=False)
        probs[g, pref] += group_focus / m
    probs /= probs.sum(1, keepdims=True)
    group_cdf = np.cumsum(probs, axis=1)
    group_cdf[:, -1] = 1.0
    user_group = rng.integers(0, n_groups, size=n_users)

    # successors: a random cyclic order inside each cluster, successors = next n_successors items
    cyc = np.lexsort((rng.random(n_items), item_cluster))
    pos_in = np.arange(n_items) - np.repeat(starts, sizes)
    n_succ = max(1, n_successors)
    successors = np.empty((n_items, n_succ), dtype=np.int64)
    cl_sorted = item_cluster[cyc]
    for s in range(n_succ):
        nxt = starts[cl_sorted] + (pos_in + 1 + s) % sizes[cl_sorted]
        successors[cyc, s] = cyc[nxt]

    def fresh(groups: np.ndarray) -> np.ndarray:
        r = rng.random(groups.shape[0])
        c = (r[:, None] > group_cdf[groups]).sum(1)
        c = np.minimum(c, n_clusters - 1)
        v = rng.random(groups.shape[0])
        pos = np.searchsorted(keys, c + v, side="right")
        pos = np.minimum(pos, starts[c] + sizes[c] - 1)
        return by_cluster[pos]

    lengths = np.maximum(rng.poisson(interactions_per_user, size=n_users), min_length)
    if not sequential:
        lengths = np.minimum(lengths, n_items)
    users_all = np.arange(n_users)
    if sequential:
        L = int(lengths.max())
        seqs = np.empty((n_users, L), dtype=np.int64)
        seqs[:, 0] = fresh(user_group)
        for t in range(1, L):
            follow = rng.random(n_users) < follow_prob
            pick = rng.integers(0, n_succ, size=n_users)
            seqs[:, t] = np.where(follow, successors[seqs[:, t - 1], pick], fresh(user_group))
        valid = np.arange(L)[None, :] < lengths[:, None]
        users = np.broadcast_to(users_all[:, None], seqs.shape)[valid]
        items = seqs[valid]
    else:
        # oversample distinct items per user, keep the first `length` distinct ones
        draws = np.maximum((lengths * 1.5).astype(np.int64) + 4, lengths)
        users = np.repeat(users_all, draws)
        items = fresh(user_group[users])
        key = users * n_items + items
        _, first = np.unique(key, return_index=True)
        first.sort()
        users, items = users[first], items[first]
        starts_u = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))[:-1]])
        rank = np.arange(users.shape[0]) - starts_u[users]
        ok = rank < lengths[users]
        users, items = users[ok], items[ok]
    truth = SyntheticTruth(user_group, item_cluster, successors, probs)
    return users.astype(np.int64), items.astype(np.int64), truth


def synthetic_raw(
    n_users: int = 1000,
    n_items: int = 500,
    n_groups: int = 4,
    n_clusters: int = 10,
    interactions_per_user: float = 20,
    popularity_skew: float = 1.0,
    sequential: bool = True,
    seed: int = 0,
    follow_prob: float = 0.7,
    n_successors: int = 2,
    group_focus: float = 0.85,
    min_length: int = 3,
) -> RawInteractions:
    """Synthetic rows as :class:`RawInteractions` (raw ids ``"0".."n-1"``, timestamps = position
    in the user's sequence, rows grouped by user). Same generator as :func:`make_synthetic`."""
    users, items, _ = _generate(n_users, n_items, n_groups, n_clusters, interactions_per_user,
                                popularity_skew, sequential, seed, follow_prob, n_successors,
                                group_focus, min_length)
    starts = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))[:-1]])
    ts = (np.arange(users.shape[0]) - starts[users]).astype(np.float64)
    return RawInteractions(users=users.astype(str).astype(object), items=items.astype(str).astype(object),
                           timestamps=ts, source="<synthetic>", format="triples")


def write_synthetic(path: str | Path, format: str = "lists", **kwargs) -> Path:
    """Write :func:`synthetic_raw` (``**kwargs``) to ``path`` as ``lists`` (default), ``triples``,
    ``atomic`` or ``parquet``."""
    return write_interactions(synthetic_raw(**kwargs), path, format=format, header=format == "triples")


def make_synthetic(
    n_users: int = 1000,
    n_items: int = 500,
    n_groups: int = 4,
    n_clusters: int = 10,
    interactions_per_user: float = 20,
    popularity_skew: float = 1.0,
    sequential: bool = True,
    seed: int = 0,
    follow_prob: float = 0.7,
    n_successors: int = 2,
    group_focus: float = 0.85,
    min_length: int = 3,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    return_truth: bool = False,
) -> Dataset | tuple[Dataset, SyntheticTruth]:
    """A split synthetic :class:`Dataset` (see the module docstring for the generative story).

    Users and items keep their generated indices (``user_map``/``item_map`` are ``"0".."n-1"``,
    so ``n_items`` counts items never drawn too). Sequential data is split leave-one-out, graph
    data by a seeded per-user random ``ratios`` split. ``item_attributes`` holds each item's
    cluster (attribute ``cluster + 1``; ``n_attributes = n_clusters``). Deterministic in ``seed``.
    With ``return_truth`` returns ``(dataset, SyntheticTruth)``.
    """
    users, items, truth = _generate(n_users, n_items, n_groups, n_clusters, interactions_per_user,
                                    popularity_skew, sequential, seed, follow_prob, n_successors,
                                    group_focus, min_length)
    if sequential:
        res = leave_one_out(users, items, min_interactions=3)
        how = "leave-one-out"
    else:
        res = random_split(users, items, ratios=ratios, seed=seed)
        how = f"random per user {ratios[0]:g}/{ratios[1]:g}/{ratios[2]:g} (seed {seed})"
    n_cl = int(truth.item_cluster.max()) + 1
    ds = Dataset(
        name="synthetic",
        n_users=n_users,
        n_items=n_items,
        user_map=IdMap(str(u) for u in range(n_users)),
        item_map=IdMap(str(i) for i in range(n_items)),
        train=res.train,
        valid=res.valid,
        test=res.test,
        sequential=sequential,
        notes=[
            f"synthetic (seed {seed}): {n_users} users in {n_groups} groups, {n_items} items in "
            f"{n_cl} clusters, popularity skew {popularity_skew}, "
            + (f"Markov successors (follow {follow_prob})" if sequential else "distinct items per user"),
            f"split: {how}",
        ]
        + ([f"skipped {res.skipped_users} users with fewer than 3 interactions"] if res.skipped_users else []),
        item_attributes={i: [int(c) + 1] for i, c in enumerate(truth.item_cluster)},
        n_attributes=n_cl,
    )
    return (ds, truth) if return_truth else ds
