"""Synthetic data: determinism, planted structure, speed."""
from __future__ import annotations

import time

import numpy as np

from contrastrec.data import Dataset, load_dataset, make_synthetic, synthetic_raw, write_synthetic


def splits_equal(a: Dataset, b: Dataset) -> bool:
    return all(
        np.array_equal(getattr(a, s).users, getattr(b, s).users)
        and np.array_equal(getattr(a, s).items, getattr(b, s).items)
        for s in ("train", "valid", "test")
    )


def test_deterministic_given_seed():
    a = make_synthetic(n_users=200, n_items=100, seed=5)
    b = make_synthetic(n_users=200, n_items=100, seed=5)
    c = make_synthetic(n_users=200, n_items=100, seed=6)
    assert splits_equal(a, b)
    assert not splits_equal(a, c)
    ga = make_synthetic(n_users=200, n_items=100, seed=5, sequential=False)
    gb = make_synthetic(n_users=200, n_items=100, seed=5, sequential=False)
    assert splits_equal(ga, gb)


def test_sequential_shape_and_leave_one_out():
    ds = make_synthetic(n_users=300, n_items=150, n_clusters=6, interactions_per_user=12, seed=0)
    assert ds.sequential and ds.n_users == 300 and ds.n_items == 150
    assert len(ds.valid) == len(ds.test) == 300  # every user has >= 3 interactions
    assert np.array_equal(ds.test.users, np.arange(300))
    for s in (ds.train, ds.valid, ds.test):
        assert np.all(np.diff(s.users) >= 0)
        assert s.items.min() >= 0 and s.items.max() < 150
    assert ds.user_map.to_raw(7) == "7" and ds.item_map.to_index("42") == 42
    assert ds.n_attributes == 6 and set(ds.item_attributes) == set(range(150))


def test_planted_markov_structure():
    ds, truth = make_synthetic(n_users=400, n_items=200, interactions_per_user=20, follow_prob=0.8,
                               seed=1, return_truth=True)
    indptr = ds.train.user_indptr(ds.n_users)
    follows = total = 0
    for u in range(ds.n_users):
        seq = ds.train.items[indptr[u]:indptr[u + 1]]
        for a, b in zip(seq[:-1], seq[1:]):
            follows += b in truth.successors[a]
            total += 1
    assert 0.7 < follows / total < 0.9  # about follow_prob (plus chance hits)
    # the test item is a successor of the last history item far more often than chance
    hist_last = ds.valid.items  # valid is the item right before test
    hit = np.mean([t in truth.successors[h] for h, t in zip(hist_last, ds.test.items)])
    assert hit > 0.6


def test_planted_group_and_popularity_structure():
    ds, truth = make_synthetic(n_users=600, n_items=300, n_groups=3, n_clusters=6, popularity_skew=1.2,
                               sequential=False, seed=2, return_truth=True)
    assert not ds.sequential
    # graph data: no repeated (user, item)
    key = ds.train.users * ds.n_items + ds.train.items
    assert np.unique(key).size == key.size
    # users mostly interact with their group's preferred clusters
    clusters = truth.item_cluster[ds.train.items]
    groups = truth.user_group[ds.train.users]
    pref = truth.group_cluster_probs[groups, clusters] > 1.0 / 6
    assert pref.mean() > 0.7
    # Zipf-like popularity: the top 10% of items get a large share
    counts = np.sort(np.bincount(ds.train.items, minlength=ds.n_items))[::-1]
    assert counts[:30].sum() / counts.sum() > 0.3


def test_graph_random_split_ratios():
    ds = make_synthetic(n_users=100, n_items=400, interactions_per_user=30, sequential=False, seed=0)
    n = len(ds.train) + len(ds.valid) + len(ds.test)
    assert abs(len(ds.test) / n - 0.1) < 0.03 and abs(len(ds.valid) / n - 0.1) < 0.03


def test_fast_enough():
    t = time.perf_counter()
    make_synthetic(n_users=2000, n_items=1000, seed=0)
    make_synthetic(n_users=2000, n_items=1000, seed=0, sequential=False)
    # the target is < 1 s each; generous bound for a loaded test machine
    assert time.perf_counter() - t < 4.0


def test_raw_and_file_round_trip(tmp_path):
    raw = synthetic_raw(n_users=50, n_items=40, seed=3)
    assert len(raw) > 0 and raw.users.dtype == object
    p = write_synthetic(tmp_path / "syn.txt", n_users=50, n_items=40, seed=3)
    ds = load_dataset(p)
    assert ds.sequential and ds.n_users == 50
    assert len(ds.train) + len(ds.valid) + len(ds.test) == len(raw)
    q = write_synthetic(tmp_path / "syn.tsv", format="triples", n_users=50, n_items=40, seed=3,
                        sequential=False)
    g = load_dataset(q)
    assert not g.sequential and g.n_users == 50
