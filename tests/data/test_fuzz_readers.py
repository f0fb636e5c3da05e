"""Property-based fuzzing of format detection, the readers and load_dataset (issue 14).

The only outcomes allowed: a correct parse, or a DataError whose message is one line and names
the file. Never another exception, a hang, or a silent reinterpretation: a generated valid file
parses to exactly what was written, and one odd line in a valid file is an error at that line
(or, when the line still fits the format, changes that line's rows only).

Inputs tried per run (``max_examples``, times ``$FUZZ_SCALE`` if set; the terminal summary prints
the counts): test_valid_files_parse_to_what_was_written 300,
test_one_odd_line_is_an_error_at_that_line 300, test_random_bytes 300, test_random_text 400,
test_fast_and_careful_parsers_agree 20 (1320 in all; a FUZZ_SCALE=10 run, 14k inputs, passed).
"""
from __future__ import annotations

import gzip
import os
import random
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from contrastrec.data import DataError, detect_format, load_dataset, read_interactions
from contrastrec.data.readers import _ALIAS_TO_ROLE, _norm_name

pytestmark = pytest.mark.fuzz

FUZZ = settings(deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.large_base_example])


def _n(examples: int) -> int:
    """``examples`` times ``$FUZZ_SCALE`` (default 1): longer fuzzing runs on demand."""
    return max(1, int(examples * float(os.environ.get("FUZZ_SCALE", "1"))))


@contextmanager
def no_hang(seconds: float = 20.0):
    """Fail (TimeoutError) instead of hanging."""
    def boom(*_):
        raise TimeoutError(f"no result after {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def outcome(fn, path):
    """``fn()``'s result, or the DataError it raised after checking it is one line naming ``path``;
    any other exception propagates (the test fails)."""
    try:
        with no_hang():
            return fn()
    except DataError as e:
        msg = str(e)
        assert "\n" not in msg and "\r" not in msg and len(msg.splitlines()) == 1, msg
        assert msg.startswith(f"{path}:"), msg
        return e


# ------------------------------------------------------------------------------------ generators

# ids: no whitespace/control characters (they separate fields), no ',' '"' ':' (delimiters,
# quoting, the 'user: items' form); a letter first, so an id is never a number or a comment
_ID_CHARS = st.characters(exclude_categories=("Z", "C"), exclude_characters=',":')


def _not_a_column_name(s: str) -> bool:
    return _norm_name(s) not in _ALIAS_TO_ROLE


alpha_ids = st.builds(lambda p, t: p + t, st.sampled_from("uvkpqzé"),
                      st.text(_ID_CHARS, max_size=6) | st.text(_ID_CHARS, min_size=100, max_size=400)
                      ).filter(_not_a_column_name)
numeric_ids = st.integers(0, 10**40).map(str) | st.integers(0, 999).map(lambda x: f"{x:05d}")


@dataclass
class Written:
    """A file as written and the rows it must parse to."""
    text: list[str]  # lines, without line ends
    format: str
    rows: list[tuple] = field(default_factory=list)  # (line, user, item, rating, timestamp)
    empty: list[tuple[str, int]] = field(default_factory=list)
    data_lines: list[int] = field(default_factory=list)  # 1-based lines holding data (not header)
    kind: str = ""


def _rating(rng: random.Random) -> str:
    return str(rng.randrange(10)) if rng.random() < 0.5 else repr(rng.uniform(0, 10))


# Structure comes from a drawn seed, ids from a drawn pool: a few hypothesis draws per file.
@st.composite
def triples_files(draw, min_rows=3, max_rows=40):
    ids = draw(st.sampled_from([alpha_ids, numeric_ids]))
    pool = draw(st.lists(ids, min_size=2, max_size=10, unique=True))
    rng = random.Random(draw(st.integers(0, 2**32)))
    sep = draw(st.sampled_from(["\t", ",", " ", ", "]))
    atomic = draw(st.booleans()) and sep == "\t"
    ncols = draw(st.integers(2, 4))
    roles = ["user", "item"] + {2: [], 3: [draw(st.sampled_from(["rating", "timestamp"]))],
                                4: ["rating", "timestamp"]}[ncols]
    header = atomic or draw(st.booleans())
    users = pool[: max(1, len(pool) // 2)]
    n = draw(st.integers(min_rows, max_rows))
    w = Written([], "atomic" if atomic else "triples", kind=f"triples sep={sep!r} ncols={ncols} header={header}")
    if header:
        w.text.append(sep.join(f"{r}_id:token" if atomic and r in ("user", "item") else
                               f"{r}:float" if atomic else r for r in roles))
    for k in range(n):
        u = users[0] if k < 2 else rng.choice(users)  # users repeat: not a lists file
        vals = {"user": u, "item": rng.choice(pool), "rating": _rating(rng),
                "timestamp": str(rng.randrange(10**9, 2 * 10**9))}
        w.text.append(sep.join(vals[r] for r in roles))
        w.data_lines.append(len(w.text))
        w.rows.append((len(w.text), u, vals["item"],
                       float(vals["rating"]) if "rating" in roles else None,
                       float(vals["timestamp"]) if "timestamp" in roles else None))
    return w


@st.composite
def lists_files(draw, min_users=1, max_users=30):
    ids = draw(st.sampled_from([alpha_ids, numeric_ids]))
    pool = draw(st.lists(ids, min_size=2, max_size=10, unique=True))
    rng = random.Random(draw(st.integers(0, 2**32)))
    form = draw(st.sampled_from([" ", "\t", "colon"]))
    users = [f"{pool[0]}{k}" for k in range(draw(st.integers(min_users, max_users)))]
    w = Written([], "lists", kind=f"lists form={form!r}")
    for k, u in enumerate(users):
        # a fifth of the users have 4+ items: field counts vary, as in a real lists file
        items = [rng.choice(pool) for _ in range(rng.randint(4, 12) if k % 5 == 0 else rng.randint(0, 6))]
        if form == "colon":
            w.text.append(f"{u}:" + rng.choice([" ", ""]) + rng.choice([" ", ", "]).join(items))
        else:
            w.text.append(form.join([u, *items]))
        w.data_lines.append(len(w.text))
        if items:
            w.rows += [(len(w.text), u, i, None, None) for i in items]
        else:
            w.empty.append((u, len(w.text)))
    return w


@st.composite
def decorated(draw, files):
    """A written file with blank/comment lines, spaces around lines, CRLF or CR line ends, a
    BOM, gzip."""
    w = draw(files)
    rng = random.Random(draw(st.integers(0, 2**32)))
    pad = draw(st.booleans())
    text, remap = [], {}
    for k, line in enumerate(w.text):
        if k > 0 and rng.random() < 0.1:
            text.append(rng.choice(["", "   ", "# comment, with\tdelimiters", "\t"]))
        if pad and rng.random() < 0.3:
            line = rng.choice(["", " "]) + line + rng.choice(["", " ", "  "])
        text.append(line)
        remap[k + 1] = len(text)
    w.text = text
    w.rows = [(remap[r[0]], *r[1:]) for r in w.rows]
    w.empty = [(u, remap[ln]) for u, ln in w.empty]
    w.data_lines = [remap[ln] for ln in w.data_lines]
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = (end.join(text) + (end if draw(st.booleans()) else "")).encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    gz = draw(st.sampled_from(["", ".gz", "magic"]))
    if gz:
        data = gzip.compress(data)
    return w, data, ".gz" if gz == ".gz" else ".txt"


def rows_of(raw):
    return [(int(ln), u, i, None if raw.ratings is None else float(raw.ratings[k]),
             None if raw.timestamps is None else float(raw.timestamps[k]))
            for k, (ln, u, i) in enumerate(zip(raw.lines, raw.users, raw.items))]


# ------------------------------------------------------------------------------------ properties


@settings(FUZZ, max_examples=_n(300))
@given(case=decorated(st.one_of(triples_files(), lists_files())))
def test_valid_files_parse_to_what_was_written(case, fuzz_dir, fuzz_count):
    """300 examples: every format, delimiter, id style, decoration; read, detect and load."""
    fuzz_count("test_valid_files_parse_to_what_was_written")
    w, data, suffix = case
    note(f"{w.kind}: {data!r}")
    path = fuzz_dir / f"valid{suffix}"
    path.write_bytes(data)
    raw = outcome(lambda: read_interactions(path), path)
    if w.rows:
        assert not isinstance(raw, DataError), (w.kind, raw)
        assert raw.format == w.format, w.kind
        assert rows_of(raw) == w.rows, w.kind
        assert raw.empty_users == w.empty
        assert detect_format(path) == w.format
        ds = outcome(lambda: load_dataset(path), path)
        if not isinstance(ds, DataError):
            assert set(ds.item_map.to_list()) <= {r[2] for r in w.rows}
            assert set(ds.user_map.to_list()) <= {r[1] for r in w.rows} | {u for u, _ in w.empty}
    else:
        assert isinstance(raw, DataError)  # a lists file of users without items


def _mutate(draw, line: str, kind: str) -> str:
    how = draw(st.sampled_from(["add", "drop", "swap", "comma", "cut", "junk"]))
    if how == "add":
        sep = "\t" if "\t" in line else "," if "," in line and "colon" not in kind else " "
        return line + sep + draw(alpha_ids)
    if how == "drop":
        for sep in ("\t", ",", " "):
            if sep in line:
                return line.rsplit(sep, 1)[0]
        return line
    if how == "swap":
        old = "\t" if "\t" in line else "," if "," in line else " "
        return line.replace(old, draw(st.sampled_from([x for x in ("\t", ",", " ") if x != old])))
    if how == "comma":
        k = draw(st.integers(1, max(1, len(line) - 1)))
        return line[:k] + "," + line[k:]
    if how == "cut":
        k = draw(st.integers(1, len(line)))
        return line[:k] if line[:k].strip() else line
    junk = draw(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r#"), min_size=1, max_size=6))
    k = draw(st.integers(1, len(line)))
    return line[:k] + junk + line[k:]


@settings(FUZZ, max_examples=_n(300))
@given(data=st.data())
def test_one_odd_line_is_an_error_at_that_line(data, fuzz_dir, fuzz_count):
    """300 examples: a valid file of 30+ data lines with one line changed (a field added or
    dropped, delimiters swapped, a comma, a cut, junk characters)."""
    fuzz_count("test_one_odd_line_is_an_error_at_that_line")
    w = data.draw(st.one_of(triples_files(min_rows=30, max_rows=60), lists_files(min_users=30, max_users=50)))
    m = data.draw(st.sampled_from(w.data_lines))
    before = w.text[m - 1]
    after = _mutate(data.draw, before, w.kind)
    text = list(w.text)
    text[m - 1] = after
    note(f"{w.kind}, line {m}: {before!r} -> {after!r}")
    path = fuzz_dir / "odd.txt"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    raw = outcome(lambda: read_interactions(path), path)
    if isinstance(raw, DataError):
        assert raw.line == m, (w.kind, repr(before), repr(after), str(raw))
        return
    assert raw.format == w.format, (w.kind, repr(before), repr(after))
    got = rows_of(raw)
    assert [r for r in got if r[0] != m] == [r for r in w.rows if r[0] != m], (w.kind, repr(before), repr(after))
    for r in got:
        if r[0] == m:
            assert r[1] in after and r[2] in after


def _decoded_lines(data: bytes) -> list[str]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _check_parse(raw, path, data):
    if isinstance(raw, DataError):
        return
    lines = _decoded_lines(data)
    for ln, u, i in zip(raw.lines, raw.users, raw.items):
        line = lines[int(ln) - 1]
        src = line.replace('"', "")  # CSV quoting
        assert u and i and u.replace('"', "") in src and i.replace('"', "") in src, (ln, u, i, line)
        assert line.strip() and not line.lstrip().startswith("#"), (ln, line)
    assert detect_format(path) == raw.format


@settings(FUZZ, max_examples=_n(300))
@given(data=st.binary(max_size=600) | st.binary(max_size=300).map(gzip.compress),
       suffix=st.sampled_from([".txt", ".gz", ".csv", ".inter"]))
def test_random_bytes(data, suffix, fuzz_dir, fuzz_count):
    """300 examples: arbitrary bytes (raw or gzip compressed) under several names."""
    fuzz_count("test_random_bytes")
    note(f"{suffix}: {data!r}")
    path = fuzz_dir / f"bytes{suffix}"
    path.write_bytes(data)
    raw = outcome(lambda: read_interactions(path), path)
    _check_parse(raw, path, data)
    outcome(lambda: detect_format(path), path)
    outcome(lambda: load_dataset(path), path)


_PIECES = ["u1", "u2", "i9", "7", "4.5", "1300000000", "true", "user", "item", "rating", "user_id:token",
           "item_id:token", " ", " ", "\t", "\t", ",", ",", "\n", "\n", "\n", "\r\n", ":", "#", '"', "é", "\u00a0",
           "\x0c", "\u2028", "\ufeff", "9" * 50, "x" * 300, "", "nan", "-1", "\x00"]


@settings(FUZZ, max_examples=_n(400))
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=80), gz=st.booleans(),
       fmt=st.sampled_from([None, None, "lists", "triples", "atomic"]))
def test_random_text(pieces, gz, fmt, fuzz_dir, fuzz_count):
    """400 examples: text from the pieces files are made of (delimiters, ids, numbers, headers,
    odd whitespace, BOM, quotes, NUL), detected or with a forced format."""
    fuzz_count("test_random_text")
    data = "".join(pieces).encode()
    if gz:
        data = gzip.compress(data)
    note(f"format={fmt}: {data!r}")
    path = fuzz_dir / "text.txt"
    path.write_bytes(data)
    raw = outcome(lambda: read_interactions(path, format=fmt), path)
    if fmt is None:
        _check_parse(raw, path, data)
    outcome(lambda: load_dataset(path, format=fmt), path)


@settings(FUZZ, max_examples=_n(20))
@given(block=st.lists(st.sampled_from(["u1", "v2", "7", "3.5", "é", "a\u00a0b", "a\x0cb", " ", "\t", ",", "x,y"]),
                      min_size=3, max_size=12),
       sep=st.sampled_from(["\t", ",", " "]), odd=st.integers(0, 1199))
def test_fast_and_careful_parsers_agree(block, sep, odd, fuzz_dir, fuzz_count):
    """20 examples of 1200-line files: the pandas fast path and the line-by-line parser give the
    same rows or the same error."""
    fuzz_count("test_fast_and_careful_parsers_agree")
    rows = [sep.join([f"u{k % 50}", f"i{k}", str(k % 5)]) for k in range(1200)]
    rows[odd] = "".join(block)
    note(f"line {odd + 1}: {rows[odd]!r}")
    base = fuzz_dir
    fast, slow = base / "fast.txt", base / "slow.txt"
    fast.write_text("\n".join(rows) + "\n", encoding="utf-8")
    slow.write_text("# forces the careful parser\n" + "\n".join(rows) + "\n", encoding="utf-8")
    a, b = outcome(lambda: read_interactions(fast), fast), outcome(lambda: read_interactions(slow), slow)
    if isinstance(a, DataError) or isinstance(b, DataError):
        assert isinstance(a, DataError) and isinstance(b, DataError), (a, b)
        assert (a.line, a.problem) == (None if b.line is None else b.line - 1, b.problem)
    else:
        assert a.users.tolist() == b.users.tolist() and a.items.tolist() == b.items.tolist()
        np.testing.assert_array_equal(a.lines + 1, b.lines)
