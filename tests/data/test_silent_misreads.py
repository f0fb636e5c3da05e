"""Silent misreads of input data (issue 23): every one is now read right or refused in one line."""
from __future__ import annotations

import contextlib
import os
import signal

import numpy as np
import pandas as pd
import pytest

from contrastrec.data import DataError, describe_datasets, detect_format, load_dataset, read_interactions


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# ------------------------------------------------------------------- tab, then space
def test_tab_then_space_lines_split_into_fields(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{int(rng.integers(0, 9))}", int(rng.integers(1, 6))) for u in range(30) for _ in range(4)]
    p = tmp_path / "r.txt"
    p.write_text("".join(f"{u}\t{i} {r}\n" for u, i, r in rows))
    raw = read_interactions(p)
    assert len(set(raw.items)) == len({i for _, i, _ in rows})  # never an id "i3 4"
    assert not any(" " in x for x in raw.items)
    np.testing.assert_array_equal(raw.ratings, [r for _, _, r in rows])


def test_a_tab_separated_id_with_spaces_is_refused_at_its_line(tmp_path):
    lines = [f"u{k}\ti{k}\t{k % 5 + 1}" for k in range(20)]
    lines[7] = "u7\ti7 3\t4"
    p = tmp_path / "r.tsv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    msg = one_line(e)
    assert msg.startswith(f"{p}:8: ") and "'i7 3'" in msg


# ------------------------------------------------------------------- timestamps above 2**53
BIG = 2**60


def _big_ts_rows():
    # user a: three interactions 1 ns apart; the last one in time is item z (listed first)
    return pd.DataFrame({"user": ["a", "a", "a", "b", "b", "b"], "item": ["z", "x", "y", "x", "y", "z"],
                         "timestamp": np.array([BIG + 3, BIG + 1, BIG + 2, BIG + 1, BIG + 2, BIG + 3],
                                               dtype=np.int64)})


@pytest.mark.parametrize("fmt", ["triples", "atomic", "parquet"])
def test_timestamps_above_2_53_stay_exact(tmp_path, fmt):
    df = _big_ts_rows()
    if fmt == "parquet":
        p = tmp_path / "d.parquet"
        df.to_parquet(p, index=False)
    elif fmt == "atomic":
        p = tmp_path / "d.inter"
        p.write_text("user_id:token\titem_id:token\ttimestamp:float\n"
                     + "".join(f"{u}\t{i}\t{t}\n" for u, i, t in df.itertuples(index=False)))
    else:
        p = tmp_path / "d.tsv"
        p.write_text("".join(f"{u}\t{i}\t{t}\n" for u, i, t in df.itertuples(index=False)))
    raw = read_interactions(p)
    assert raw.timestamps.dtype == np.int64
    np.testing.assert_array_equal(raw.timestamps, df["timestamp"].to_numpy())
    ds = load_dataset(p, split="loo", sequential=True, min_interactions=3)
    a = ds.user_map.to_index("a")
    test_item = ds.item_map.to_raw(int(ds.test.items[ds.test.users == a][0]))
    assert test_item == "z"  # the latest, not the first listed of three tied floats


# ------------------------------------------------------------------- parquet list column, forced lists
def test_a_parquet_list_column_is_not_an_id_column(tmp_path):
    p = tmp_path / "d.parquet"
    pd.DataFrame({"user": [1, 2, 3], "item": [[117], [118, 119], [5]]}).to_parquet(p, index=False)
    with pytest.raises(DataError) as e:
        read_interactions(p)
    msg = one_line(e)
    assert msg.startswith(f"{p}: ") and "'item'" in msg and "list" in msg


def test_forced_lists_on_a_triples_file_is_refused(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("".join(f"{u}\t{i}\t{(u + i) % 5 + 1}\t{1300000000 + 60 * i}\n" for u in range(1, 21) for i in range(1, 5)))
    assert detect_format(p) == "triples"
    with pytest.raises(DataError) as e:
        read_interactions(p, format="lists")
    msg = one_line(e)
    assert msg.startswith(f"{p}:") and "triples" in msg and "lists" in msg


def test_forced_lists_on_a_lists_file_still_reads(tmp_path):
    p = tmp_path / "l.txt"
    p.write_text("".join(f"{u} {u + 1} {u + 2} {u + 3}\n" for u in range(1, 30)))
    assert len(read_interactions(p, format="lists")) == 29 * 3


# ------------------------------------------------------------------- what a path is
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@contextlib.contextmanager
def no_hang(seconds: int = 10):
    """Fail, instead of blocking for ever, when the body does not return within ``seconds``."""
    def hung(*_):
        raise AssertionError(f"blocked for {seconds} s (reading a FIFO?)")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_fifo_is_refused_not_read(tmp_path):
    f = tmp_path / "pipe"
    os.mkfifo(f)
    with no_hang():
        _refused(f)


def _refused(f):
    for call in (lambda: load_dataset(f), lambda: read_interactions(f), lambda: detect_format(f)):
        with pytest.raises(DataError) as e:
            call()
        assert one_line(e) == f"{f}: not a regular file (a FIFO); pass a data file or a folder of them"


def test_a_symlink_loop_is_named(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    for call in (lambda: load_dataset(a), lambda: read_interactions(a)):
        with pytest.raises(DataError) as e:
            call()
        assert one_line(e) == f"{a}: symbolic link loop"


def test_datasets_root_that_is_a_file_says_so(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("1 2 3\n")
    with pytest.raises(DataError) as e:
        describe_datasets(f)
    assert one_line(e) == f"{f}: is a file, not a folder (pass the folder that holds the data sets)"


# ------------------------------------------------------------------- pre-split files that repeat train
def _presplit(tmp_path, train, test, valid=None):
    d = tmp_path / "data"
    d.mkdir()
    for name, rows in (("train.txt", train), ("test.txt", test), ("valid.txt", valid)):
        if rows is not None:
            (d / name).write_text("".join(f"{u}\t{i}\n" for u, i in rows))
    return d


TRAIN_ROWS = [(u, (u + k) % 12) for u in range(10) for k in range(5)]


@pytest.mark.parametrize("role", ["test", "valid"])
def test_a_split_file_of_training_pairs_is_refused(tmp_path, role):
    held = [(u, (u + 7) % 12) for u in range(10)]
    repeats = TRAIN_ROWS[::5]
    d = _presplit(tmp_path, TRAIN_ROWS, repeats if role == "test" else held,
                  repeats if role == "valid" else held)
    with pytest.raises(DataError) as e:
        load_dataset(d)
    assert one_line(e) == (f"{d / f'{role}.txt'}: all 10 {role} pairs were training pairs (each (user, item) is in "
                           f"train.txt), so nothing is left to {'test' if role == 'test' else 'validate'} on")


def test_split_pairs_whose_item_has_no_training_interaction_are_counted_and_stated(tmp_path):
    test = [(u, (u + 7) % 12) for u in range(10)] + [(0, "new1"), (1, "new2"), (2, "new1")]
    valid = [(u, (u + 6) % 12) for u in range(10)] + [(3, "new3")]
    ds = load_dataset(_presplit(tmp_path, TRAIN_ROWS, test, valid))
    assert len(ds.test) == 13 and len(ds.valid) == 11  # the policy: kept, as released
    assert ds.unseen_items == {"valid": 1, "test": 3}
    assert ds.summary()["unseen_items"] == {"valid": 1, "test": 3}
    assert any(n.startswith("3 test interactions (2 items) have an item without any training interaction: kept")
               for n in ds.notes)


def test_single_file_split_counts_items_seen_only_in_valid_or_test(tmp_path):
    p = tmp_path / "seq.txt"  # item 99 is the last item of user 0 only: its test target
    p.write_text("".join(f"{u} " + " ".join(str((u + k) % 8) for k in range(6)) + (" 99" if u == 0 else "") + "\n"
                         for u in range(12)))
    ds = load_dataset(p)
    assert "99" in ds.item_map and ds.unseen_items == {"valid": 0, "test": 1}
    assert any("1 test interaction (1 item) has an item without any training interaction" in n for n in ds.notes)


def test_forced_lists_on_a_triples_file_with_a_header_names_the_header_line(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("# comment\nuser_id\titem_id\trating\n1\t2\t5\n2\t3\t4\n")
    with pytest.raises(DataError) as e:
        read_interactions(p, format="lists")
    assert one_line(e).startswith(f"{p}:2: format 'lists' was forced, but the header names a 'rating' column")
