"""Group and beyond-accuracy metrics (evaluation/groups.py) against plain Python loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from contrastrec.evaluation import evaluate_detailed
from contrastrec.evaluation.groups import Groups, activity_groups, gini, popularity_groups, summarize_groups


def _brute_popularity_groups(counts, G):
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
    total, seen, out = sum(counts), 0, [0] * len(counts)
    for i in order:
        out[i] = G - 1 if counts[i] == 0 else min(G - 1, (seen * G) // total)
        seen += counts[i]
    return out


def test_popularity_groups_hold_equal_shares_of_interactions():
    rng = np.random.default_rng(0)
    counts = (rng.zipf(1.6, 500) % 300).astype(np.int64)
    for G in (1, 2, 3, 5, 10):
        g = popularity_groups(counts, G)
        assert g.tolist() == _brute_popularity_groups(counts.tolist(), G)
        share = np.array([counts[g == k].sum() for k in range(G)]) / counts.sum()
        assert share.max() - 1 / G < counts.max() / counts.sum() + 1e-12  # off by at most one item
        assert (np.diff([counts[g == k].min() for k in range(G) if (g == k).any()]) <= 0).all()  # head first


def test_activity_groups_hold_equal_numbers_of_users_sparsest_first():
    counts = np.array([5, 1, 9, 1, 3, 7, 2, 8, 4])
    g = activity_groups(counts, 3)
    assert np.bincount(g).tolist() == [3, 3, 3]
    assert set(np.flatnonzero(g == 0)) == {1, 3, 6} and set(np.flatnonzero(g == 2)) == {2, 5, 7}


def test_gini_matches_the_mean_absolute_difference_definition():
    rng = np.random.default_rng(1)
    for x in (rng.integers(0, 20, 50), np.zeros(4), np.array([3, 3, 3]), np.array([0, 0, 0, 9])):
        n = len(x)
        want = 0.0 if x.sum() == 0 else sum(abs(a - b) for a in x for b in x) / (2 * n * n * x.mean())
        assert gini(x) == pytest.approx(want, abs=1e-12)


def _brute(scores, targets, exclude, groups: Groups, ks):
    """Per user: top-k by plain sorting, then every group value and list statistic."""
    n_users, n_items = scores.shape
    per = {}
    exposure = {k: np.zeros(n_items, dtype=np.int64) for k in ks}
    arp = {k: [] for k in ks}
    users = [u for u in range(n_users) if targets[u]]
    for u in users:
        cand = [i for i in range(n_items) if i not in exclude[u] or i in targets[u]]
        rest = [i for i in range(n_items) if i not in cand]
        ranked = sorted(cand, key=lambda i: -scores[u, i]) + rest
        for k in ks:
            top = ranked[:k]
            for i in top:
                exposure[k][i] += 1
            arp[k].append(np.mean([groups.item_pop[i] for i in top]))
            for g in range(groups.n_item_groups):
                tg = {i for i in targets[u] if groups.item_group[i] == g}
                if not tg:
                    per.setdefault((g, f"recall@{k}"), []).append(np.nan)
                    per.setdefault((g, f"ndcg@{k}"), []).append(np.nan)
                    continue
                hits = [1.0 if i in tg else 0.0 for i in top]
                dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
                idcg = sum(1 / math.log2(r + 2) for r in range(min(len(tg), k)))
                per.setdefault((g, f"recall@{k}"), []).append(sum(hits) / len(tg))
                per.setdefault((g, f"ndcg@{k}"), []).append(dcg / idcg)
    return users, per, exposure, arp


@pytest.mark.parametrize("G", [2, 3, 4])
def test_group_and_list_metrics_match_brute_force(G):
    rng = np.random.default_rng(G)
    n_users, n_items, ks = 40, 60, (5, 10)
    train = rng.random((n_users, n_items)) < np.linspace(0.3, 0.01, n_items)[None, :]  # a popularity slope
    tu, ti = np.nonzero(train)
    test = (rng.random((n_users, n_items)) < 0.06) & ~train
    test[::7] = False  # users without a target are skipped
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    groups = Groups.from_train(tu, ti, n_users, n_items, n_item_groups=G, n_user_groups=3)
    res = evaluate_detailed(lambda u: torch.from_numpy(scores[u.numpy()].copy()), None, sp.csr_matrix(test),
                            sp.csr_matrix(train), ks=ks, metrics=("recall", "ndcg"), groups=groups)
    targets = [set(np.flatnonzero(test[u])) for u in range(n_users)]
    exclude = [set(np.flatnonzero(train[u])) for u in range(n_users)]
    users, per, exposure, arp = _brute(scores, targets, exclude, groups, ks)
    assert res.users.tolist() == users
    for (g, key), want in per.items():
        np.testing.assert_allclose(res.item_group_values[g][key], np.array(want), rtol=1e-9, equal_nan=True)
    for k in ks:
        assert np.array_equal(res.exposure[k], exposure[k])
        np.testing.assert_allclose(res.arp[k], arp[k], rtol=1e-12)
    summary = summarize_groups(res, groups)
    labels = groups.item_labels
    for g, label in enumerate(labels):
        want = np.array(per[(g, "recall@10")])
        assert summary["item_groups"][label]["recall@10"] == pytest.approx(np.nanmean(want), rel=1e-9)
        assert summary["item_groups"][label]["users"] == int(np.sum(~np.isnan(want)))
    assert sum(v["items"] for v in summary["item_groups"].values()) == n_items
    assert summary["coverage@10"] == pytest.approx(np.count_nonzero(exposure[10]) / n_items)
    assert summary["gini@5"] == pytest.approx(gini(exposure[5]))
    assert summary["arp@5"] == pytest.approx(np.mean(arp[5]))
    ug = groups.user_group[res.users]
    for g, label in enumerate(groups.user_labels):
        want = res.per_user["ndcg@10"][ug == g].mean()
        assert summary["user_groups"][label]["ndcg@10"] == pytest.approx(want, rel=1e-12)
        assert summary["user_groups"][label]["users"] == int((ug == g).sum())


def test_groups_leave_the_overall_metrics_unchanged():
    rng = np.random.default_rng(5)
    train = sp.random(30, 50, density=0.1, random_state=1, format="csr")
    test = sp.random(30, 50, density=0.05, random_state=2, format="csr")
    scores = rng.standard_normal((30, 50)).astype(np.float32)
    fn = lambda u: torch.from_numpy(scores[u.numpy()].copy())  # noqa: E731
    tu, ti = train.nonzero()
    a = evaluate_detailed(fn, None, test, train, ks=(10,))
    b = evaluate_detailed(fn, None, test, train, ks=(10,), groups=Groups.from_train(tu, ti, 30, 50))
    assert a.per_user.keys() == b.per_user.keys()
    for k in a.per_user:
        assert np.array_equal(a.per_user[k], b.per_user[k])
    assert not a.item_group_values and b.item_group_values
