"""Synthetic data: determinism, planted structure, speed."""
from __future__ import annotations

import hashlib
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from contrastrec.data import Dataset, load_dataset, make_synthetic, read_interactions, synthetic_raw, write_synthetic
from contrastrec.data.synthetic import SyntheticStream, _generate, synthetic_lengths, write_synthetic_stream


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


def test_in_memory_generator_output_is_pinned():
    # the streaming generator shares the structure code; the original outputs must not move
    for seq, want in ((True, "c265832ecec7175c1bf8db8f8e80291f4da08241"),
                      (False, "c71d7cd5cbba4ca172832c517bea358f0151e912")):
        u, i, _ = _generate(200, 100, 4, 10, 20, 1.0, seq, 5, 0.7, 2, 0.85, 3)
        assert hashlib.sha1(u.tobytes() + i.tobytes()).hexdigest() == want


# ------------------------------------------------------------------------------ streaming


def stream_rows(s: SyntheticStream) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    parts = list(s.chunks())
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))  # type: ignore[return-value]


def test_lengths_exact_skewed_and_capped():
    L = synthetic_lengths(5000, 60000, seed=0)
    assert L.sum() == 60000 and L.min() >= 3 and L.dtype == np.int64
    assert L.max() > 5 * L.mean() and np.median(L) < L.mean()  # right-skewed
    assert np.array_equal(L, synthetic_lengths(5000, 60000, seed=0))
    assert not np.array_equal(L, synthetic_lengths(5000, 60000, seed=1))
    c = synthetic_lengths(1000, 11000, seed=2, max_length=12, min_length=2)
    assert c.sum() == 11000 and c.max() <= 12 and c.min() >= 2
    full = synthetic_lengths(100, 1200, seed=0, max_length=12)
    assert np.all(full == 12)
    assert np.all(synthetic_lengths(10, 70, sigma=0.0, min_length=3) == 7)
    with pytest.raises(ValueError, match="fewer than 3 per user"):
        synthetic_lengths(10, 29)
    with pytest.raises(ValueError, match="exceed"):
        synthetic_lengths(10, 200, max_length=12)


@pytest.mark.parametrize("sequential", [True, False])
def test_stream_exact_deterministic_and_chunk_independent(sequential):
    kw = dict(sequential=sequential, block_users=128)
    a = SyntheticStream(1500, 300, 20000, seed=3, chunk_users=128, **kw)
    chunks = list(a.chunks())
    assert len(chunks) == 12 and all(np.unique(c[0]).size <= 128 for c in chunks)
    ua, ia, pa = stream_rows(a)
    assert ua.shape[0] == 20000
    assert np.array_equal(np.bincount(ua, minlength=1500), a.lengths)
    assert np.all(np.diff(ua) >= 0)  # grouped by user
    assert np.array_equal(pa, np.arange(20000) - np.repeat(np.cumsum(a.lengths) - a.lengths, a.lengths))
    assert ia.min() >= 0 and ia.max() < 300
    for chunk in (200, 1000, 10**6):  # other chunk sizes: the same rows
        ub, ib, pb = stream_rows(SyntheticStream(1500, 300, 20000, seed=3, chunk_users=chunk, **kw))
        assert np.array_equal(ua, ub) and np.array_equal(ia, ib) and np.array_equal(pa, pb)
    _, ic, _ = stream_rows(SyntheticStream(1500, 300, 20000, seed=4, chunk_users=128, **kw))
    assert not np.array_equal(ia, ic)


def test_stream_graph_items_distinct_even_near_the_catalogue_size():
    s = SyntheticStream(400, 12, 400 * 11, sequential=False, seed=0, popularity_skew=2.0, block_users=64)
    u, i, _ = stream_rows(s)
    assert u.shape[0] == 4400 and s.lengths.max() == 12
    key = u * 12 + i
    assert np.unique(key).size == key.size


def test_stream_planted_structure():
    s = SyntheticStream(2000, 400, 40000, sequential=True, seed=1, follow_prob=0.8, block_users=512)
    u, i, _ = stream_rows(s)
    t = s.truth
    same = u[1:] == u[:-1]
    a, b = i[:-1][same], i[1:][same]
    follows = (t.successors[a] == b[:, None]).any(1).mean()
    assert 0.75 < follows < 0.9
    g = SyntheticStream(3000, 600, 45000, sequential=False, seed=2, n_groups=3, n_clusters=6,
                        popularity_skew=1.2, block_users=512)
    u, i, _ = stream_rows(g)
    t = g.truth
    pref = t.group_cluster_probs[t.user_group[u], t.item_cluster[i]] > 1.0 / 6
    assert pref.mean() > 0.7
    counts = np.sort(np.bincount(i, minlength=600))[::-1]
    assert counts[:60].sum() / counts.sum() > 0.3


def test_stream_parquet_and_lists_files_round_trip(tmp_path):
    kw = dict(seed=5, block_users=64, chunk_users=64)
    st = write_synthetic_stream(tmp_path / "g.parquet", 300, 200, 4000, format="parquet", **kw)
    assert st.n_interactions == 4000 and st.items_used <= 200 and st.format == "parquet"
    f = pq.ParquetFile(tmp_path / "g.parquet")
    assert f.metadata.num_rows == 4000 and f.metadata.num_row_groups == 5  # one per chunk
    assert [str(x) for x in f.schema_arrow.types] == ["int64"] * 3
    assert f.schema_arrow.names == ["user", "item", "timestamp"]
    u, i, p = stream_rows(SyntheticStream(300, 200, 4000, **kw))
    tab = f.read()
    assert np.array_equal(tab["user"].to_numpy(), u) and np.array_equal(tab["item"].to_numpy(), i)
    assert np.array_equal(tab["timestamp"].to_numpy(), p)
    ds = load_dataset(tmp_path / "g.parquet")
    assert not ds.sequential and ds.n_users == 300
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 4000

    st = write_synthetic_stream(tmp_path / "s.txt", 300, 200, 4000, format="lists", sequential=True, **kw)
    raw = read_interactions(tmp_path / "s.txt")
    assert raw.format == "lists" and len(raw) == 4000
    u, i, _ = stream_rows(SyntheticStream(300, 200, 4000, sequential=True, **kw))
    assert np.array_equal(raw.users.astype(np.int64), u) and np.array_equal(raw.items.astype(np.int64), i)
    ds = load_dataset(tmp_path / "s.txt")
    assert ds.sequential and ds.n_users == 300 and len(ds.test) == 300
    with pytest.raises(ValueError, match="unknown format"):
        write_synthetic_stream(tmp_path / "x.csv", 30, 20, 100, format="csv")


def test_stream_fast_enough():
    t = time.perf_counter()
    for seq in (True, False):
        s = SyntheticStream(20000, 5000, 200000, sequential=seq, seed=0)
        assert sum(c[0].shape[0] for c in s.chunks()) == 200000
    assert time.perf_counter() - t < 5.0  # about 0.3 s on an idle machine
