import math

import numpy as np
import pytest
import torch

from contrastrec.evaluation import METRICS, compute_metrics, parse_metric
from contrastrec.evaluation.metrics import (
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    resolve_metric_specs,
)


def brute_metrics(hits_row, n_t, k):
    """Plain-Python float64 reference for one user."""
    h = [bool(x) for x in hits_row[:k]] + [False] * max(0, k - len(hits_row))
    nh = sum(h)
    dcg = sum(1.0 / math.log2(r + 2) for r in range(k) if h[r])
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(n_t, k)))
    first = next((r for r in range(k) if h[r]), None)
    return {
        "recall": nh / n_t if n_t else 0.0,
        "precision": nh / k,
        "hit": 1.0 if nh else 0.0,
        "ndcg": dcg / idcg if n_t else 0.0,
        "mrr": 1.0 / (first + 1) if first is not None else 0.0,
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    B, K = 40, 25
    hits = rng.random((B, K)) < 0.2
    n_t = hits.sum(1) + rng.integers(0, 4, size=B)  # >= number of hits in the top-K
    n_t[0] = 0
    hits[0] = False
    ks = (1, 3, 10, 25)
    out = compute_metrics(torch.from_numpy(hits), torch.from_numpy(n_t), ks, METRICS)
    assert list(out) == [f"{m}@{k}" for m in METRICS for k in ks]
    for b in range(B):
        for k in ks:
            ref = brute_metrics(hits[b], int(n_t[b]), k)
            for m in METRICS:
                assert out[f"{m}@{k}"][b].item() == pytest.approx(ref[m], abs=1e-12), (b, m, k)


def test_k_larger_than_hits_columns_counts_misses():
    hits = torch.tensor([[True, False, True]])
    n_t = torch.tensor([2])
    out = compute_metrics(hits, n_t, (5,), METRICS)
    ref = brute_metrics([True, False, True], 2, 5)
    for m in METRICS:
        assert out[f"{m}@5"][0].item() == pytest.approx(ref[m])


def test_single_metric_helpers():
    hits = torch.tensor([[False, True, False, True]])
    n_t = torch.tensor([3])
    assert recall_at_k(hits, n_t, 4).item() == pytest.approx(2 / 3)
    assert precision_at_k(hits, n_t, 2).item() == pytest.approx(0.5)
    assert hit_at_k(hits, n_t, 1).item() == 0.0
    assert mrr_at_k(hits, n_t, 4).item() == pytest.approx(0.5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(hits, n_t, 4).item() == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / idcg)


def test_parse_metric():
    assert parse_metric("NDCG@20") == ("ndcg", 20)
    assert parse_metric("hr@10") == ("hit", 10)
    assert parse_metric("Recall@5") == ("recall", 5)
    for bad in ["map@10", "ndcg", "ndcg@x", "ndcg@0", "auc@5", "ndcg@1@2"]:
        with pytest.raises(ValueError):
            parse_metric(bad)


def test_resolve_specs():
    assert resolve_metric_specs((10, 20), ("HR", "ndcg@5")) == [("hit", 10), ("hit", 20), ("ndcg", 5)]
    with pytest.raises(ValueError):
        resolve_metric_specs((10,), ("bogus",))
    with pytest.raises(ValueError):
        resolve_metric_specs((0,), ("ndcg",))
