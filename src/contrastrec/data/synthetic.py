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

For large data sets (``contrastrec synth``), :class:`SyntheticStream` runs the same story a chunk
of users at a time, with exactly ``n_interactions`` rows and lognormal per-user counts
(:func:`synthetic_lengths`), and writes parquet or ``lists`` files. It uses its own random
streams, so it does not reproduce :func:`make_synthetic`'s rows for the same seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .dataset import Dataset, IdMap
from .readers import RawInteractions, write_interactions
from .splits import leave_one_out, random_split
from contrastrec.rng import spawn_rng


@dataclass
class SyntheticTruth:
    """Planted structure: ``user_group[n_users]``, ``item_cluster[n_items]``,
    ``successors[n_items, n_successors]`` (item indices), ``group_cluster_probs[n_groups, n_clusters]``."""

    user_group: np.ndarray
    item_cluster: np.ndarray
    successors: np.ndarray
    group_cluster_probs: np.ndarray


@dataclass
class _Planted:
    """Item-side planted structure shared by the in-memory and the streaming generators."""

    n_items: int
    n_clusters: int
    n_groups: int
    item_cluster: np.ndarray  # int64[n_items]
    by_cluster: np.ndarray  # items sorted by cluster, then popularity rank
    starts: np.ndarray  # first position of each cluster in by_cluster
    sizes: np.ndarray  # items per cluster
    keys: np.ndarray  # cluster + within-cluster popularity CDF, increasing along by_cluster
    probs: np.ndarray  # float64[n_groups, n_clusters]
    group_cdf: np.ndarray  # cumulative probs, last column 1.0
    successors: np.ndarray  # int64[n_items, n_succ]

    def __post_init__(self) -> None:
        cdf = np.minimum(np.maximum.accumulate(self.group_cdf, axis=1), 1.0)
        self._flat_cdf = (np.arange(self.n_groups, dtype=np.float64)[:, None] + cdf).ravel()

    @property
    def n_succ(self) -> int:
        return int(self.successors.shape[1])

    def fresh(self, rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
        """Fresh draws (cluster from the group, item from the cluster's popularity); the
        original in-memory version (memory ``len(groups) * n_clusters``)."""
        r = rng.random(groups.shape[0])
        c = (r[:, None] > self.group_cdf[groups]).sum(1)
        return self._item_in_cluster(rng, c)

    def fresh_stream(self, rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
        """Same distribution as :meth:`fresh` in ``O(len(groups))`` memory (one search per draw
        in the flattened, increasing ``group + cdf`` keys)."""
        r = rng.random(groups.shape[0])
        c = np.searchsorted(self._flat_cdf, groups + r, side="left") - groups * self.n_clusters
        return self._item_in_cluster(rng, np.clip(c, 0, None))

    def _item_in_cluster(self, rng: np.random.Generator, c: np.ndarray) -> np.ndarray:
        c = np.minimum(c, self.n_clusters - 1)
        v = rng.random(c.shape[0])
        pos = np.searchsorted(self.keys, c + v, side="right")
        pos = np.minimum(pos, self.starts[c] + self.sizes[c] - 1)
        return self.by_cluster[pos]


def _plant(
    rng: np.random.Generator,
    n_items: int,
    n_groups: int,
    n_clusters: int,
    popularity_skew: float,
    group_focus: float,
    n_successors: int,
    n_users: int | None = None,
) -> tuple[_Planted, np.ndarray | None]:
    """Draw the planted structure (and, with ``n_users``, the users' groups, drawn between the
    group preferences and the successors: the draw order of the original generator)."""
    n_clusters = max(1, min(n_clusters, n_items))
    n_groups = max(1, n_groups)

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
    user_group = None if n_users is None else rng.integers(0, n_groups, size=n_users)

    # successors: a random cyclic order inside each cluster, successors = next n_successors items
    cyc = np.lexsort((rng.random(n_items), item_cluster))
    pos_in = np.arange(n_items) - np.repeat(starts, sizes)
    n_succ = max(1, n_successors)
    successors = np.empty((n_items, n_succ), dtype=np.int64)
    cl_sorted = item_cluster[cyc]
    for s in range(n_succ):
        nxt = starts[cl_sorted] + (pos_in + 1 + s) % sizes[cl_sorted]
        successors[cyc, s] = cyc[nxt]
    planted = _Planted(n_items, n_clusters, n_groups, item_cluster, by_cluster, starts, sizes, keys,
                       probs, group_cdf, successors)
    return planted, user_group


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
    rng = np.random.default_rng(seed)
    pl, user_group = _plant(rng, n_items, n_groups, n_clusters, popularity_skew, group_focus,
                            n_successors, n_users)
    assert user_group is not None
    successors, n_succ = pl.successors, pl.n_succ

    def fresh(groups: np.ndarray) -> np.ndarray:
        return pl.fresh(rng, groups)

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
    truth = SyntheticTruth(user_group, pl.item_cluster, successors, pl.probs)
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
    With ``return_truth`` returns ``(dataset, SyntheticTruth)``. ``recipe`` holds these arguments, so
    that a run trained on it can rebuild it (:func:`regenerate`; runs record it in ``dataset.json``).
    """
    args = {"n_users": n_users, "n_items": n_items, "n_groups": n_groups, "n_clusters": n_clusters,
            "interactions_per_user": interactions_per_user, "popularity_skew": popularity_skew,
            "sequential": sequential, "seed": seed, "follow_prob": follow_prob, "n_successors": n_successors,
            "group_focus": group_focus, "min_length": min_length, "ratios": list(ratios)}
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
        recipe={"generator": "make_synthetic", "args": args},
    )
    return (ds, truth) if return_truth else ds


def regenerate(recipe: Any) -> Dataset:
    """The data set of a :attr:`Dataset.recipe` (as stored in a run's ``dataset.json``); a recipe
    this version cannot follow is a one-line DataError."""
    from .dataset import DataError

    if not isinstance(recipe, dict) or recipe.get("generator") != "make_synthetic" \
            or not isinstance(recipe.get("args"), dict):
        raise DataError(f"cannot regenerate the synthetic data: unknown recipe {str(recipe)[:200]}")
    args = dict(recipe["args"])
    if "ratios" in args:
        args["ratios"] = tuple(args["ratios"])
    try:
        return make_synthetic(**args)
    except (TypeError, ValueError) as e:
        raise DataError(f"cannot regenerate the synthetic data from its recipe ({e})") from None


# --------------------------------------------------------------------------------------------
# streaming generator (large data sets: ``contrastrec synth``)
# --------------------------------------------------------------------------------------------

SYNTH_FORMATS: tuple[str, ...] = ("parquet", "lists")
_STRUCTURE, _LENGTHS, _BLOCKS = 0, 1, 2  # SeedSequence spawn keys of the streams


def _stream_rng(seed: int, *key: int) -> np.random.Generator:
    return spawn_rng(int(seed), *key)


def synthetic_lengths(
    n_users: int,
    n_interactions: int,
    seed: int | np.random.Generator = 0,
    sigma: float = 1.0,
    min_length: int = 3,
    max_length: int | None = None,
) -> np.ndarray:
    """Per-user interaction counts ``int64[n_users]`` summing to exactly ``n_interactions``.

    Each user gets ``min_length`` plus a share of the rest proportional to a lognormal weight
    ``exp(sigma * Z)`` (a skewed, heavy right tail; ``sigma=0`` gives equal lengths), capped at
    ``max_length`` (the excess goes to the others). Shares are rounded by cumulative rounding, so
    the total is exact. Raises ``ValueError`` when ``n_interactions`` is outside
    ``[n_users * min_length, n_users * max_length]``.
    """
    n_users, total, min_length = int(n_users), int(n_interactions), int(min_length)
    if n_users < 1:
        raise ValueError("need at least one user")
    if min_length < 1:
        raise ValueError("min_length must be >= 1")
    cap = total if max_length is None else int(max_length)
    if cap < min_length:
        raise ValueError(f"max_length ({cap}) is below min_length ({min_length})")
    if total < n_users * min_length:
        raise ValueError(f"{total} interactions are fewer than {min_length} per user for {n_users} users "
                         f"(need at least {n_users * min_length})")
    if total > n_users * cap:
        raise ValueError(f"{total} interactions exceed {cap} per user for {n_users} users "
                         f"(at most {n_users * cap})")
    rng = seed if isinstance(seed, np.random.Generator) else _stream_rng(int(seed), _LENGTHS)
    w = np.exp(sigma * rng.standard_normal(n_users)) if sigma > 0 else np.ones(n_users)
    extra = np.zeros(n_users, dtype=np.int64)
    room = np.full(n_users, cap - min_length, dtype=np.int64)
    rest = total - n_users * min_length
    active = room > 0
    while rest > 0:  # water-filling: users whose share exceeds their room get the room
        idx = np.flatnonzero(active)
        share = rest * (w[idx] / w[idx].sum())
        over = share >= room[idx]
        if not over.any():
            cum = np.floor(rest * (np.cumsum(w[idx]) / w[idx].sum()) + 0.5).astype(np.int64)
            cum[-1] = rest
            add = np.minimum(np.diff(cum, prepend=0), room[idx])
            extra[idx] += add
            room[idx] -= add
            rest -= int(add.sum())
            # float rounding can leave a few interactions: one each to the users with most room
            while rest > 0:
                top = np.argsort(-room, kind="stable")[: min(rest, n_users)]
                top = top[room[top] > 0]
                extra[top] += 1
                room[top] -= 1
                rest -= top.size
            break
        hit = idx[over]
        extra[hit] += room[hit]
        rest -= int(room[hit].sum())
        room[hit] = 0
        active[hit] = False
    return min_length + extra


@dataclass
class SynthStats:
    """What :meth:`SyntheticStream.write` wrote."""

    path: Path
    format: str
    n_users: int
    n_items: int
    n_interactions: int
    items_used: int
    max_length: int
    sequential: bool
    seed: int
    seconds: float


class SyntheticStream:
    """The planted-structure generator of this module for large data, in chunks of users.

    Same story as :func:`make_synthetic` (user groups, item clusters with Zipf-like popularity,
    group preferences, in sequential mode Markov successors with ``follow_prob``; in graph mode
    distinct items per user), with three differences:

    * the total is exactly ``n_interactions``: user ``u`` has ``lengths[u]`` interactions from
      :func:`synthetic_lengths` (``min_length`` + a lognormal share; graph mode caps at
      ``n_items``);
    * memory is bounded by a chunk of users (``chunk_users``), not by ``n_interactions``: per-user
      state is only ``lengths`` and ``user_group`` (12 bytes a user), per-item state the
      structure (about ``40 + 8 * n_successors`` bytes an item);
    * randomness comes from independent streams (``SeedSequence(seed, spawn_key=...)``): one for
      the structure, one for lengths and groups, one per block of ``block_users`` users. Output
      depends on ``seed`` and ``block_users`` (and the other parameters), not on ``chunk_users``.

    It draws differently from :func:`make_synthetic`, so the same seed gives other data.
    Rows come grouped by user (users ``0..n_users-1`` in order), in sequence order within a
    user; positions (``0..len-1``) serve as timestamps.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_interactions: int,
        *,
        sequential: bool = False,
        seed: int = 0,
        n_groups: int = 4,
        n_clusters: int = 10,
        popularity_skew: float = 1.0,
        follow_prob: float = 0.7,
        n_successors: int = 2,
        group_focus: float = 0.85,
        min_length: int = 3,
        length_sigma: float = 1.0,
        chunk_users: int = 65536,
        block_users: int = 4096,
    ):
        if n_users < 1 or n_items < 2:
            raise ValueError("need n_users >= 1 and n_items >= 2")
        if chunk_users < 1 or block_users < 1:
            raise ValueError("chunk_users and block_users must be >= 1")
        if not 0.0 <= follow_prob <= 1.0:
            raise ValueError(f"follow_prob must be in [0, 1], got {follow_prob}")
        self.n_users, self.n_items, self.n_interactions = int(n_users), int(n_items), int(n_interactions)
        self.sequential, self.seed = bool(sequential), int(seed)
        self.follow_prob = float(follow_prob)
        self.block_users = int(block_users)
        # whole blocks per chunk (a chunk never splits a block)
        self.chunk_users = max(1, -(-int(chunk_users) // self.block_users)) * self.block_users
        self.lengths = synthetic_lengths(n_users, n_interactions, self.seed, length_sigma, min_length,
                                         max_length=None if sequential else n_items)
        group_rng = _stream_rng(self.seed, _LENGTHS, 1)
        self.planted, _ = _plant(_stream_rng(self.seed, _STRUCTURE), n_items, n_groups, n_clusters,
                                 popularity_skew, group_focus, n_successors)
        self.user_group = group_rng.integers(0, self.planted.n_groups, size=self.n_users).astype(np.int32)

    @property
    def truth(self) -> SyntheticTruth:
        p = self.planted
        return SyntheticTruth(self.user_group.astype(np.int64), p.item_cluster, p.successors, p.probs)

    def __len__(self) -> int:
        return self.n_interactions

    # -- generation ---------------------------------------------------------------------------

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(users, items, positions)`` (``int64`` each) per chunk of ``chunk_users`` users."""
        for c0 in range(0, self.n_users, self.chunk_users):
            parts = [self._block(b0 // self.block_users)
                     for b0 in range(c0, min(c0 + self.chunk_users, self.n_users), self.block_users)]
            if len(parts) == 1:
                yield parts[0]
            else:
                yield tuple(np.concatenate(a) for a in zip(*parts))  # type: ignore[misc]

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        u0 = b * self.block_users
        u1 = min(u0 + self.block_users, self.n_users)
        rng = _stream_rng(self.seed, _BLOCKS, b)
        L = self.lengths[u0:u1]
        groups = self.user_group[u0:u1].astype(np.int64)
        if self.sequential:
            items = self._sequences(rng, L, groups)
        else:
            items = self._distinct(rng, L, groups)
        starts = np.cumsum(L) - L
        users = np.repeat(np.arange(u0, u1, dtype=np.int64), L)
        pos = np.arange(items.shape[0], dtype=np.int64) - np.repeat(starts, L)
        return users, items, pos

    def _sequences(self, rng: np.random.Generator, L: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Markov sequences: all random numbers are drawn up front per block; the chain runs over
        positions, on the users still active (longest first)."""
        p = self.planted
        R = int(L.sum())
        items = p.fresh_stream(rng, np.repeat(groups, L))
        follow = rng.random(R) < self.follow_prob
        pick = rng.integers(0, p.n_succ, size=R)
        starts = np.cumsum(L) - L
        order = np.argsort(-L, kind="stable")
        neg_len, st = -L[order], starts[order]
        succ = p.successors
        for t in range(1, int(L.max())):
            k = int(np.searchsorted(neg_len, -t, side="left"))  # users with length > t
            idx = st[:k] + t
            idx = idx[follow[idx]]
            items[idx] = succ[items[idx - 1], pick[idx]]
        return items

    def _distinct(self, rng: np.random.Generator, L: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Distinct items per user, in draw order: rounds of fresh draws (1.5x oversampling) for
        the users still short, then uniform draws, then an exact fill (users near ``n_items``)."""
        p, n_items = self.planted, self.n_items
        n = L.shape[0]
        need = L.astype(np.int64).copy()
        got_u: list[np.ndarray] = []
        got_i: list[np.ndarray] = []
        taken = np.empty(0, dtype=np.int64)  # sorted keys local_user * n_items + item
        for rnd in range(16):
            who = np.flatnonzero(need > 0)
            if who.size == 0:
                break
            d = need[who]
            uu = np.repeat(who, d + d // 2 + 4)
            it = rng.integers(0, n_items, size=uu.shape[0]) if rnd >= 8 else p.fresh_stream(rng, groups[uu])
            key = uu * n_items + it
            if taken.size:
                at = np.minimum(np.searchsorted(taken, key), taken.size - 1)
                fresh = taken[at] != key
                uu, it, key = uu[fresh], it[fresh], key[fresh]
            _, first = np.unique(key, return_index=True)
            first.sort()
            uu, it = uu[first], it[first]
            cnt = np.bincount(uu, minlength=n)
            rank = np.arange(uu.shape[0]) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            ok = rank < need[uu]
            uu, it = uu[ok], it[ok]
            need -= np.bincount(uu, minlength=n)
            got_u.append(uu)
            got_i.append(it)
            taken = np.sort(np.concatenate([taken, uu * n_items + it]))
        for u in np.flatnonzero(need > 0):  # rare: users holding most of the catalogue
            mine = taken[(taken >= u * n_items) & (taken < (u + 1) * n_items)] - u * n_items
            free = np.setdiff1d(np.arange(n_items, dtype=np.int64), mine, assume_unique=True)
            got_u.append(np.full(int(need[u]), u, dtype=np.int64))
            got_i.append(rng.choice(free, size=int(need[u]), replace=False))
            need[u] = 0
        uu = np.concatenate(got_u)
        it = np.concatenate(got_i)
        return it[np.argsort(uu, kind="stable")]  # grouped by user, rounds in order

    # -- writing ------------------------------------------------------------------------------

    def write(self, path: str | Path, format: str = "parquet",
              progress: Callable[[int, int], None] | None = None) -> SynthStats:
        """Write the rows chunk by chunk: ``parquet`` (int64 columns ``user``, ``item``,
        ``timestamp``; one row group per chunk, via ``pyarrow.parquet.ParquetWriter``) or
        ``lists`` (``user item item ...`` lines, items in sequence order; the reader detects
        these as sequences). ``progress(rows_done, n_interactions)`` is called per chunk."""
        import time

        fmt = str(format).lower()
        if fmt not in SYNTH_FORMATS:
            raise ValueError(f"unknown format {format!r} (known: {', '.join(SYNTH_FORMATS)})")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        used = np.zeros(self.n_items, dtype=bool)
        rows = 0
        longest = 0
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([("user", pa.int64()), ("item", pa.int64()), ("timestamp", pa.int64())])
            with pq.ParquetWriter(path, schema) as writer:
                for users, items, pos in self.chunks():
                    writer.write_table(pa.Table.from_arrays(
                        [pa.array(users), pa.array(items), pa.array(pos)], schema=schema))
                    used[items] = True
                    rows += users.shape[0]
                    if progress is not None:
                        progress(rows, self.n_interactions)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                for users, items, pos in self.chunks():
                    fh.write(_lists_text(users, items, pos))
                    used[items] = True
                    rows += users.shape[0]
                    if progress is not None:
                        progress(rows, self.n_interactions)
        if self.n_users:
            longest = int(self.lengths.max())
        return SynthStats(path, fmt, self.n_users, self.n_items, rows, int(used.sum()), longest,
                          self.sequential, self.seed, time.perf_counter() - t0)


def _lists_text(users: np.ndarray, items: np.ndarray, pos: np.ndarray) -> str:
    """``user item item ...`` lines of rows grouped by user (a new user starts at ``pos == 0``)."""
    heads = np.flatnonzero(pos == 0)
    n_lines = heads.shape[0]
    tok = np.empty(items.shape[0] + n_lines, dtype=np.int64)
    at = heads + np.arange(n_lines)  # where each user's token goes
    is_user = np.zeros(tok.shape[0], dtype=bool)
    is_user[at] = True
    tok[at] = users[heads]
    tok[~is_user] = items
    words = list(map(str, tok.tolist()))
    bounds = np.append(at, tok.shape[0]).tolist()
    join = " ".join
    return "".join([join(words[a:b]) + "\n" for a, b in zip(bounds[:-1], bounds[1:])])


def write_synthetic_stream(path: str | Path, n_users: int, n_items: int, n_interactions: int,
                           format: str = "parquet", **kwargs: Any) -> SynthStats:
    """Write a :class:`SyntheticStream` (``**kwargs``: its options) to ``path``; see
    :meth:`SyntheticStream.write`."""
    return SyntheticStream(n_users, n_items, n_interactions, **kwargs).write(path, format)
