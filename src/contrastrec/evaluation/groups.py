"""Group and beyond-accuracy metrics: where a model's accuracy lies, and what it recommends.

Computed in the evaluator's full-ranking pass (:func:`contrastrec.evaluation.evaluate_detailed`
with ``groups=``), from the same top-K lists as the overall metrics.

* **Item-popularity groups** (SGL, Wu et al. SIGIR 2021, Sec. 4.3): items sorted by training
  interactions, most popular first, cut into ``n_item_groups`` groups of (about) equal *total*
  training interactions; group 0 is the head, the last the tail (items never seen in training go
  to the tail). A user's value in group ``g`` is the metric computed with only the user's targets
  in ``g`` as relevant and only hits on items of ``g`` counting (``recall@k|g = |top-k ∩ T_u ∩ g| /
  |T_u ∩ g|``, NDCG likewise with the ideal DCG of ``min(|T_u ∩ g|, k)``); users with no target in
  ``g`` have no value there (NaN), and a group's mean is over the users that have one.
* **User-activity groups**: users sorted by training interactions, sparsest first, cut into
  ``n_user_groups`` groups of (about) equal numbers of users (a tie at a cut goes to one side);
  a group's metric is the mean of its users' overall values.
* **Beyond accuracy at each k**: catalogue coverage (share of items in at least one top-k list),
  ARP (average training popularity of the recommended items: per user the mean over the list, then
  the mean over users; Abdollahpouri et al. 2019) and the Gini coefficient of exposure (how often
  each item appears in the top-k lists, over all items; 0 = even, 1 = one item takes all).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Groups", "popularity_groups", "activity_groups", "gini", "group_labels", "summarize_groups",
           "per_user_columns"]


def popularity_groups(counts: np.ndarray, n_groups: int) -> np.ndarray:
    """``[n_items]`` group of each item: 0 = head ... ``n_groups - 1`` = tail, by equal shares of
    the total training interactions (ties in popularity broken by item index)."""
    counts = np.asarray(counts, dtype=np.int64)
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    order = np.lexsort((np.arange(counts.size), -counts))  # most popular first
    total = int(counts.sum())
    before = np.cumsum(counts[order]) - counts[order]  # interactions of the more popular items
    g = (before * n_groups) // total if total else np.zeros(counts.size, dtype=np.int64)
    out = np.empty(counts.size, dtype=np.int64)
    out[order] = np.minimum(g, n_groups - 1)
    out[counts == 0] = n_groups - 1
    return out


def activity_groups(counts: np.ndarray, n_groups: int) -> np.ndarray:
    """``[n_users]`` group of each user: 0 = sparsest ... ``n_groups - 1`` = most active, by equal
    numbers of users (ties in activity broken by user index)."""
    counts = np.asarray(counts, dtype=np.int64)
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1, got {n_groups}")
    order = np.lexsort((np.arange(counts.size), counts))  # sparsest first
    out = np.empty(counts.size, dtype=np.int64)
    out[order] = (np.arange(counts.size) * n_groups) // max(counts.size, 1)
    return out


def gini(x: np.ndarray) -> float:
    """Gini coefficient of the non-negative values ``x`` (0 for all-equal or all-zero values)."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return 0.0
    return float((2.0 * np.sum(np.arange(1, n + 1) * x) / (n * total)) - (n + 1.0) / n)


def group_labels(n_groups: int, low: str, high: str) -> list[str]:
    """Names of the groups, e.g. ``["head", "mid", "tail"]`` for 3 item groups."""
    if n_groups == 0:
        return []
    if n_groups == 1:
        return ["all"]
    if n_groups == 2:
        return [low, high]
    if n_groups == 3:
        return [low, "mid", high]
    return [f"{low}" if g == 0 else f"{high}" if g == n_groups - 1 else f"g{g}" for g in range(n_groups)]


@dataclass(frozen=True)
class Groups:
    """Item-popularity and user-activity groups of one training split (see the module docstring)."""

    item_pop: np.ndarray  # [n_items] training interactions per item
    user_activity: np.ndarray  # [n_users] training interactions per user
    item_group: np.ndarray  # [n_items] 0 = head
    user_group: np.ndarray  # [n_users] 0 = sparsest
    n_item_groups: int
    n_user_groups: int

    @classmethod
    def from_train(cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                   n_item_groups: int = 3, n_user_groups: int = 3) -> "Groups":
        """Groups of a training split; 0 groups of a kind leaves that kind out."""
        pop = np.bincount(np.asarray(items, dtype=np.int64), minlength=n_items)
        act = np.bincount(np.asarray(users, dtype=np.int64), minlength=n_users)
        ig = popularity_groups(pop, n_item_groups) if n_item_groups else np.zeros(n_items, dtype=np.int64)
        ug = activity_groups(act, n_user_groups) if n_user_groups else np.zeros(n_users, dtype=np.int64)
        return cls(pop, act, ig, ug, int(n_item_groups), int(n_user_groups))

    @property
    def item_labels(self) -> list[str]:
        return group_labels(self.n_item_groups, "head", "tail")

    @property
    def user_labels(self) -> list[str]:
        return group_labels(self.n_user_groups, "sparse", "active")


def _mean(v: np.ndarray) -> float | None:
    v = v[~np.isnan(v)]
    return float(np.mean(v, dtype=np.float64)) if v.size else None


def summarize_groups(result, groups: Groups) -> dict:
    """The JSON-able group and beyond-accuracy summary of an
    :class:`~contrastrec.evaluation.EvaluationResult` computed with ``groups``::

        {"item_groups": {"head": {"items": n, "train_share": s, "users": n, "recall@20": ...}, ...},
         "user_groups": {"sparse": {"users": n, "train_interactions": [lo, hi], "recall@20": ...}, ...},
         "coverage@20": ..., "arp@20": ..., "gini@20": ...}
    """
    out: dict = {"item_groups": {}, "user_groups": {}}
    total = max(int(groups.item_pop.sum()), 1)
    for g, label in enumerate(groups.item_labels):
        members = groups.item_group == g
        vals = result.item_group_values.get(g, {})
        n_users = int(np.sum(~np.isnan(next(iter(vals.values()))))) if vals else 0
        out["item_groups"][label] = {"items": int(members.sum()),
                                     "train_share": round(float(groups.item_pop[members].sum()) / total, 4),
                                     "users": n_users, **{k: _mean(v) for k, v in vals.items()}}
    ug = groups.user_group[result.users] if result.n_users else np.zeros(0, dtype=np.int64)
    for g, label in enumerate(groups.user_labels):
        sel = ug == g
        act = groups.user_activity[result.users[sel]] if sel.any() else np.zeros(0, dtype=np.int64)
        out["user_groups"][label] = {"users": int(sel.sum()),
                                     "train_interactions": [int(act.min()), int(act.max())] if act.size else None,
                                     **{k: _mean(v[sel]) for k, v in result.per_user.items()}}
    for k, exposure in sorted(result.exposure.items()):
        out[f"coverage@{k}"] = float(np.count_nonzero(exposure)) / exposure.size
        out[f"arp@{k}"] = _mean(result.arp[k])
        out[f"gini@{k}"] = gini(exposure)
    return out


def per_user_columns(result, groups: Groups, raw_user_ids: list[str]) -> dict[str, list | np.ndarray]:
    """The columns of a run's per-user file: one row per evaluated user, keyed by the raw user id,
    with the user's group and training interactions, every overall metric and, per item group,
    the metric over the user's targets in that group (``recall@20|tail``; NaN: no target there)."""
    cols: dict[str, list | np.ndarray] = {
        "user": raw_user_ids,
        "user_index": result.users.astype(np.int64),
        "train_interactions": groups.user_activity[result.users].astype(np.int64),
    }
    if groups.n_user_groups:
        labels = np.array(groups.user_labels, dtype=object)
        cols["user_group"] = labels[groups.user_group[result.users]].tolist()
        cols["user_group_index"] = groups.user_group[result.users].astype(np.int64)  # 0 = sparsest
    cols.update({k: np.asarray(v, dtype=np.float64) for k, v in result.per_user.items()})
    for g, label in enumerate(groups.item_labels):
        for k, v in result.item_group_values.get(g, {}).items():
            cols[f"{k}|{label}"] = np.asarray(v, dtype=np.float64)
    return cols
