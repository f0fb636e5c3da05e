"""Readers and format detection, on small files generated in tmp_path."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contrastrec.data import (
    FORMATS,
    DataError,
    RawInteractions,
    detect_format,
    read_interactions,
    write_interactions,
)


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def one_line_error(excinfo, path, line=None):
    msg = str(excinfo.value)
    assert "\n" not in msg
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert msg.startswith(prefix), msg
    return msg[len(prefix):]


# ------------------------------------------------------------------------------------------ lists


def test_lists_basic_rows_in_file_order(tmp_path):
    p = write(tmp_path, "seq.txt", "1 10 11 12\n2 13 10\n\n3 14 15 16 17 18\n")
    raw = read_interactions(p)
    assert raw.format == "lists"
    assert raw.users.tolist() == ["1"] * 3 + ["2"] * 2 + ["3"] * 5
    assert raw.items.tolist() == ["10", "11", "12", "13", "10", "14", "15", "16", "17", "18"]
    assert raw.lines.tolist() == [1, 1, 1, 2, 2, 4, 4, 4, 4, 4]
    assert raw.ratings is None and raw.timestamps is None
    assert raw.users.dtype == object and isinstance(raw.users[0], str)
    assert len(raw) == 10


def test_lists_colon_form_and_empty_users(tmp_path):
    p = write(tmp_path, "adj.txt", "u1: a b c\nu2:d e\nu3:\n")
    raw = read_interactions(p)
    assert raw.format == "lists"
    assert raw.users.tolist() == ["u1", "u1", "u1", "u2", "u2"]
    assert raw.items.tolist() == ["a", "b", "c", "d", "e"]
    assert raw.empty_users == [("u3", 3)]


def test_lists_user_without_items_and_crlf(tmp_path):
    p = write(tmp_path, "x.txt", b"0 1 2 3 4 5\r\n1\r\n2 7 8 9 10 11\r\n")
    raw = read_interactions(p)
    assert raw.format == "lists"
    assert raw.empty_users == [("1", 2)]
    assert raw.items.tolist()[-1] == "11"


def test_lists_unique_users_short_lines_are_lists(tmp_path):
    # one line per user, <= 4 fields, integer ids: adjacency lists, not triples
    p = write(tmp_path, "valid.txt", "2 11\n3 22\n7 12 51\n9 4 5 6\n")
    assert detect_format(p) == "lists"
    raw = read_interactions(p)
    assert raw.users.tolist() == ["2", "3", "7", "7", "9", "9", "9"]


# ------------------------------------------------------------------------------------------ triples


@pytest.mark.parametrize("sep", ["\t", ",", " "])
def test_triples_separators_without_header(tmp_path, sep):
    rows = [("1", "10", "4"), ("1", "11", "3.5"), ("2", "10", "1"), ("2", "12", "5")]
    p = write(tmp_path, "r.dat", "\n".join(sep.join(r) for r in rows) + "\n")
    assert detect_format(p) == "triples"
    raw = read_interactions(p)
    assert raw.format == "triples"
    assert raw.users.tolist() == ["1", "1", "2", "2"]
    assert raw.items.tolist() == ["10", "11", "10", "12"]
    np.testing.assert_allclose(raw.ratings, [4, 3.5, 1, 5])
    assert raw.timestamps is None
    assert raw.lines.tolist() == [1, 2, 3, 4]


def test_triples_four_columns_rating_and_timestamp(tmp_path):
    p = write(tmp_path, "r.txt", "1 10 4 100\n1 11 3 90\n2 10 5 80\n")
    raw = read_interactions(p)
    np.testing.assert_allclose(raw.ratings, [4, 3, 5])
    np.testing.assert_allclose(raw.timestamps, [100, 90, 80])


def test_triples_header_by_names(tmp_path):
    p = write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n")
    raw = read_interactions(p)
    assert raw.format == "triples"
    assert raw.header == ["userId", "movieId", "rating", "timestamp"]
    assert raw.users.tolist() == ["1", "1"]
    assert raw.items.tolist() == ["31", "1029"]
    assert raw.lines.tolist() == [2, 3]
    np.testing.assert_allclose(raw.timestamps, [1260759144, 1260759179])


def test_triples_header_by_column_types(tmp_path):
    # names unknown, but the first line's third field is not a number while the rest are
    p = write(tmp_path, "x.tsv", "who\twhat\thow_much\nalice\tbook\t3\nbob\tpen\t4\n")
    raw = read_interactions(p)
    assert raw.header == ["who", "what", "how_much"]
    assert raw.users.tolist() == ["alice", "bob"]
    np.testing.assert_allclose(raw.ratings, [3, 4])


def test_triples_header_column_order_from_names(tmp_path):
    p = write(tmp_path, "x.csv", "timestamp,item_id,user_id\n5,i1,u1\n6,i2,u1\n")
    raw = read_interactions(p)
    assert raw.users.tolist() == ["u1", "u1"]
    assert raw.items.tolist() == ["i1", "i2"]
    np.testing.assert_allclose(raw.timestamps, [5, 6])
    assert raw.ratings is None


def test_tab_user_item_weight_is_triples(tmp_path):
    # HetRec LastFM style: tab separated user item weight, CRLF line ends
    p = write(tmp_path, "train.txt", b"424\t4076\t993\r\n1311\t1574\t957\r\n1671\t410\t146\r\n")
    assert detect_format(p) == "triples"
    raw = read_interactions(p)
    np.testing.assert_allclose(raw.ratings, [993, 957, 146])


def test_space_triples_with_repeated_users_are_triples(tmp_path):
    p = write(tmp_path, "r.txt", "1 10 4\n1 11 3\n1 12 5\n2 10 2\n")
    assert detect_format(p) == "triples"


def test_space_triples_with_float_third_column_are_triples(tmp_path):
    p = write(tmp_path, "r.txt", "1 10 4.5\n2 11 3.5\n3 12 1.0\n")
    assert detect_format(p) == "triples"


def test_three_columns_with_epoch_values_are_timestamps(tmp_path):
    p = write(tmp_path, "r.txt", "1 10 1300000000\n1 11 1300000100\n2 10 1300000200\n")
    raw = read_interactions(p)
    assert raw.ratings is None
    np.testing.assert_allclose(raw.timestamps, [1300000000, 1300000100, 1300000200])


def test_columns_override_names_and_positions(tmp_path):
    p = write(tmp_path, "x.csv", "a,b,c\n1,2,3\n4,5,6\n")
    raw = read_interactions(p, columns={"user": "b", "item": "a", "rating": None})
    assert raw.users.tolist() == ["2", "5"] and raw.items.tolist() == ["1", "4"] and raw.ratings is None
    p2 = write(tmp_path, "y.txt", "1 2 3\n1 5 6\n")
    raw = read_interactions(p2, format="triples", columns={"user": 1, "item": 0, "timestamp": 2})
    assert raw.users.tolist() == ["2", "5"]
    np.testing.assert_allclose(raw.timestamps, [3, 6])


def test_quoted_csv(tmp_path):
    p = write(tmp_path, "q.csv", 'user,item,rating\n"a b","x, y",3\n"c","z",4\n')
    raw = read_interactions(p)
    assert raw.users.tolist() == ["a b", "c"]
    assert raw.items.tolist() == ["x, y", "z"]


def test_fast_and_careful_parsers_agree(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    u, i = rng.integers(0, 50, n), rng.integers(0, 200, n)
    r, t = rng.integers(1, 6, n), rng.integers(10**9, 2 * 10**9, n)
    body = "\n".join(f"{a}\t{b}\t{c}\t{d}" for a, b, c, d in zip(u, i, r, t))
    fast = read_interactions(write(tmp_path, "fast.tsv", body + "\n"))
    # a comment line sends the file through the line-by-line parser
    slow = read_interactions(write(tmp_path, "slow.tsv", "# comment\n" + body + "\n"))
    assert fast.users.tolist() == slow.users.tolist() == [str(x) for x in u]
    assert fast.items.tolist() == slow.items.tolist()
    np.testing.assert_array_equal(fast.ratings, slow.ratings)
    np.testing.assert_array_equal(fast.timestamps, slow.timestamps)
    np.testing.assert_array_equal(fast.lines + 1, slow.lines)


def test_large_file_errors_report_the_right_line(tmp_path):
    lines = [f"{k % 30}\t{k}\t3" for k in range(2000)]
    bad = list(lines)
    bad[1499] = "7\t8"
    p = write(tmp_path, "big.tsv", "\n".join(bad) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "expected 3 fields" in one_line_error(e, p, 1500)
    bad = list(lines)
    bad[1200] = "7\t8\tfive"
    p = write(tmp_path, "big2.tsv", "\n".join(bad) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 1201) == "rating 'five' is not a number"


# ------------------------------------------------------------------------------------------ atomic


def test_atomic_file(tmp_path):
    p = write(
        tmp_path,
        "ml.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
    )
    assert detect_format(p) == "atomic"
    raw = read_interactions(p)
    assert raw.format == "atomic"
    assert raw.users.tolist() == ["196", "186"]
    assert raw.items.tolist() == ["242", "302"]
    np.testing.assert_allclose(raw.timestamps, [881250949, 891717742])
    assert raw.lines.tolist() == [2, 3]


def test_atomic_extra_columns_and_order(tmp_path):
    p = write(
        tmp_path,
        "x.inter",
        "item_id:token\tlabel:float\tuser_id:token\tnote:token_seq\na\t1\tu\thello world\nb\t0\tv\tx\n",
    )
    raw = read_interactions(p)
    assert raw.users.tolist() == ["u", "v"] and raw.items.tolist() == ["a", "b"]
    np.testing.assert_allclose(raw.ratings, [1, 0])


# ------------------------------------------------------------------------------------------ tables


def test_dataframe_common_column_names():
    df = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 11, 10], "rating": [4.0, 3.5, 2.0],
                       "timestamp": [3, 2, 1]})
    assert detect_format(df) == "dataframe"
    raw = read_interactions(df)
    assert raw.format == "dataframe"
    assert raw.users.tolist() == ["1", "1", "2"] and raw.items.tolist() == ["10", "11", "10"]
    np.testing.assert_allclose(raw.ratings, [4.0, 3.5, 2.0])
    assert raw.lines.tolist() == [1, 2, 3]


def test_dataframe_caller_named_columns_and_datetimes():
    df = pd.DataFrame({"cust": ["a", "b"], "sku": [1.0, 2.0],
                       "when": pd.to_datetime(["2020-01-01", "2020-01-02"])})
    raw = read_interactions(df, columns={"user": "cust", "item": "sku", "timestamp": "when"})
    assert raw.items.tolist() == ["1", "2"]  # integral floats become integer ids
    assert raw.timestamps[1] - raw.timestamps[0] == 86400


def test_parquet_file(tmp_path):
    df = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "rating": [1.0, 2.0, 3.0]})
    p = tmp_path / "data.parquet"
    df.to_parquet(p)
    assert detect_format(p) == "parquet"
    raw = read_interactions(p)
    assert raw.format == "parquet"
    assert raw.users.tolist() == ["a", "a", "b"]
    np.testing.assert_allclose(raw.ratings, [1, 2, 3])
    # detection by content, not by suffix
    q = tmp_path / "data.bin"
    q.write_bytes(p.read_bytes())
    assert detect_format(q) == "parquet"


# ------------------------------------------------------------------------------------------ override


def test_format_override(tmp_path):
    p = write(tmp_path, "r.txt", "1 10 4\n1 11 3\n2 10 5\n")
    assert read_interactions(p).format == "triples"
    forced = read_interactions(p, format="lists")
    assert forced.format == "lists"
    assert forced.items.tolist() == ["10", "4", "11", "3", "10", "5"]
    # aliases
    assert read_interactions(p, format="csv").format == "triples"
    lists = write(tmp_path, "l.txt", "1 2 3 4 5 6 7\n")
    with pytest.raises(DataError) as e:
        read_interactions(lists, format="triples")
    assert "expected 2 to 4 fields" in one_line_error(e, lists, 1)


def test_formats_tuple():
    assert FORMATS == ("lists", "triples", "atomic", "parquet", "dataframe")


# ------------------------------------------------------------------------------------------ bad input


def test_unknown_format_name(tmp_path):
    p = write(tmp_path, "r.txt", "1 2\n")
    with pytest.raises(DataError) as e:
        read_interactions(p, format="xml")
    assert "unknown format 'xml'" in one_line_error(e, p)


def test_triples_line_with_one_field(tmp_path):
    p = write(tmp_path, "r.tsv", "1\t10\t4\n1\t11\t3\n2\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 3) == "expected 3 fields (user item rating), got 1"


def test_space_triples_line_with_one_field(tmp_path):
    p = write(tmp_path, "r.txt", "1 10 4\n1 11 3\n2\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "expected 3 fields" in one_line_error(e, p, 3)


def test_triples_first_line_with_too_many_fields(tmp_path):
    p = write(tmp_path, "r.csv", "1,2,3,4,5\n")
    with pytest.raises(DataError) as e:
        read_interactions(p, format="triples")
    assert "expected 2 to 4 fields" in one_line_error(e, p, 1)


def test_non_numeric_rating_and_timestamp(tmp_path):
    p = write(tmp_path, "r.csv", "user,item,rating\n1,10,4\n1,11,good\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 3) == "rating 'good' is not a number"
    p = write(tmp_path, "t.csv", "user,item,timestamp\n1,10,4\n1,11,2020-01-01\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 3) == "timestamp '2020-01-01' is not a number"
    p = write(tmp_path, "n.csv", "user,item,rating\n1,10,nan\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "not a finite number" in one_line_error(e, p, 2)


def test_empty_files(tmp_path):
    for name, text in (("empty.txt", ""), ("blank.txt", "\n  \n\t\n")):
        p = write(tmp_path, name, text)
        with pytest.raises(DataError) as e:
            read_interactions(p)
        assert one_line_error(e, p) == "file is empty"
        with pytest.raises(DataError):
            detect_format(p)


def test_header_only(tmp_path):
    p = write(tmp_path, "h.csv", "user,item,rating\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "no interactions" in one_line_error(e, p)


def test_empty_ids(tmp_path):
    p = write(tmp_path, "e.csv", "user,item\n1,10\n,11\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 3) == "empty user id"


def test_atomic_forced_without_header(tmp_path):
    p = write(tmp_path, "x.inter", "1\t2\t3\n")
    with pytest.raises(DataError) as e:
        read_interactions(p, format="atomic")
    assert "not an atomic file" in one_line_error(e, p, 1)


def test_atomic_wrong_field_count(tmp_path):
    p = write(tmp_path, "x.inter", "user_id:token\titem_id:token\trating:float\n1\t2\t3\n1\t2\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "expected 3 fields" in one_line_error(e, p, 3)


def test_atomic_without_user_column(tmp_path):
    p = write(tmp_path, "x.inter", "a:token\tb:token\n1\t2\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "cannot tell which column holds user ids" in one_line_error(e, p, 1)


def test_not_utf8(tmp_path):
    p = write(tmp_path, "x.txt", b"1 2 3\n1 \xff\xfe 4\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "not UTF-8" in one_line_error(e, p, 2)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError) as e:
        read_interactions(tmp_path / "nope.txt")
    assert one_line_error(e, tmp_path / "nope.txt") == "no such file"
    with pytest.raises(DataError):
        read_interactions(tmp_path)


def test_colon_form_line_without_colon(tmp_path):
    p = write(tmp_path, "c.txt", "\n".join(f"u{k}: a b" for k in range(20)) + "\nu99 a b\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "no ':'" in one_line_error(e, p, 21)


def test_dataframe_bad_values():
    with pytest.raises(DataError) as e:
        read_interactions(pd.DataFrame({"user": ["a", None], "item": ["x", "y"]}))
    assert one_line_error(e, "<dataframe>", 2) == "missing user id"
    with pytest.raises(DataError) as e:
        read_interactions(pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "rating": ["1", "high"]}))
    assert one_line_error(e, "<dataframe>", 2) == "rating 'high' is not a number"
    with pytest.raises(DataError) as e:
        read_interactions(pd.DataFrame({"p": [1], "q": [2]}))
    assert "cannot tell which column" in str(e.value)
    with pytest.raises(DataError) as e:
        read_interactions(pd.DataFrame({"user": [1], "item": [2]}), columns={"rating": "stars"})
    assert "no column named 'stars'" in str(e.value)
    with pytest.raises(DataError):
        read_interactions(pd.DataFrame({"user": [], "item": []}))


def test_bad_parquet(tmp_path):
    p = write(tmp_path, "x.parquet", b"PAR1 this is not parquet")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "cannot read parquet" in one_line_error(e, p)


# ------------------------------------------------------------------------------------------ writer


@pytest.mark.parametrize("fmt", ["lists", "triples", "atomic", "parquet"])
def test_write_read_round_trip(tmp_path, fmt):
    raw = RawInteractions(users=["u1", "u1", "u2", "u1"], items=["a", "b", "a", "c"],
                          timestamps=[1.0, 2.0, 3.0, 4.0] if fmt != "lists" else None)
    p = write_interactions(raw, tmp_path / f"x.{fmt}", format=fmt, header=True)
    back = read_interactions(p)
    assert back.format == fmt
    if fmt == "lists":  # grouped by user
        assert back.users.tolist() == ["u1", "u1", "u1", "u2"]
        assert back.items.tolist() == ["a", "b", "c", "a"]
    else:
        assert back.users.tolist() == raw.users.tolist()
        assert back.items.tolist() == raw.items.tolist()
        np.testing.assert_allclose(back.timestamps, raw.timestamps)


def test_raw_interactions_converts_ids_to_str():
    raw = RawInteractions(users=np.array([1, 2]), items=[3, 4])
    assert raw.users.tolist() == ["1", "2"] and raw.items.tolist() == ["3", "4"]
    assert raw.lines.tolist() == [1, 2]
    with pytest.raises(ValueError):
        RawInteractions(users=[1], items=[1, 2])


def test_tab_separated_lists(tmp_path):
    p = write(tmp_path, "l.tsv", "1\t2\t3\t4\t5\t6\n2\t7\t8\n")
    raw = read_interactions(p)
    assert raw.format == "lists"
    assert raw.users.tolist() == ["1"] * 5 + ["2"] * 2


def test_letter_ids_are_not_a_header(tmp_path):
    p = write(tmp_path, "l.txt", "u a b c d e\ni f g h i j\n")
    raw = read_interactions(p)
    assert raw.header is None
    assert raw.users.tolist()[0] == "u" and raw.users.tolist()[-1] == "i"


def test_lists_header_by_names(tmp_path):
    p = write(tmp_path, "l.txt", "user items\n1 2 3 4 5 6\n2 3 4 5 6 7\n")
    raw = read_interactions(p)
    assert raw.format == "lists" and raw.header == ["user", "items"]
    assert raw.lines.tolist()[0] == 2
