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
    p = write(tmp_path, "r.txt", "1\t10\t4\n2\t11\t3\n3\t10\t5\n")
    assert read_interactions(p).format == "triples"
    forced = read_interactions(p, format="lists")  # one line per user: it may be lists
    assert forced.format == "lists"
    assert forced.items.tolist() == ["10", "4", "11", "3", "10", "5"]
    # users on several lines: triples, and forcing lists is refused (issue 23)
    p = write(tmp_path, "r.txt", "1 10 4\n1 11 3\n2 10 5\n")
    with pytest.raises(DataError) as e:
        read_interactions(p, format="lists")
    assert "format 'lists' was forced" in one_line_error(e, p, 2)
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
    p = write(tmp_path, "cr.txt", b"1 2 3\r1 2 4\r1 \xff\xfe 4\r")  # CR line ends: was line 1
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "not UTF-8" in one_line_error(e, p, 3)


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
    p = write(tmp_path, "d.txt", "\n".join(f"u{k}: a b" for k in range(20)) + "\nu9,9: a b\n")
    with pytest.raises(DataError) as e:  # was read as user 'u9,9'
        read_interactions(p)
    assert one_line_error(e, p, 21) == "a comma in the user id 'u9,9', expected 'user: item item ...'"


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


# ------------------------------------------------------------------------------------------ issue 14
# Detection is decided by the large majority of lines; a line that does not fit is an error at
# that line, never a reason to read the whole file another way.


def _triples_lines(n=400, sep=","):
    return [sep.join([f"u{k % 40}", f"i{k % 97}", str(1 + k % 5), str(1600000000 + k)]) for k in range(n)]


@pytest.mark.parametrize("sep", [",", "\t", " "])
def test_triples_with_one_five_field_line_is_an_error_at_that_line(tmp_path, sep):
    rows = _triples_lines(sep=sep)
    rows[150] += sep + "x"
    p = write(tmp_path, "r.csv", "\n".join(rows) + "\n")
    assert detect_format(p) == "triples"
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 151) == "expected 4 fields (user item rating timestamp), got 5"


def _lists_lines(n=300):
    return [" ".join([f"u{k}"] + [f"i{(k * 7 + j) % 500}" for j in range(5 + k % 6)]) for k in range(n)]


def test_lists_with_commas_on_a_few_lines_is_an_error_at_the_first(tmp_path):
    rows = _lists_lines()
    for k in (3, 50, 100, 150, 200, 250):  # these lines comma separated (it was read as a comma file)
        rows[k] = rows[k].replace(" ", ",")
    p = write(tmp_path, "seq.txt", "\n".join(rows) + "\n")
    assert detect_format(p) == "lists"
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 4) == "',' in a lists file, expected 'user item item ...' separated by spaces"


def test_misplaced_comma_in_lists_reports_its_line(tmp_path):
    rows = _lists_lines()
    rows[119] = rows[119].replace(" ", ",", 1)  # "u119,i..." (it reported line 1, "expected 2 to 4 fields")
    p = write(tmp_path, "seq.txt", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "',' in a lists file" in one_line_error(e, p, 120)
    rows = _lists_lines(3000)
    rows[2700] += ",i1"  # past the lines format detection reads
    p = write(tmp_path, "seq2.txt", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "',' in a lists file" in one_line_error(e, p, 2701)


def test_mixed_delimiters_are_an_error(tmp_path):
    rows = [f"u{k} a b c" if k % 2 else f"u{k},a,b,c" for k in range(20)]
    p = write(tmp_path, "m.txt", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "mixed delimiters" in one_line_error(e, p, 2)
    with pytest.raises(DataError):
        detect_format(p)


def test_line_with_another_delimiter_in_a_tab_file(tmp_path):
    rows = [f"u{k % 7}\ti{k}\t3" for k in range(30)]
    rows[17] = "u1,i2,3"
    p = write(tmp_path, "r.tsv", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 18) == (
        "a line with commas in a file separated by tabs: expected 3 fields (user item rating), got 1")


def test_tab_lists_field_with_spaces_is_an_error(tmp_path):
    rows = ["\t".join([f"u{k}"] + [f"i{j}" for j in range(2 + k % 5)]) for k in range(30)]
    rows[9] = rows[9].replace("\t", " ", 2)  # was read as user 'u9 i0 i1'
    p = write(tmp_path, "l.tsv", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert one_line_error(e, p, 10) == "a field with spaces inside, expected 'user item item ...' separated by tabs"


def test_header_of_three_columns_does_not_turn_into_lists(tmp_path):
    p = write(tmp_path, "h.txt", "user item rating\n1 2 3\n1 3 4 5 6 7\n")
    with pytest.raises(DataError) as e:
        read_interactions(p)
    assert "expected 3 fields" in one_line_error(e, p, 3)


def test_one_small_value_does_not_turn_timestamps_into_ratings(tmp_path):
    rows = [f"{k % 30} {k} {1300000000 + k}" for k in range(50)]
    rows[20] = "7 8 4"
    raw = read_interactions(write(tmp_path, "t.txt", "\n".join(rows) + "\n"))
    assert raw.ratings is None and raw.timestamps[20] == 4 and raw.timestamps[0] == 1300000000


def test_namespaced_ids_are_not_the_colon_form_or_a_header(tmp_path):
    raw = read_interactions(write(tmp_path, "ns.txt", "user:1 item:2 5\nuser:1 item:3 4\n"))
    assert raw.format == "triples" and raw.header is None
    assert raw.users.tolist() == ["user:1", "user:1"] and raw.items.tolist() == ["item:2", "item:3"]


def test_values_that_crashed_the_reader_are_data_errors(tmp_path):
    # int() of a 5000-digit or a superscript-digit third column raised ValueError; csv.Error for a
    # field over the csv module's limit
    cases = [("big.txt", "1 2 " + "9" * 5000 + "\n1 3 4\n", 1, "is not a finite number"),
             ("ud.txt", "1 2 \u00b2\n1 3 \u00b2\n", 1, "is not a number"),
             ("q.csv", 'user,item\n"' + "x" * 200000 + '",1\n', 2, "bad CSV quoting")]
    for name, text, line, want in cases:
        p = write(tmp_path, name, text)
        with pytest.raises(DataError) as e:
            read_interactions(p)
        msg = one_line_error(e, p, line)
        assert want in msg and len(msg) < 200


YAMLISH = ["true", "false", "True", "yes", "no", "on", "off", "null", "~", "None", "NaN", "nan", "NA",
           "1.0", "1e3", "0x10", "007", "-0", "+1", ".5", "1_000", "2020-01-01"]


@pytest.mark.parametrize("fmt", ["lists", "triples", "atomic", "triples-big", "parquet"])
def test_ids_stay_raw_strings(tmp_path, fmt):
    items = YAMLISH * (60 if fmt == "triples-big" else 1)
    users = [f"u{k % 3}" if fmt != "lists" else "u" for k in range(len(items))]
    raw = RawInteractions(users=users, items=items)
    p = write_interactions(raw, tmp_path / f"x.{fmt}", format=fmt.split("-")[0])
    back = read_interactions(p)
    assert sorted(back.items.tolist()) == sorted(items)
    assert all(type(x) is str for x in back.items)


def test_raw_interactions_keeps_each_value_as_its_own_string():
    # numpy coerced [True, 2] to integers: item 'True' became '1'
    raw = RawInteractions(users=["u", "u", "v"], items=[True, 2, "x"])
    assert raw.items.tolist() == ["True", "2", "x"]
    raw = RawInteractions(users=["u"] * 17, items=np.array(["a"] * 16 + [True], dtype=object))
    assert raw.items[-1] == "True" and type(raw.items[-1]) is str


@pytest.mark.parametrize("fmt,delimiter", [("lists", " "), ("triples", "\t"), ("triples", ","), ("triples", " "),
                                           ("atomic", "\t"), ("parquet", "")])
def test_gzip_files_are_read(tmp_path, fmt, delimiter):
    import gzip

    raw = RawInteractions(users=["u1", "u1", "u2", "u2", "u2"], items=["a", "b", "a", "c", "true"],
                          timestamps=None if fmt == "lists" else [5.0, 6.0, 7.0, 8.0, 9.0])
    plain = write_interactions(raw, tmp_path / "x.data", format=fmt, delimiter=delimiter or "\t",
                               header=delimiter == ",")
    want = read_interactions(plain)
    for name in ("x.data.gz", "x_no_suffix"):  # by suffix, or by the magic bytes
        p = tmp_path / name
        p.write_bytes(gzip.compress(plain.read_bytes()))
        assert detect_format(p) == fmt
        got = read_interactions(p)
        assert got.format == fmt
        assert got.users.tolist() == want.users.tolist() and got.items.tolist() == want.items.tolist()
        assert got.lines.tolist() == want.lines.tolist()


def test_bad_gzip_and_other_archives(tmp_path):
    import gzip

    body = gzip.compress(b"1 2 3\n1 3 4\n")
    for name, data, want in (("cut.gz", body[:15], "not a readable gzip file"),
                             ("plain.txt.gz", b"1 2 3\n", "named .gz but not gzip data"),
                             ("a.zip", b"PK\x03\x04" + b"\x00" * 30, "a zip archive"),
                             ("nul.txt", b"1 2 3\n1 2\x003\n", "NUL bytes"),
                             ("bin.gz", gzip.compress(b"\x00\x01\x02"), "NUL bytes")):
        p = write(tmp_path, name, data)
        with pytest.raises(DataError) as e:
            read_interactions(p)
        assert want in str(e.value) and "\n" not in str(e.value) and str(e.value).startswith(str(p))
