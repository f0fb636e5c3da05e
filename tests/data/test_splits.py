"""Splitting protocols and k-core filtering."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from contrastrec.data import carve_validation, k_core, leave_one_out, random_split, temporal_split
from contrastrec.data.splits import (
    DROP,
    TEST,
    TRAIN,
    VALID,
    leave_one_out_labels,
    random_split_labels,
    temporal_split_labels,
)


def interleaved(n_users=30, seed=0, min_len=1, max_len=25):
    """Rows of several users interleaved (not grouped), items = per-user position * 1000 + user."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len, size=n_users)
    users = np.repeat(np.arange(n_users), lengths)
    rng.shuffle(users)
    pos = np.zeros(n_users, dtype=np.int64)
    items = np.empty_like(users)
    for k, u in enumerate(users):
        items[k] = pos[u] * 1000 + u
        pos[u] += 1
    return users, items, lengths


def per_user(split):
    out: dict[int, list[int]] = {}
    for u, i in zip(split.users.tolist(), split.items.tolist()):
        out.setdefault(u, []).append(i)
    return out


def assert_grouped(split):
    assert np.all(np.diff(split.users) >= 0)


def test_leave_one_out_last_item_is_test():
    users, items, lengths = interleaved(min_len=1, max_len=12)
    res = leave_one_out(users, items)
    for s in res[:3]:
        assert_grouped(s)
    tr, va, te = per_user(res.train), per_user(res.valid), per_user(res.test)
    for u, n in enumerate(lengths):
        seq = [p * 1000 + u for p in range(n)]
        if n < 3:
            assert u not in tr and u not in va and u not in te
        else:
            assert te[u] == [seq[-1]] and va[u] == [seq[-2]] and tr[u] == seq[:-2]
    assert res.skipped_users == int((lengths < 3).sum())
    assert len(res.train) + len(res.valid) + len(res.test) == int(lengths[lengths >= 3].sum())


def test_leave_one_out_by_timestamp():
    users = np.array([0, 0, 0, 0, 1, 1, 1])
    items = np.array([10, 11, 12, 13, 20, 21, 22])
    ts = np.array([4.0, 1.0, 3.0, 2.0, 5.0, 5.0, 1.0])  # ties keep file order
    res = leave_one_out(users, items, timestamps=ts)
    assert per_user(res.test) == {0: [10], 1: [21]}
    assert per_user(res.valid) == {0: [12], 1: [20]}
    assert per_user(res.train) == {0: [11, 13], 1: [22]}


def test_leave_one_out_labels_min_interactions():
    labels, skipped = leave_one_out_labels(np.array(["a", "a", "b", "b", "b", "b"]), min_interactions=4)
    assert labels.tolist() == [DROP, DROP, TRAIN, TRAIN, VALID, TEST]
    assert skipped == 1


def test_random_split_seeded_and_ratios():
    users, items, lengths = interleaved(n_users=50, min_len=10, max_len=11)  # 10 each
    a = random_split(users, items, seed=3)
    b = random_split(users, items, seed=3)
    c = random_split(users, items, seed=4)
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(x.users, y.users)
        np.testing.assert_array_equal(x.items, y.items)
    assert not np.array_equal(a.test.items, c.test.items)
    assert Counter(a.train.users.tolist()) == {u: 8 for u in range(50)}
    assert Counter(a.valid.users.tolist()) == {u: 1 for u in range(50)}
    assert Counter(a.test.users.tolist()) == {u: 1 for u in range(50)}
    # a partition of the rows; within a split a user's items keep time order
    all_items = np.concatenate([a.train.items, a.valid.items, a.test.items])
    assert sorted(all_items.tolist()) == sorted(items.tolist())
    for s in a[:3]:
        assert_grouped(s)
        for u, its in per_user(s).items():
            assert its == sorted(its)


def test_random_split_generator_and_small_users():
    users = np.array([0, 1, 1, 2, 2, 2, 2, 2])
    items = np.arange(8)
    res = random_split(users, items, ratios=(0.5, 0.25, 0.25), seed=np.random.default_rng(0))
    tr = per_user(res.train)
    assert set(tr) == {0, 1, 2}  # every user keeps at least one training row
    assert tr[0] == [0]
    assert len(tr[1]) == 1 and len(per_user(res.test)[1]) == 1


def test_random_split_bad_ratios():
    with pytest.raises(ValueError):
        random_split_labels(np.array([0, 0]), ratios=(0.5, 0.5))
    with pytest.raises(ValueError):
        random_split_labels(np.array([0, 0]), ratios=(0.5, 0.4, 0.4))


def test_temporal_split_by_timestamp_and_by_order():
    users = np.zeros(10, dtype=np.int64)
    items = np.arange(10)
    ts = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], dtype=float)  # reverse time
    res = temporal_split(users, items, timestamps=ts)
    assert res.test.items.tolist() == [0]
    assert res.valid.items.tolist() == [1]
    assert res.train.items.tolist() == [9, 8, 7, 6, 5, 4, 3, 2]  # time order within the user
    res = temporal_split(users, items)
    assert res.test.items.tolist() == [9] and res.valid.items.tolist() == [8]
    lab = temporal_split_labels(users, None, ratios=(0.6, 0.2, 0.2))
    assert lab.tolist() == [TRAIN] * 6 + [VALID] * 2 + [TEST] * 2


def test_carve_validation():
    users = np.array([0] * 20 + [1] * 2 + [2])
    v = carve_validation(users, 0.1, seed=0)
    assert v[:20].sum() == 2 and v[20:22].sum() == 1 and not v[22]
    np.testing.assert_array_equal(v, carve_validation(users, 0.1, seed=0))
    last = carve_validation(users, 0.1, last=True)
    assert np.flatnonzero(last).tolist() == [18, 19, 21]
    assert not carve_validation(users, 0.0).any()


def naive_k_core(users, items, k):
    rows = set(range(len(users)))
    changed = True
    while changed:
        cu = Counter(users[r] for r in rows)
        ci = Counter(items[r] for r in rows)
        drop = {r for r in rows if cu[users[r]] < k or ci[items[r]] < k}
        changed = bool(drop)
        rows -= drop
    return rows


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_core_property(k):
    rng = np.random.default_rng(k)
    users = rng.integers(0, 40, 400)
    items = (rng.zipf(1.6, 400) % 60).astype(np.int64)
    mask = k_core(users, items, k)
    kept_u, kept_i = users[mask], items[mask]
    if mask.any():
        assert np.bincount(kept_u)[np.unique(kept_u)].min() >= k
        assert np.bincount(kept_i)[np.unique(kept_i)].min() >= k
    # maximal: equals the naive fixpoint; idempotent
    assert set(np.flatnonzero(mask).tolist()) == naive_k_core(users.tolist(), items.tolist(), k)
    assert k_core(kept_u, kept_i, k).all()


def test_k_core_string_ids_and_separate_item_k():
    users = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
    items = np.array(["x", "y", "z", "x", "y", "x"], dtype=object)
    assert k_core(users, items, 2).tolist() == [True, True, False, True, True, False]
    assert k_core(users, items, 1, item_k=3).tolist() == [True, False, False, True, False, True]
    assert k_core(users, items, 0).all()
