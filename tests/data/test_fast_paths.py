"""The fast paths of loading (issue 12: loading that scales) equal the plain semantics they replace.

Each fast path is compared with the straightforward code it replaced (kept here as the
reference) on small random inputs, with ties forced in.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contrastrec.data import DataError, RawInteractions, load_dataset, read_interactions
from contrastrec.data.loading import _dedupe_mask, _relabel_first, _within_order
from contrastrec.data.splits import (
    _ratio_sizes,
    _round_half_up,
    _stable_order,
    _within_user_rank,
    carve_validation,
    leave_one_out_labels,
    random_split_labels,
    temporal_split_labels,
)

SEEDS = range(40)


# ------------------------------------------------------------------------------ references


def ref_order(codes, key=None):
    n = len(codes)
    if key is None:
        return np.lexsort((np.arange(n), codes))
    return np.lexsort((np.arange(n), key, codes))


def ref_rank(users, key=None):
    codes, uniq = pd.factorize(np.asarray(users))
    order = ref_order(codes, key)
    counts = np.bincount(codes, minlength=len(uniq))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - starts[codes[order]]
    return rank, counts[codes]


def ref_random_labels(users, ratios, seed):
    key = np.random.default_rng(seed).random(len(users))
    rank, n = ref_rank(users, key)
    n_valid, n_test = _ratio_sizes(n, ratios)  # per row, as before
    labels = np.zeros(len(users), dtype=np.int8)
    labels[rank < n_test + n_valid] = 1
    labels[rank < n_test] = 2
    return labels


def ref_relabel_first(codes, order=None):
    seq = codes if order is None else codes[order]
    old, first = np.unique(seq, return_index=True)
    old_in_new = old[np.argsort(first, kind="stable")]
    lut = np.full(int(codes.max()) + 1 if codes.size else 1, -1, dtype=np.int64)
    lut[old_in_new] = np.arange(old_in_new.shape[0])
    return lut[codes], old_in_new


def ref_dedupe(u, i, order, mask):
    key = u.astype(np.int64) * (int(i.max()) + 1) + i
    ordm = order[mask[order]]
    _, first = np.unique(key[ordm], return_index=True)
    keep = np.zeros(u.shape[0], dtype=bool)
    keep[ordm[first]] = True
    return keep


def random_case(seed):
    """codes and several keys: random floats, floats with many ties, timestamps with ties,
    integers; sometimes grouped already, sometimes with non-contiguous or huge codes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    n_users = int(rng.integers(1, 40))
    codes = rng.integers(0, n_users, n)
    if seed % 5 == 1:
        codes = np.sort(codes)
    if seed % 7 == 2:
        codes = codes * 1000 + 3  # gaps
    if seed % 7 == 3:
        codes = codes + 2**50  # sums lose the low bits of the key: equal sums, lexsort fallback
    keys = [
        rng.random(n),
        rng.integers(0, 4, n) / 4.0,  # in [0, 1) with ties
        np.floor(rng.random(n) * 8) / 8 + 0.999999999999999,  # ties and values near 1
        rng.integers(0, 5, n).astype(np.float64) * 1e9,  # timestamps with ties
        np.where(rng.random(n) < 0.1, -0.0, 0.0) + rng.integers(0, 3, n),
        rng.integers(-3, 3, n),  # integer key: one combined int64 sort
        rng.integers(0, 3, n) + 0.5 * (rng.random(n) < 0.2),  # not all integers: lexsort
    ]
    return codes, keys


# ------------------------------------------------------------------------------ order, ranks


@pytest.mark.parametrize("seed", SEEDS)
def test_stable_order_is_lexsort(seed):
    codes, keys = random_case(seed)
    assert np.array_equal(_stable_order(codes), ref_order(codes))
    assert np.array_equal(_within_order(codes, None), ref_order(codes))
    for key in keys:
        assert np.array_equal(_stable_order(codes, key), ref_order(codes, key))
        assert np.array_equal(_within_order(codes, key), ref_order(codes, key))
        grouped = ref_order(codes, key)  # rows already in order: the identity
        assert np.array_equal(_stable_order(codes[grouped], key[grouped]), np.arange(len(codes)))


def test_stable_order_ties_of_the_sum_fall_back_to_lexsort():
    # 2**52 + 0.25 == 2**52 + 0.5 after rounding: the fast argsort would have to break a tie
    codes = np.array([2**52 - 1, 2**52 - 1, 0, 2**52 - 1], dtype=np.int64)
    key = np.array([0.5, 0.25, 0.9, 0.75])
    assert np.array_equal(_stable_order(codes, key), ref_order(codes, key))
    codes = np.array([3, 2, 3, 2, 3])
    key = np.array([0.5, 0.5, 0.5, 0.1, 0.2])  # equal keys within a user: position order
    assert np.array_equal(_stable_order(codes, key), [3, 1, 4, 0, 2])


@pytest.mark.parametrize("seed", SEEDS)
def test_ranks_and_labels_equal_the_per_row_versions(seed):
    codes, keys = random_case(seed)
    users = np.array([f"u{c}" for c in codes], dtype=object) if seed % 2 else codes
    for key in [None, *keys]:
        rank, n = _within_user_rank(users, key)
        want_rank, want_n = ref_rank(users, key)
        assert np.array_equal(rank, want_rank) and np.array_equal(n, want_n)
    if not len(codes):
        return
    for ratios in ((0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.7, 0.0, 0.3), (0.6, 0.3, 0.1)):
        assert np.array_equal(random_split_labels(users, ratios, seed), ref_random_labels(users, ratios, seed))
    for key in (None, keys[3]):
        rank, n = ref_rank(users, key)
        nv, nt = _ratio_sizes(n, (0.8, 0.1, 0.1))
        want = np.zeros(len(users), dtype=np.int8)
        want[rank >= n - nt - nv] = 1
        want[rank >= n - nt] = 2
        assert np.array_equal(temporal_split_labels(users, key, (0.8, 0.1, 0.1)), want)
        want = np.zeros(len(users), dtype=np.int8)
        want[rank == n - 1] = 2
        want[rank == n - 2] = 1
        want[n < 3] = -1
        assert np.array_equal(leave_one_out_labels(users, key)[0], want)
        k = np.minimum(np.maximum(_round_half_up(n * 0.3), 1), n - 1)
        assert np.array_equal(carve_validation(users, 0.3, last=True, timestamps=key), (n - 1 - rank) < k)
    rank, n = ref_rank(users, np.random.default_rng(seed).random(len(users)))
    k = np.minimum(np.maximum(_round_half_up(n * 0.3), 1), n - 1)
    assert np.array_equal(carve_validation(users, 0.3, seed=seed), rank < k)


@pytest.mark.parametrize("seed", SEEDS)
def test_relabel_first_and_dedupe_equal_np_unique(seed):
    codes, keys = random_case(seed)
    if not len(codes):
        return
    codes = codes % 1000
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(codes))
    for o in (None, order, np.argsort(codes, kind="stable")):
        got, want = _relabel_first(codes, o), ref_relabel_first(codes, o)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    items = rng.integers(0, 5, len(codes))
    mask = rng.random(len(codes)) < 0.8
    for o in (order, _within_order(codes, keys[3])):
        assert np.array_equal(_dedupe_mask(codes, items, o, mask), ref_dedupe(codes, items, o, mask))


# ------------------------------------------------------------------------------ readers


def old_ids(col: pd.Series) -> list[str]:
    """What the DataFrame/parquet reader made of an id column before codes."""
    if pd.api.types.is_float_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64)
        if np.all(v == np.round(v)):
            return v.astype(np.int64).astype(str).tolist()
    return col.astype(str).to_numpy(dtype=object).tolist()


def frames(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    u = rng.integers(0, 30, n)
    i = rng.integers(-5, 50, n)
    yield pd.DataFrame({"user": u, "item": i, "timestamp": rng.integers(0, 4, n)})
    yield pd.DataFrame({"user": u.astype(np.uint16), "item": i.astype(np.int8)})
    yield pd.DataFrame({"user": u.astype(np.float64), "item": i + 0.5 * (rng.random(n) < 0.3)})
    words = np.array(["a", "bb", "é", "a b", "0", "00", "x\x00y", "1.0", "True"], dtype=object)
    yield pd.DataFrame({"user": words[u % len(words)], "item": [f"i{x}" for x in i]})
    yield pd.DataFrame({"user": pd.array(words[u % len(words)], dtype="str"), "item": i})
    yield pd.DataFrame({"user": u, "item": pd.Categorical([f"c{x}" for x in i])})
    mixed = np.array([1, "1", True, 2.5, "b"], dtype=object)
    yield pd.DataFrame({"user": mixed[u % 5], "item": i})


@pytest.mark.parametrize("seed", range(8))
def test_table_ids_equal_the_string_conversion(tmp_path, seed):
    for k, df in enumerate(frames(seed)):
        want_u, want_i = old_ids(df["user"]), old_ids(df["item"])
        got_df = read_interactions(df)
        assert got_df.users.tolist() == want_u and got_df.items.tolist() == want_i
        for role, want in (("user", want_u), ("item", want_i)):
            codes, uniq = got_df.id_codes(role)
            c, un = pd.factorize(np.array(want, dtype=object))
            assert np.array_equal(codes, c) and uniq.tolist() == list(un)
            assert all(type(x) is str for x in uniq)
        p = tmp_path / f"t{seed}_{k}.parquet"
        try:
            df.to_parquet(p, index=False, row_group_size=37)  # many chunks
        except Exception:  # mixed object columns do not go to parquet
            continue
        got = read_interactions(p)
        back = pd.read_parquet(p)
        assert got.users.tolist() == old_ids(back["user"]) and got.items.tolist() == old_ids(back["item"])
        assert got.id_codes("user")[1].tolist() == list(pd.unique(np.array(old_ids(back["user"]), dtype=object)))
        assert got.lines.tolist() == list(range(1, len(df) + 1))


@pytest.mark.parametrize("bad,line", [("", 4), ("\x00\x00", 4), (None, 4)])
def test_empty_and_missing_ids_report_the_first_row(tmp_path, bad, line):
    users = ["a", "b", "a", bad, "c", bad]
    df = pd.DataFrame({"user": users, "item": [1, 2, 3, 4, 5, 6]})
    what = "missing user id" if bad is None else "empty user id"
    p = tmp_path / "x.parquet"
    df.to_parquet(p, index=False, row_group_size=2)
    for src, where in ((df, "<dataframe>"), (p, str(p))):
        with pytest.raises(DataError) as e:
            read_interactions(src)
        assert str(e.value) == f"{where}:{line}: {what}"
    df = pd.DataFrame({"user": [1, 2, 3], "item": ["x", "\x00y", "y\x00"]})  # not empty: kept
    assert read_interactions(df).items.tolist() == ["x", "\x00y", "y\x00"]


def test_parquet_with_an_index_and_odd_columns(tmp_path):
    df = pd.DataFrame({"uid": [5, 6, 5], "movie": ["m", "n", "o"], "stars": [1.0, 2.0, 3.0]},
                      index=pd.Index([10, 20, 30], name="row"))
    p = tmp_path / "x.parquet"
    df.to_parquet(p)
    raw = read_interactions(p)
    assert raw.header == ["uid", "movie", "stars"]
    assert raw.users.tolist() == ["5", "6", "5"] and raw.ratings.tolist() == [1.0, 2.0, 3.0]


def test_raw_interactions_codes_and_strings():
    raw = RawInteractions.from_codes((np.array([1, 0, 1]), np.array(["b", "a"], dtype=object)),
                                     ["x", 7, "x"], timestamps=[1, 2, 3])
    assert raw.users.tolist() == ["a", "b", "a"] and raw.items.tolist() == ["x", "7", "x"]
    codes, uniq = raw.id_codes("item", release=True)
    assert codes.tolist() == [0, 1, 0] and uniq.tolist() == ["x", "7"]
    assert raw.items.tolist() == ["x", "7", "x"]  # rebuilt from the codes
    assert len(raw) == 3 and raw.lines.tolist() == [1, 2, 3]
    raw.users = np.array(["q", "r", "q"])
    assert raw.id_codes("user")[1].tolist() == ["q", "r"]
    with pytest.raises(ValueError):
        RawInteractions.from_codes((np.array([0, 0]), np.array(["a"], dtype=object)), ["x"])
    s = np.array([np.str_("a"), "b"], dtype=object)  # str subclasses are strings too
    assert RawInteractions(users=s, items=s).users.tolist() == ["a", "b"]


def test_lists_codes_keep_first_appearance(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("b 3 1 3\na 1 2\nc\nb 2 9\n")
    raw = read_interactions(p)
    assert raw.users.tolist() == ["b"] * 3 + ["a"] * 2 + ["b"] * 2
    assert raw.id_codes("user")[0].tolist() == [0, 0, 0, 1, 1, 0, 0]
    assert raw.id_codes("item")[1].tolist() == ["3", "1", "2", "9"]
    assert raw.empty_users == [("c", 3)]
    ds = load_dataset(p, min_interactions=2)
    assert ds.user_map.to_list() == ["b", "a"]
