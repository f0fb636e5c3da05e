"""Per-user top-k ranking metrics computed from a top-k hits matrix.

All functions are pure torch. The input is

* ``topk_hits``: ``BoolTensor[B, K]``; ``topk_hits[b, r]`` is True when the item ranked at position
  ``r`` (0-based) for user ``b`` is one of the user's targets;
* ``n_targets``: ``LongTensor[B]``; the number of targets of each user (relevant items in the whole
  catalogue, not only in the top-K).

Definitions at cut-off ``k`` (``hits@k`` = number of True in the first ``k`` columns):

* ``recall@k``    = hits@k / n_targets
* ``precision@k`` = hits@k / k
* ``hit@k``       = 1 if hits@k > 0 else 0 (HR, hit ratio; alias ``hr``)
* ``ndcg@k``      = DCG@k / IDCG@k with DCG@k = sum_{r<k} hit[r] / log2(r + 2) and IDCG@k the DCG of
  ``min(n_targets, k)`` hits at the top ranks
* ``mrr@k``       = 1 / (rank of the first hit, 1-based) if that rank is <= k else 0

Users with ``n_targets == 0`` get 0 for every metric (the evaluator skips them anyway).
All metrics are computed once at ``K = max(ks)`` and sliced for smaller cut-offs. When the hits
matrix has fewer than ``k`` columns (catalogue smaller than ``k``), missing ranks count as misses
(computed without padding: a ``k`` far above the catalogue costs no memory).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

#: Canonical metric names, in output order.
METRICS: tuple[str, ...] = ("recall", "ndcg", "hit", "precision", "mrr")

#: Accepted aliases (lowercase) -> canonical name.
ALIASES: dict[str, str] = {"hr": "hit", "hitrate": "hit", "hit_rate": "hit"}


def canonical_metric(name: str) -> str:
    """Lowercase canonical metric name; resolves aliases (``"HR"`` -> ``"hit"``).

    Raises ``ValueError`` for an unknown name.
    """
    if not isinstance(name, str):
        raise ValueError(f"metric name must be a string, got {name!r}")
    n = name.strip().lower()
    n = ALIASES.get(n, n)
    if n not in METRICS:
        raise ValueError(
            f"unknown metric {name!r}; expected one of {', '.join(METRICS)} (alias: hr -> hit)"
        )
    return n


def parse_metric(spec: str) -> tuple[str, int]:
    """``"NDCG@20"`` -> ``("ndcg", 20)``; ``"HR@10"`` -> ``("hit", 10)``.

    Raises ``ValueError`` for an unknown name, a missing ``@k`` or a non-positive ``k``.
    """
    if not isinstance(spec, str) or spec.count("@") != 1:
        raise ValueError(f"metric must look like 'name@k' (e.g. 'ndcg@20'), got {spec!r}")
    name, k_str = spec.split("@")
    try:
        k = int(k_str.strip())
    except ValueError:
        raise ValueError(f"metric cut-off must be an integer in {spec!r}") from None
    if k <= 0:
        raise ValueError(f"metric cut-off must be positive in {spec!r}")
    return canonical_metric(name), k


def metric_key(name: str, k: int) -> str:
    """Output key ``name@k`` (canonical lowercase name)."""
    return f"{canonical_metric(name)}@{int(k)}"


def resolve_metric_specs(
    ks: Iterable[int] | int, metrics: Iterable[str] | str
) -> list[tuple[str, int]]:
    """Expand ``ks`` x ``metrics`` into an ordered, de-duplicated list of ``(name, k)``.

    Entries of ``metrics`` without ``@`` are combined with every ``k`` in ``ks``; entries written as
    ``name@k`` are taken as they are (and need no ``ks``).
    """
    if isinstance(ks, int):
        ks = (ks,)
    if isinstance(metrics, str):
        metrics = (metrics,)
    ks = [int(k) for k in ks]
    for k in ks:
        if k <= 0:
            raise ValueError(f"ks must be positive integers, got {k}")
    specs: list[tuple[str, int]] = []
    for m in metrics:
        if "@" in m:
            specs.append(parse_metric(m))
        else:
            name = canonical_metric(m)
            specs.extend((name, k) for k in ks)
    seen: set[tuple[str, int]] = set()
    out = []
    for s in specs:
        if s not in seen:
            seen.add(s)
            out.append(s)
    if not out:
        raise ValueError("no metrics requested (empty ks or metrics)")
    return out


def _check(topk_hits: torch.Tensor, n_targets: torch.Tensor) -> None:
    if topk_hits.dim() != 2:
        raise ValueError(f"topk_hits must be 2-D [B, K], got shape {tuple(topk_hits.shape)}")
    if n_targets.dim() != 1 or n_targets.shape[0] != topk_hits.shape[0]:
        raise ValueError(
            f"n_targets must be 1-D of length {topk_hits.shape[0]}, got shape {tuple(n_targets.shape)}"
        )


def _discounts(K: int, device: torch.device) -> torch.Tensor:
    return 1.0 / torch.log2(torch.arange(K, device=device, dtype=torch.float64) + 2.0)


def compute_metrics(
    topk_hits: torch.Tensor,
    n_targets: torch.Tensor,
    ks: Iterable[int] | int = (10, 20),
    metrics: Iterable[str] | str = METRICS,
) -> dict[str, torch.Tensor]:
    """Per-user metrics for several cut-offs at once.

    Returns ``{"name@k": FloatTensor[B] (float64)}`` in the order of ``resolve_metric_specs``.
    """
    _check(topk_hits, n_targets)
    specs = resolve_metric_specs(ks, metrics)
    B = topk_hits.shape[0]
    K = min(max(k for _, k in specs), topk_hits.shape[1])  # ranks held; those beyond are misses (no padding)
    device = topk_hits.device
    hits = topk_hits[:, :K].to(torch.float64)
    n_t = n_targets.to(device=device, dtype=torch.float64)
    has = n_t > 0
    safe_n = torch.where(has, n_t, torch.ones_like(n_t))
    names = {n for n, _ in specs}

    def upto(cum: torch.Tensor, k: int) -> torch.Tensor:  # column k of [0, cum...]: the sum over ranks < k
        return cum[:, min(k, K) - 1] if min(k, K) > 0 else cum.new_zeros(B)

    cum_hits = hits.cumsum(dim=1)  # [B, K]
    out: dict[str, torch.Tensor] = {}
    if "ndcg" in names:
        cum_dcg = (hits * _discounts(K, device)).cumsum(dim=1)  # [B, K]
        most = min(max(k for _, k in specs), int(n_targets.max()) if B else 0)  # the most top hits an IDCG counts
        ideal = torch.cat([hits.new_zeros(1), _discounts(most, device).cumsum(0)])  # ideal[m] = DCG of m top hits
    if "mrr" in names:
        ranks = torch.arange(K, device=device).expand(B, K)
        first = torch.where(hits > 0, ranks, torch.full_like(ranks, K)).min(dim=1).values if K else \
            torch.zeros(B, dtype=torch.long, device=device)  # [B]; K = no hit among the ranks held
        found = hits.any(dim=1) if K else torch.zeros(B, dtype=torch.bool, device=device)
        rr = 1.0 / (first.to(torch.float64) + 1.0)
    for name, k in specs:
        h = upto(cum_hits, k)
        if name == "recall":
            v = torch.where(has, h / safe_n, torch.zeros_like(h))
        elif name == "precision":
            v = h / float(k)
        elif name == "hit":
            v = (h > 0).to(torch.float64)
        elif name == "ndcg":
            m = torch.clamp(n_targets.to(device), max=k).to(torch.long)
            idcg = ideal[m]
            v = torch.where(has, upto(cum_dcg, k) / torch.where(has, idcg, torch.ones_like(idcg)),
                            torch.zeros_like(h))
        elif name == "mrr":
            v = torch.where(found & (first < k), rr, torch.zeros_like(rr))
        else:  # pragma: no cover - resolve_metric_specs guarantees canonical names
            raise AssertionError(name)
        out[f"{name}@{k}"] = v
    return out


# ---------------------------------------------------------------------------------------------
# Single-metric conveniences (same definitions as compute_metrics).


def recall_at_k(topk_hits: torch.Tensor, n_targets: torch.Tensor, k: int) -> torch.Tensor:
    return compute_metrics(topk_hits, n_targets, (k,), ("recall",))[f"recall@{k}"]


def ndcg_at_k(topk_hits: torch.Tensor, n_targets: torch.Tensor, k: int) -> torch.Tensor:
    return compute_metrics(topk_hits, n_targets, (k,), ("ndcg",))[f"ndcg@{k}"]


def hit_at_k(topk_hits: torch.Tensor, n_targets: torch.Tensor, k: int) -> torch.Tensor:
    return compute_metrics(topk_hits, n_targets, (k,), ("hit",))[f"hit@{k}"]


def precision_at_k(topk_hits: torch.Tensor, n_targets: torch.Tensor, k: int) -> torch.Tensor:
    return compute_metrics(topk_hits, n_targets, (k,), ("precision",))[f"precision@{k}"]


def mrr_at_k(topk_hits: torch.Tensor, n_targets: torch.Tensor, k: int) -> torch.Tensor:
    return compute_metrics(topk_hits, n_targets, (k,), ("mrr",))[f"mrr@{k}"]


__all__: Sequence[str] = (
    "METRICS",
    "ALIASES",
    "canonical_metric",
    "parse_metric",
    "metric_key",
    "resolve_metric_specs",
    "compute_metrics",
    "recall_at_k",
    "ndcg_at_k",
    "hit_at_k",
    "precision_at_k",
    "mrr_at_k",
)
