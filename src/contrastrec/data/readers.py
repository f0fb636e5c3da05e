"""Readers: turn a file or a DataFrame into a raw interaction table.

Formats (``FORMATS``):

* ``lists``: one line per user, ``user item item ...`` (space separated, items in time order), also
  ``user: item item ...``. Lines with a user and no items are allowed (kept in
  ``RawInteractions.empty_users``).
* ``triples``: ``user item [rating] [timestamp]`` separated by tabs, commas or spaces, with or
  without a header line.
* ``atomic``: tab separated with a ``name:type`` header (``user_id:token  item_id:token
  rating:float  timestamp:float``), the ``*.inter`` files of the atomic-file layout.
* ``parquet``: a parquet file with user/item (and optional rating/timestamp) columns.
* ``dataframe``: a ``pandas.DataFrame`` with such columns.

Text files may be gzip compressed (``.gz``, detected from the magic bytes). Ids are the raw
strings of the file. The format, delimiter and number of fields are decided by what the large
majority of the first lines agree on (a lists file has a varying number of fields and no commas,
a triples file a constant number); a line that does not fit is an error at that line, never a
reason to read the file another way.

Every problem raises :class:`~contrastrec.data.dataset.DataError` with a one-line message
``FILE:LINE: problem`` (for tables, LINE is the 1-based row number).
"""
from __future__ import annotations

import csv
import errno
import gzip
import io
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .dataset import DataError

FORMATS: tuple[str, ...] = ("lists", "triples", "atomic", "parquet", "dataframe")

# Other spellings accepted by ``format=`` (the canonical name is what readers report).
FORMAT_ALIASES: dict[str, str] = {
    "list": "lists",
    "adjacency": "lists",
    "sequences": "lists",
    "triple": "triples",
    "csv": "triples",
    "tsv": "triples",
    "inter": "atomic",
    "pq": "parquet",
    "df": "dataframe",
}

ROLES = ("user", "item", "rating", "timestamp")

# Column names recognised (case-insensitive, ``:type`` suffixes and ``_``/``-``/spaces ignored).
_NAME_ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userid", "users", "uid", "reviewerid", "customerid", "visitorid",
             "memberid", "sessionid", "session"),
    "item": ("item", "itemid", "items", "iid", "movieid", "movie", "artistid", "artist",
             "businessid", "business", "asin", "productid", "product", "songid", "trackid",
             "track", "bookid", "isbn", "poiid", "venueid", "locationid", "itemidlist"),
    "rating": ("rating", "ratings", "score", "weight", "value", "count", "playcount", "plays",
               "preference", "stars", "label", "click", "clicks", "feedback"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixtimestamp", "unixtime",
                  "createdat", "timestamps", "utc", "epoch", "when"),
}
_ALIAS_TO_ROLE = {alias: role for role, names in _NAME_ALIASES.items() for alias in names}

_ATOMIC_FIELD = re.compile(r"^[^\s:]+:(token|token_seq|float|float_seq)$")
_EPOCH_MIN = 1e8  # a 3rd column whose values are all integers >= this is a unix timestamp
_SAMPLE_LINES = 2000
_SAMPLE_CHARS = 1 << 18


class RawInteractions:
    """A raw interaction table, one row per interaction, in file order.

    Attributes:
        users: ``object[N]`` raw user ids (``str``).
        items: ``object[N]`` raw item ids (``str``).
        ratings: ``float64[N]`` or ``None``.
        timestamps: ``int64[N]`` when the source holds integers (kept exact), else ``float64[N]``
            (seconds or any increasing number), or ``None``.
        lines: ``int64[N]`` 1-based source line of each row (row number for tables).
        source: file path (or ``"<dataframe>"``) used in error messages.
        format: the format name the rows were read with (one of ``FORMATS``).
        empty_users: ``(raw user id, line)`` of lines that list a user without items (``lists``).
        header: column names of a header line, when there was one.
        notes: what the reader noticed (header line skipped, column roles chosen, ...).

    Large tables are held as codes: ``id_codes("user")`` gives ``(int64[N] codes, object[U]
    distinct raw ids)`` in order of first appearance (what ``pd.factorize`` of ``users`` gives).
    The readers build that form directly (parquet integer ids never become ``N`` Python
    strings); ``users``/``items`` are then made from it when first asked for.
    """

    def __init__(
        self,
        users: Any,
        items: Any,
        ratings: np.ndarray | None = None,
        timestamps: np.ndarray | None = None,
        lines: np.ndarray | None = None,
        source: str = "<memory>",
        format: str = "",
        empty_users: list[tuple[str, int]] | None = None,
        header: list[str] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self._str: dict[str, np.ndarray | None] = {}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        self.users = users
        self.items = items
        self.ratings = ratings
        self.timestamps = timestamps
        self.lines = lines
        self.source = source
        self.format = format
        self.empty_users = [] if empty_users is None else empty_users
        self.header = header
        self.notes = [] if notes is None else notes
        self._check()

    @classmethod
    def from_codes(
        cls,
        users: tuple[np.ndarray, np.ndarray] | Any,
        items: tuple[np.ndarray, np.ndarray] | Any,
        **kwargs: Any,
    ) -> "RawInteractions":
        """Rows given as ``(codes int[N], distinct raw ids object[U] of str)`` per role (codes
        numbering the ids in order of first appearance, as ``pd.factorize`` does), or as raw
        ids (any sequence, as for the constructor)."""
        self = cls.__new__(cls)
        self._str, self._codes = {"user": None, "item": None}, {}
        for role, ids in (("user", users), ("item", items)):
            if isinstance(ids, tuple):
                codes, uniques = ids
                self._codes[role] = (np.asarray(codes, dtype=np.int64).reshape(-1),
                                     np.asarray(uniques, dtype=object).reshape(-1))
            else:
                self._set_strings(role, ids)
        self.ratings = kwargs.pop("ratings", None)
        self.timestamps = kwargs.pop("timestamps", None)
        self.lines = kwargs.pop("lines", None)
        self.source = kwargs.pop("source", "<memory>")
        self.format = kwargs.pop("format", "")
        self.empty_users = kwargs.pop("empty_users", None) or []
        self.header = kwargs.pop("header", None)
        self.notes = kwargs.pop("notes", None) or []
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        self._check()
        return self

    def _check(self) -> None:
        n = len(self)
        if self._length("item") != n:
            raise ValueError("users and items must have the same length")
        if self.lines is None:
            self.lines = np.arange(1, n + 1, dtype=np.int64)
        for name in ("ratings", "timestamps", "lines"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.asarray(arr)
                exact = name == "lines" or (name == "timestamps" and arr.dtype.kind in "iu" and _fits_int64(arr))
                arr = arr.astype(np.int64 if exact else np.float64, copy=False)
                if arr.shape != (n,):
                    raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
                setattr(self, name, arr)

    def _length(self, role: str) -> int:
        s = self._str.get(role)
        return int(s.shape[0]) if s is not None else int(self._codes[role][0].shape[0])  # type: ignore[index]

    def _strings(self, role: str) -> np.ndarray:
        s = self._str.get(role)
        if s is None:
            codes, uniques = self._codes[role]  # type: ignore[misc]
            s = self._str[role] = uniques[codes]
        return s

    def _set_strings(self, role: str, values: Any) -> None:
        self._str[role] = _as_str_array(values)
        self._codes[role] = None

    users = property(lambda self: self._strings("user"), lambda self, v: self._set_strings("user", v),
                     doc="``object[N]`` raw user ids (``str``).")
    items = property(lambda self: self._strings("item"), lambda self, v: self._set_strings("item", v),
                     doc="``object[N]`` raw item ids (``str``).")

    def id_codes(self, role: str, release: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(int64[N] codes, object[U] distinct raw ids)`` of ``role`` (``"user"``/``"item"``),
        numbered by first appearance: ``pd.factorize(raw.users)``. ``release``: drop the
        ``object[N]`` array of raw ids if one is held (it is rebuilt on demand)."""
        c = self._codes.get(role)
        if c is None:
            codes, uniques = pd.factorize(self._str[role])
            c = self._codes[role] = (codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object))
        if release:
            self._str[role] = None
        return c

    def __len__(self) -> int:
        return self._length("user")

    def __repr__(self) -> str:
        return (f"RawInteractions({len(self)} rows, source={self.source!r}, format={self.format!r}, "
                f"ratings={self.ratings is not None}, timestamps={self.timestamps is not None})")

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with columns user, item[, rating][, timestamp], line."""
        d: dict[str, Any] = {"user": self.users, "item": self.items}
        if self.ratings is not None:
            d["rating"] = self.ratings
        if self.timestamps is not None:
            d["timestamp"] = self.timestamps
        d["line"] = self.lines
        return pd.DataFrame(d)


def _fits_int64(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "i" or not arr.size or int(arr.max()) < 2**63


def _as_str_array(values: Any) -> np.ndarray:
    """``object[N]`` of ``str``. Each value is converted on its own: numpy would first coerce a
    list mixing ``True`` and ``2`` to integers (``"1"``, ``"2"``)."""
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values.reshape(-1).astype(str).astype(object)
    if isinstance(values, (pd.Series, pd.Index)):
        values = values.to_numpy(dtype=object)
    if isinstance(values, np.ndarray):
        values = values.reshape(-1)
        # all str (in C; ``all(type(x) is str ...)`` was a Python loop over every value)
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            return values
    elif isinstance(values, (str, bytes)):
        values = [values]
    return np.array([x if type(x) is str else str(x) for x in values], dtype=object)


# --------------------------------------------------------------------------------------------
# format names and detection
# --------------------------------------------------------------------------------------------


def canonical_format(format: str | None, path: str | Path | None = None) -> str | None:
    """``format`` as one of ``FORMATS`` (aliases accepted); ``None`` stays ``None``."""
    if format is None:
        return None
    f = str(format).strip().lower()
    f = FORMAT_ALIASES.get(f, f)
    if f not in FORMATS:
        raise DataError(f"unknown format {format!r} (known: {', '.join(FORMATS)})", path)
    return f


@dataclass
class _Sniff:
    format: str
    delimiter: str | None  # None: runs of whitespace
    header: list[str] | None = None
    header_line: int = 0  # 1-based line of the header, 0 if none
    colon: bool = False  # ``user: item item`` form
    third_is_time: bool = False  # headerless 3-column triples whose 3rd column is a timestamp
    ncols: int = 0  # triples without a header: fields per line (what most lines have)
    notes: list[str] = field(default_factory=list)


# Detection is decided by what the large majority of the sampled lines agree on; a line that
# does not fit the detected shape is then an error at that line, never a reason to read the
# whole file another way.
_MAJORITY = 0.9
_DELIM_NAME = {None: "spaces", "\t": "tabs", ",": "commas"}
# what str.split() takes as whitespace besides " ", "\t", "\n", "\r"
_ODD_SPACE = re.compile("[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


_TYPE_SUFFIX = re.compile(r":(token|token_seq|float|float_seq)$", re.IGNORECASE)


def _norm_name(name: Any) -> str:
    """Lower case, quotes, an atomic ``:type`` suffix, spaces, ``_``, ``-`` and ``.`` dropped
    (``user:1`` keeps its ``:1``: an id, not a typed column name)."""
    s = _TYPE_SUFFIX.sub("", str(name).strip().strip("\"'")).lower()
    return re.sub(r"[\s_\-.]", "", s)


def _show(value: Any, limit: int = 40) -> str:
    """``repr`` of a token for a message, cut to ``limit`` characters."""
    s = str(value)
    return repr(s if len(s) <= limit else s[:limit] + "...")


def _names(names: list[str], limit: int = 12) -> str:
    shown = [_show(n)[1:-1] for n in names[:limit]]
    return ", ".join(shown + ([f"... ({len(names)} columns)"] if len(names) > limit else []))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _is_int_token(s: str) -> bool:
    return s.isascii() and (s.isdigit() or (s[:1] == "-" and s[1:].isdigit()))


def _is_epoch(s: str) -> bool:
    return _is_int_token(s) and s[:1] != "-" and float(s) >= _EPOCH_MIN


def _sample(lines: list[str], limit: int = _SAMPLE_LINES, chars: int = _SAMPLE_CHARS) -> list[tuple[int, str]]:
    """First non-blank, non-comment lines as ``(1-based line, text)`` within a line/char budget."""
    out: list[tuple[int, str]] = []
    used = 0
    for i, line in enumerate(lines):
        s = line.strip()
        if not s or s[0] == "#":
            continue
        out.append((i + 1, line))
        used += len(line)
        if len(out) >= limit or used >= chars:
            break
    return out


def _fields(line: str, delim: str | None, path: str = "", lineno: int = 0) -> list[str]:
    """Fields of a line: whitespace runs (``delim=None``), else split on ``delim`` (CSV quoting
    when a comma separated line has quotes), stripped, trailing empty fields dropped."""
    if delim is None:
        return line.split()
    if delim == "," and '"' in line:
        try:
            parts = next(csv.reader([line]))
        except (csv.Error, StopIteration) as e:
            raise DataError(f"bad CSV quoting ({e}), expected comma separated fields", path, lineno) from None
    else:
        parts = line.split(delim)
    parts = [p.strip() for p in parts]
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _looks_like_header(first: list[str], rest: list[list[str]]) -> bool:
    """A first line is a header if it names known columns, or if none of its fields is a number
    and a column that is numeric in every following line is not numeric in it."""
    if not first:
        return False
    known = sum(_norm_name(f) in _ALIAS_TO_ROLE for f in first[:4])
    if known >= 1 and not all(_is_number(f) for f in first[:2]):
        # "user item ..." or "userId,movieId,..."; a data line "u 5" has no known *pair*
        if known >= 2 or _norm_name(first[0]) in _ALIAS_TO_ROLE:
            return True
    if not rest or len(first) < 2 or any(_is_number(f) for f in first):
        return False
    probe = rest[:200]
    for col in range(min(len(first), 4)):
        vals = [r[col] for r in probe if len(r) > col]
        if vals and all(_is_number(v) for v in vals):
            return True
    return False


def _is_colon_line(line: str) -> bool:
    """``user: item item ...``: the first token holds the only ``:`` (no tabs, no commas in it)."""
    head, sep, rest = line.partition(":")
    return bool(sep) and "\t" not in line and not any(c.isspace() or c == "," for c in head.strip()) \
        and ":" not in rest


def _pick_delimiter(sample: list[tuple[int, str]], path: str) -> str | None:
    """Tab or comma when the large majority of lines with several fields have it, whitespace
    when few have a comma; a DataError (mixed delimiters) otherwise."""
    multi = [(no, ln) for no, ln in sample if "," in ln or len(ln.split()) > 1]
    n = len(multi)
    if not n:
        return None
    tabs = [no for no, ln in multi if "\t" in ln]
    commas = [no for no, ln in multi if "," in ln]
    if len(tabs) >= _MAJORITY * n:
        return None if _tab_then_spaces(multi) else "\t"
    if len(commas) >= _MAJORITY * n:
        return ","
    if len(commas) <= (1 - _MAJORITY) * n:
        if len(tabs) > (1 - _MAJORITY) * n:
            # tabs and spaces both separate fields: fine unless a tab separated field has spaces
            for no, ln in multi:
                if "\t" in ln and any(len(f.split()) > 1 for f in ln.split("\t")):
                    raise DataError(
                        f"a tab separated field with spaces inside, in a file where {n - len(tabs)} of {n} "
                        "lines have no tab, expected one delimiter throughout", path, no)
        return None
    minority = commas if len(commas) < n / 2 else [no for no, ln in multi if "," not in ln]
    what = "a ',' separated line" if len(commas) < n / 2 else "a line without ','"
    raise DataError(
        f"{what} where {len(commas)} of {n} lines are comma separated (mixed delimiters), "
        "expected one delimiter throughout", path, minority[0])


def _tab_then_spaces(lines: list[tuple[int, str]]) -> bool:
    """Lines like ``user<TAB>item rating``: a tab and spaces both separate fields. True when the
    large majority of tab lines has a tab separated field with spaces inside and every line has
    the same number of whitespace separated fields (else a field with spaces is an error at its
    line, never part of an id)."""
    with_tabs = [ln for _, ln in lines if "\t" in ln]
    spaced = sum(any(len(f.split()) > 1 for f in ln.split("\t")) for ln in with_tabs)
    return spaced >= _MAJORITY * len(with_tabs) and len({len(ln.split()) for _, ln in lines}) == 1


def _sniff(lines: list[str], path: str, format: str | None = None, strict: bool = True) -> _Sniff:
    """Decide format, delimiter and header of a text file from its first lines."""
    sample = _sample(lines)
    if not sample:
        raise DataError("file is empty", path)
    first_line, first = sample[0]
    tab_fields = first.rstrip("\n").split("\t")
    is_atomic_header = len(tab_fields) >= 2 and all(_ATOMIC_FIELD.match(f.strip()) for f in tab_fields)
    if is_atomic_header and format in (None, "atomic"):
        return _Sniff("atomic", "\t", header=[f.strip() for f in tab_fields], header_line=first_line)
    if format == "atomic":
        raise DataError(
            "not an atomic file: the first line must be a tab separated 'name:type' header", path, first_line
        )

    if sum(_is_colon_line(ln) for _, ln in sample) >= _MAJORITY * len(sample):
        if format not in (None, "lists"):
            raise DataError(f"the 'user: item item ...' form is the lists format, not {format}", path, first_line)
        return _Sniff("lists", None, colon=True)

    delim = _pick_delimiter(sample, path)
    rows = [(no, _fields(ln, delim, path, no)) for no, ln in sample]
    has_header = _looks_like_header(rows[0][1], [r for _, r in rows[1:]])
    header = rows[0][1] if has_header else None
    data = rows[1:] if has_header else rows
    sn = _Sniff("triples", delim, header=header, header_line=first_line if has_header else 0)

    # one-field lines fit lists (a user without items) and are errors in triples: not evidence
    counts = [len(r) for _, r in data if len(r) > 1]
    n = len(counts)
    hist: dict[int, int] = {}
    for c in counts:
        hist[c] = hist.get(c, 0) + 1
    order = list(hist)  # first appearance breaks ties
    k_star = max(hist, key=lambda k: (hist[k], -order.index(k))) if hist else 0
    share = hist.get(k_star, 0) / n if n else 0.0

    if format == "lists" and strict:
        _refuse_triples_as_lists(header, sn.header_line, data, k_star, share, path)
    if format is not None:
        sn.format = format
    elif not data or delim == ",":
        sn.format = "triples"  # a lists file has no commas
    elif header is not None:
        h = len(header)
        longer = sum(c > h for c in counts)
        sn.format = "lists" if h <= 2 and longer > (1 - _MAJORITY) * n else "triples"
    else:
        users = [r[0] for _, r in data if len(r) > 1]
        repeat = len(users) - len(set(users))
        floaty = any(
            len(r) > c and not _is_int_token(r[c]) and _is_number(r[c]) for _, r in data[:500] for c in (2, 3)
        )
        tripleish = 2 <= k_star <= 4 and (
            (share >= _MAJORITY and (delim == "\t" or repeat > 0 or floaty))
            or (share >= 0.5 and repeat >= 0.5 * n)
        )
        sn.format = "triples" if tripleish else "lists"

    if sn.format == "triples" and header is None and data:
        if not 2 <= k_star <= 4:
            no, r = next(((no, r) for no, r in data if not 2 <= len(r) <= 4), data[0])
            raise DataError(f"expected 2 to 4 fields (user item [rating] [timestamp]), got {len(r)}", path, no)
        sn.ncols = k_star
        if k_star == 3:
            vals = [r[2] for _, r in data[:500] if len(r) == 3]
            sn.third_is_time = bool(vals) and sum(map(_is_epoch, vals)) >= _MAJORITY * len(vals)
    return sn


def _refuse_triples_as_lists(
    header: list[str] | None, header_line: int, data: list[tuple[int, list[str]]], k_star: int, share: float,
    path: str,
) -> None:
    """``format='lists'`` forced on what reads as triples: a header naming rating or timestamp
    columns, or most lines with the same 2 to 4 fields whose users come back on later lines (a
    lists file has one line per user). Read as lists, its ratings and times would become items."""
    if header is not None:
        named = [f for f in header if _ALIAS_TO_ROLE.get(_norm_name(f)) in ("rating", "timestamp")]
        if named:
            raise DataError(f"format 'lists' was forced, but the header names a {_show(named[0])} column: "
                            "a triples file (drop --format, or pass --format triples)", path, header_line)
        return
    if not (2 <= k_star <= 4 and share >= _MAJORITY):
        return
    first: dict[str, int] = {}
    repeats = []
    for no, r in data:
        if len(r) > 1 and r[0] in first:
            repeats.append((no, r[0]))
        elif len(r) > 1:
            first[r[0]] = no
    if len(repeats) >= 0.5 * len(first) and repeats:
        no, u = repeats[0]
        raise DataError(f"format 'lists' was forced, but this reads as a triples file: user {_show(u)} is on line "
                        f"{first[u]} and again here, and most lines have {k_star} fields (user item [rating] "
                        "[timestamp]); drop --format, or pass --format triples", path, no)


def detect_format(source: str | Path | pd.DataFrame) -> str:
    """Format name (one of ``FORMATS``) of a file or DataFrame, decided from content.

    Only the beginning of a text file is read (about 256 KiB; gzip files are decompressed).
    """
    if isinstance(source, pd.DataFrame):
        return "dataframe"
    path = Path(source)
    try:
        if input_kind(path) == "folder":
            raise DataError("is a folder; detect_format takes a file (see describe_datasets)", path)
        if _is_parquet(path):
            return "parquet"
        data = _read_bytes(path, max_bytes=_SAMPLE_CHARS)
        if data[:4] == _PARQUET_MAGIC:
            return "parquet"
        lines = _text_lines(data, path, prefix=len(data) == _SAMPLE_CHARS)
        return _sniff(lines, str(path)).format
    except DataError as e:
        raise _one_line(e) from None


_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_ARCHIVES = ((b"PK\x03\x04", "zip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def _one_line(e: DataError) -> DataError:
    """``e``, or the same error with line breaks in its problem escaped."""
    if len(str(e).splitlines()) <= 1 and "\n" not in str(e) and "\r" not in str(e):
        return e
    problem = "".join(c if len(("x" + c + "x").splitlines()) == 1 else repr(c)[1:-1] for c in e.problem)
    return DataError(problem, e.path, e.line)


_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


def input_kind(path: str | Path, missing: str = "no such file") -> str:
    """``"file"`` (a regular file) or ``"folder"``; anything else is a one-line DataError that says
    what it is: ``missing`` when nothing is there, a symbolic link loop, a FIFO, a device or a
    socket (reading one would block or never end)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DataError("symbolic link loop", path) from None
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise DataError(missing, path) from None
        raise DataError(f"cannot read file ({e.strerror})", path) from None
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file or folder")
    raise DataError(f"not a regular file ({what}); pass a data file or a folder of them", path)


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == _PARQUET_MAGIC
    except FileNotFoundError:
        raise DataError("no such file", path) from None
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", path) from None


def _read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """Content of a file, decompressed when it is gzip (magic bytes); ``max_bytes``: a prefix."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(0)
            if head[:2] == _GZIP_MAGIC:
                try:
                    with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                        return gz.read() if max_bytes is None else gz.read(max_bytes)
                except (OSError, EOFError, zlib.error) as e:
                    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                    raise DataError(f"not a readable gzip file ({msg})", path) from None
            if path.name.lower().endswith(".gz"):
                raise DataError("named .gz but not gzip data (no gzip magic bytes)", path)
            for magic, kind in _OTHER_ARCHIVES:
                if head.startswith(magic) and (kind != "bzip2" or head[3:4] in b"123456789"):
                    raise DataError(f"a {kind} archive; decompress it first (gzip files are read directly)", path)
            return fh.read() if max_bytes is None else fh.read(max_bytes)
    except FileNotFoundError:
        raise DataError("no such file", path) from None
    except OSError as e:
        raise DataError(f"cannot read file ({e.strerror})", path) from None


def _line_at(data: bytes, pos: int) -> int:
    """1-based line of byte ``pos`` (any of CRLF, LF, CR ends a line)."""
    return data[:pos].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


def _text_lines(data: bytes, path: Path, prefix: bool = False) -> list[str]:
    """Lines of UTF-8 text (BOM dropped, universal newlines); ``prefix``: ``data`` is the start
    of a longer file, its last partial line is dropped."""
    if prefix:
        cut = data.rfind(b"\n")
        if cut > 0:
            data = data[:cut]
    if not data.strip():
        raise DataError("file is empty", path)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError("not a text file (it contains NUL bytes)", path, _line_at(data, nul))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if prefix and e.start >= len(data) - 3 and e.reason == "unexpected end of data":
            text = data[: e.start].decode("utf-8-sig")  # a character cut by the prefix
        else:
            raise DataError(f"not UTF-8 text (byte 0x{data[e.start]:02x})", path, _line_at(data, e.start)) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


# --------------------------------------------------------------------------------------------
# column roles
# --------------------------------------------------------------------------------------------


def _resolve_roles(
    names: list[str], columns: Mapping[str, Any] | None, path: str, line: int | None, positional_ok: bool
) -> dict[str, int]:
    """Map roles (user/item/rating/timestamp) to column positions from names and ``columns``."""
    roles: dict[str, int] = {}
    normed = [_norm_name(n) for n in names]
    given = dict(columns or {})
    for key in given:
        if key not in ROLES:
            raise DataError(f"unknown column role {key!r} in columns= (roles: {', '.join(ROLES)})", path)
    for role, want in given.items():
        if want is None:
            continue
        if isinstance(want, (int, np.integer)) and not isinstance(want, bool):
            if not 0 <= int(want) < len(names):
                raise DataError(f"column {int(want)} for {role} is out of range ({len(names)} columns)", path, line)
            roles[role] = int(want)
            continue
        if str(want) in names:
            roles[role] = names.index(str(want))
        elif _norm_name(want) in normed:
            roles[role] = normed.index(_norm_name(want))
        else:
            raise DataError(
                f"no column named {_show(want)} for {role} (columns: {_names(names)})", path, line
            )
    taken = set(roles.values())
    for pos, n in enumerate(normed):
        role = _ALIAS_TO_ROLE.get(n)
        if role is None or role in roles or role in given or pos in taken:
            continue
        roles[role] = pos
        taken.add(pos)
    if "user" not in roles or "item" not in roles:
        recognised = any(n in _ALIAS_TO_ROLE for n in normed)
        if positional_ok and not recognised and not given and 2 <= len(names) <= 4:
            return {r: i for i, r in enumerate(ROLES[: len(names)])}
        missing = "user" if "user" not in roles else "item"
        raise DataError(
            f"cannot tell which column holds {missing} ids (columns: {_names(names)}); "
            f"name it with columns={{'{missing}': ...}}",
            path,
            line,
        )
    return roles


# --------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------


def read_interactions(
    source: str | Path | pd.DataFrame,
    format: str | None = None,
    columns: Mapping[str, Any] | None = None,
    *,
    strict_format: bool = True,
) -> RawInteractions:
    """Read a file or DataFrame into a :class:`RawInteractions` (rows in file order).

    Text files may be gzip compressed (detected from the magic bytes). Ids are kept as the raw
    strings of the file.

    Args:
        source: a file path or a ``pandas.DataFrame``.
        format: force a format (one of ``FORMATS`` or an alias); ``None`` detects it from content.
        columns: roles to column names (or 0-based positions), e.g. ``{"user": "uid",
            "item": "sku", "rating": None}``; for triples/atomic/parquet/DataFrames.
        strict_format: a forced ``format='lists'`` is refused on content that reads as triples
            (False: the format is the train file's, and a test file of ``user item`` lines is
            fine as lists).

    Raises:
        DataError: ``FILE:LINE: problem`` for any bad input, including a line that does not fit
            the format detected from the large majority of lines.
    """
    try:
        return _read_interactions(source, format, columns, strict_format)
    except DataError as e:
        raise _one_line(e) from None


def _read_interactions(
    source: str | Path | pd.DataFrame, format: str | None, columns: Mapping[str, Any] | None, strict: bool
) -> RawInteractions:
    if isinstance(source, pd.DataFrame):
        fmt = canonical_format(format, "<dataframe>")
        if fmt not in (None, "dataframe"):
            raise DataError(f"a DataFrame is read as format 'dataframe', not {fmt!r}", "<dataframe>")
        return _read_frame(source, "<dataframe>", "dataframe", columns)
    path = Path(source)
    fmt = canonical_format(format, path)
    if input_kind(path) == "folder":
        raise DataError("is a folder; use load_dataset for folders", path)
    if fmt == "dataframe":
        raise DataError("format 'dataframe' needs a pandas DataFrame, not a file", path)
    if fmt == "parquet" or (fmt is None and _is_parquet(path)):
        return _read_parquet(path, columns)
    data = _read_bytes(path)
    if fmt in (None, "parquet") and data[:4] == _PARQUET_MAGIC:  # gzip compressed parquet
        return _read_parquet(path, columns, data)
    lines = _text_lines(data, path)
    del data
    sn = _sniff(lines, str(path), fmt, strict)
    if sn.format == "lists":
        raw = _read_lists(lines, str(path), sn)
    else:
        raw = _read_triples(lines, str(path), sn, columns)
    raw.notes[:0] = sn.notes
    return raw


def _lists_shape(delim: str | None) -> str:
    return f"'user item item ...' separated by {_DELIM_NAME[delim]}"


def _read_lists(lines: list[str], path: str, sn: _Sniff) -> RawInteractions:
    users: list[str] = []
    counts: list[int] = []
    lns: list[int] = []
    items: list[str] = []
    empty: list[tuple[str, int]] = []
    delim, colon = sn.delimiter, sn.colon
    shape = _lists_shape(delim)
    for idx in range(sn.header_line, len(lines)):
        line = lines[idx]
        if colon:
            head, sep, rest = line.partition(":")
            if not sep:
                s = line.strip()
                if not s or s[0] == "#":
                    continue
                raise DataError("no ':' in this line, expected 'user: item item ...'", path, idx + 1)
            u = head.strip()
            if u[:1] == "#":
                continue
            if any(c.isspace() or c == "," for c in u):
                raise DataError(f"{'a space' if ',' not in u else 'a comma'} in the user id {_show(u)}, "
                                "expected 'user: item item ...'", path, idx + 1)
            parts = rest.replace(",", " ").split()
        else:
            if delim is None:
                parts = line.split()
            else:
                parts = [p.strip() for p in line.split(delim)]
                parts = [p for p in parts if p]
            if not parts or parts[0][0] == "#":
                continue
            if delim != "," and "," in line:
                raise DataError(f"',' in a lists file, expected {shape}", path, idx + 1)
            if delim == "\t" and len(line.split()) != len(parts):
                raise DataError(f"a field with spaces inside, expected {shape}", path, idx + 1)
            u = parts[0]
            if u[-1] == ":":  # "user: item ..." line in a file mostly without colons
                u = u[:-1]
            parts = parts[1:]
        if not u:
            raise DataError("empty user id", path, idx + 1)
        if parts:
            users.append(u)
            counts.append(len(parts))
            lns.append(idx + 1)
            items.extend(parts)
        else:
            empty.append((u, idx + 1))
    if not items:
        raise DataError("no interactions (no line lists an item)", path)
    notes = []
    if sn.header_line:
        notes.append(f"{path}: skipped header line {sn.header_line}")
    # codes, not 10M str objects, once read: a user's code repeated over its line's items is
    # the code ``pd.factorize`` gives the repeated ids (every line has >= 1 item)
    cnt = np.array(counts, dtype=np.int64)
    del counts
    ucodes, uuniq = pd.factorize(np.array(users, dtype=object))
    del users
    items_arr = np.array(items, dtype=object)
    del items
    icodes, iuniq = pd.factorize(items_arr)
    del items_arr
    return RawInteractions.from_codes(
        (np.repeat(ucodes.astype(np.int64, copy=False), cnt), uuniq),
        (icodes, iuniq),
        lines=np.repeat(np.array(lns, dtype=np.int64), cnt),
        source=path,
        format="lists",
        empty_users=empty,
        header=sn.header,
        notes=notes,
    )


def _read_triples(lines: list[str], path: str, sn: _Sniff, columns: Mapping[str, Any] | None) -> RawInteractions:
    delim = sn.delimiter
    start = sn.header_line  # index of the first line after the header (0 if none)
    if sn.header is not None:
        names = sn.header
        ncols = len(names)
        roles = _resolve_roles(names, columns, path, sn.header_line, positional_ok=sn.format == "triples")
    else:
        ncols = sn.ncols
        if not 2 <= ncols <= 4:  # pragma: no cover - _sniff decides ncols in 2..4
            raise DataError(f"expected 2 to 4 fields (user item [rating] [timestamp]), got {ncols}", path)
        names = list(ROLES[:ncols])
        if sn.third_is_time and ncols == 3:
            names[2] = "timestamp"
        roles = {r: i for i, r in enumerate(names)}
        if columns:
            roles = _resolve_roles(names, columns, path, None, positional_ok=True)
    iu, ii = roles["user"], roles["item"]
    ir, it = roles.get("rating"), roles.get("timestamp")
    expect = " ".join(names) if sn.header is None else f"{ncols} columns of the header"
    sep_name = _DELIM_NAME[delim]

    fast = _fast_columns(lines, start, delim, ncols)
    if fast is not None:
        cols, lns = fast
        notes = []
        if sn.header is not None and sn.format == "triples":
            notes.append(f"{path}: header line {sn.header_line} ({' '.join(sn.header)})")
        return RawInteractions(
            users=cols[iu],
            items=cols[ii],
            ratings=None if ir is None else _to_float(list(cols[ir]), lns, "rating", path),
            timestamps=None if it is None else _to_time(list(cols[it]), lns, path),
            lines=lns,
            source=path,
            format=sn.format,
            header=sn.header,
            notes=notes,
        )

    U: list[str] = []
    I: list[str] = []
    R: list[str] = []
    T: list[str] = []
    L: list[int] = []
    for idx in range(start, len(lines)):
        line = lines[idx]
        if not line or line.isspace():
            continue
        if line.lstrip()[:1] == "#":
            continue
        if delim is None and "," in line:
            raise DataError(f"',' in a space separated file, expected {ncols} fields ({expect})", path, idx + 1)
        parts = _fields(line, delim, path, idx + 1)
        if len(parts) != ncols:
            foreign = [d for d in ("\t", ",") if d != delim and d in line and not (delim is None and d == "\t")]
            hint = f"a line with {_DELIM_NAME[foreign[0]]} in a file separated by {sep_name}: " if foreign else ""
            raise DataError(f"{hint}expected {ncols} fields ({expect}), got {len(parts)}", path, idx + 1)
        u, i = parts[iu], parts[ii]
        if not u or not i:
            raise DataError(f"empty {'user' if not u else 'item'} id", path, idx + 1)
        if delim == "\t" and (len(u.split()) > 1 or len(i.split()) > 1):
            raise DataError(f"an id with spaces inside ({_show(u if len(u.split()) > 1 else i)}) in a tab separated "
                            "file: ids hold no spaces (a tab, then a space, between two fields?)", path, idx + 1)
        U.append(u)
        I.append(i)
        if ir is not None:
            R.append(parts[ir])
        if it is not None:
            T.append(parts[it])
        L.append(idx + 1)
    if not U:
        raise DataError("no interactions (only a header)" if sn.header else "no interactions", path)
    lns = np.array(L, dtype=np.int64)
    notes = []
    if sn.header is not None and sn.format == "triples":
        notes.append(f"{path}: header line {sn.header_line} ({' '.join(sn.header)})")
    return RawInteractions(
        users=np.array(U, dtype=object),
        items=np.array(I, dtype=object),
        ratings=None if ir is None else _to_float(R, lns, "rating", path),
        timestamps=None if it is None else _to_time(T, lns, path),
        lines=lns,
        source=path,
        format=sn.format,
        header=sn.header,
        notes=notes,
    )


def _fast_columns(
    lines: list[str], start: int, delim: str | None, ncols: int
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Columns (``object[N]`` of str each) parsed by pandas' C reader, or ``None`` when the
    body is irregular (blank or comment lines, quotes, missing or extra fields, a character the
    line-by-line parser treats differently): the caller then parses line by line, which reports
    the exact problem."""
    end = len(lines)
    while end > start and not lines[end - 1].strip():
        end -= 1
    if end - start < 1000:  # not worth it
        return None
    text = "\n".join(lines[start:end])
    if '"' in text or "#" in text:  # quotes or comments: leave them to the careful parser
        return None
    if delim is None and ("," in text or _ODD_SPACE.search(text)):
        return None
    if delim == "\t" and (" " in text or _ODD_SPACE.search(text)):  # an id with spaces is an error
        return None
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=r"\s+" if delim is None else delim, header=None, dtype=str,
            na_filter=False, engine="c", quoting=csv.QUOTE_NONE, skip_blank_lines=False,
        )
    except Exception:
        return None
    if df.shape != (end - start, ncols):
        return None
    cols = []
    for c in range(ncols):
        col = df.iloc[:, c]
        if delim is not None:
            col = col.str.strip()
        if (col.str.len() == 0).any():
            return None
        cols.append(col.to_numpy(dtype=object))
    return cols, np.arange(start + 1, end + 1, dtype=np.int64)


def _to_time(values: list[str], lines: np.ndarray, path: str) -> np.ndarray:
    """Timestamps: ``int64[N]`` when every value is an integer that fits (exact: float64 ties
    integers above 2**53, and the latest interaction must stay the latest), else ``float64[N]``."""
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        return _to_float(values, lines, "timestamp", path)


def _to_float(values: list[str], lines: np.ndarray, what: str, path: str) -> np.ndarray:
    """``float64[N]`` from strings; the first bad value raises ``DataError`` at its line."""
    try:
        arr = np.array(values, dtype=np.float64)
    except ValueError:
        for k, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise DataError(f"{what} {_show(v.strip())} is not a number", path, int(lines[k])) from None
        raise  # pragma: no cover
    bad = ~np.isfinite(arr)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(f"{what} {_show(values[k].strip())} is not a finite number", path, int(lines[k]))
    return arr


def _read_parquet(path: Path, columns: Mapping[str, Any] | None, data: bytes | None = None) -> RawInteractions:
    """A parquet file (``data``: its content, already decompressed), gzip compressed or not.

    Only the columns that take a role are read, one at a time, with pyarrow; integer and string
    id columns become codes without a Python object per row (see :class:`_ParquetColumns`).
    A file that pyarrow cannot describe that way is read whole by ``pd.read_parquet``."""
    if data is None:
        try:
            with open(path, "rb") as fh:
                gz = fh.read(2) == _GZIP_MAGIC
        except OSError as e:
            raise DataError(f"cannot read file ({e.strerror})", path) from None
        if gz:
            data = _read_bytes(path)
    table = _ParquetColumns.open(path, data)
    if table is not None:
        try:
            return _read_table(table, str(path), "parquet", columns)
        except DataError:
            raise
        except Exception:  # a column pyarrow reads differently than pandas: the whole-file path decides
            pass
        finally:
            _release_arrow_memory()
        del table
    try:
        df = pd.read_parquet(path if data is None else io.BytesIO(data))
    except Exception as e:  # pyarrow raises many types
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"cannot read parquet ({msg})", path) from None
    return _read_frame(df, str(path), "parquet", columns)


def _release_arrow_memory() -> None:
    """Give the memory pyarrow's allocator keeps cached after reading columns back to the system
    (about 250 MB after a 10M-row file)."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an allocator without it
        pass


class _FrameColumns:
    """Columns of a DataFrame, by position."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.names = [str(c) for c in df.columns]
        self.n_rows = len(df)

    def series(self, pos: int) -> pd.Series:
        return self.df.iloc[:, pos]

    def id_codes(self, pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        return None


class _ParquetColumns:
    """Columns of a parquet file, read one at a time.

    ``names`` are the column labels ``pd.read_parquet`` gives (index columns left out);
    ``series(pos)`` is the column as ``pd.read_parquet(columns=[...])`` gives it;
    ``id_codes(pos)`` reads an integer or string column with pyarrow straight to codes.
    """

    def __init__(self, pf: Any, path: Path, data: bytes | None, names: list[str], fields: list[str]):
        self.pf, self.path, self.data = pf, path, data
        self.names, self.fields = names, fields
        self.n_rows = int(pf.metadata.num_rows)
        self.dtypes: list[Any] = []

    @classmethod
    def open(cls, path: Path, data: bytes | None) -> "_ParquetColumns | None":
        """``None`` when the file needs the whole-file path (unreadable, duplicate or renamed
        columns: that path gives the error or the answer)."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path if data is None else pa.BufferReader(data))
            schema = pf.schema_arrow
            empty = schema.empty_table().to_pandas()  # labels and dtypes as pandas makes them
            meta = schema.pandas_metadata or {}
            index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
            fields = [f.name for f in schema if f.name not in index]
            names = [str(c) for c in empty.columns]
            if len(set(fields)) != len(fields) or names != fields:
                return None
            t = cls(pf, path, data, names, fields)
            t.dtypes = list(empty.dtypes)
            return t
        except Exception:
            return None

    def series(self, pos: int) -> pd.Series:
        src = self.path if self.data is None else io.BytesIO(self.data)
        return pd.read_parquet(src, columns=[self.fields[pos]]).iloc[:, 0]

    def id_codes(self, pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(int64 codes, distinct ids, bool[U] empty)``, distinct ids numbered by first
        appearance (as strings: ``object`` of ``str``), for an integer or string column without
        nulls; ``None`` for other columns."""
        import pyarrow as pa
        import pyarrow.compute as pc

        dt = self.dtypes[pos]
        ftype = self.pf.schema_arrow.field(self.fields[pos]).type
        if pa.types.is_integer(ftype) and isinstance(dt, np.dtype) and dt.kind in "iu":
            col = _read_column(self.pf, self.fields[pos])
            if col.null_count:
                return None
            codes, uniques = pd.factorize(col.to_numpy())
            del col
            return codes.astype(np.int64, copy=False), uniques.astype(str).astype(object), np.zeros(0, dtype=bool)
        if (pa.types.is_string(ftype) or pa.types.is_large_string(ftype)) and \
                (dt == object or isinstance(dt, pd.StringDtype)):
            col = _read_column(self.pf, self.fields[pos])
            if col.null_count:
                return None
            enc = pc.dictionary_encode(col.combine_chunks() if col.num_chunks != 1 else col.chunk(0))
            del col
            dictionary = enc.dictionary
            codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            del enc
            # numpy's str_len, which the DataFrame path uses, does not see trailing NULs
            empty = pc.equal(pc.utf8_length(pc.utf8_trim(dictionary, "\x00")), 0).to_numpy(zero_copy_only=False)
            return codes, dictionary.to_numpy(zero_copy_only=False).astype(object), empty
        return None


def _read_column(pf: Any, field: str) -> Any:
    """One column of a ``pyarrow.parquet.ParquetFile`` as a ``pyarrow.ChunkedArray``."""
    return pf.read(columns=[field]).column(0)


def _series_ids(col: pd.Series, role: str, source: str) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw ids of a column: ``object[N]`` of ``str``, or, for integer, integral float and string
    columns, ``(int64 codes, distinct ids as str, bool[U] empty)`` (the same ids, by first
    appearance). Raises for a missing id."""
    missing = col.isna().to_numpy()
    if missing.any():
        raise DataError(f"missing {role} id", source, int(np.flatnonzero(missing)[0]) + 1)
    none = np.zeros(0, dtype=bool)
    if pd.api.types.is_float_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64)
        if np.all(v == np.round(v)):
            codes, uniques = pd.factorize(v.astype(np.int64))
            return codes.astype(np.int64, copy=False), uniques.astype(str).astype(object), none
    dt = col.dtype
    if isinstance(dt, np.dtype) and dt.kind in "iu":
        codes, uniques = pd.factorize(col.to_numpy())
        return codes.astype(np.int64, copy=False), uniques.astype(str).astype(object), none
    if isinstance(dt, pd.StringDtype) or (dt == object and pd.api.types.infer_dtype(col, skipna=False) == "string"):
        codes, uniques = pd.factorize(col)
        u = np.asarray(uniques, dtype=object)
        empty = np.fromiter((not x.strip("\x00") for x in u), dtype=bool, count=u.shape[0])
        return codes.astype(np.int64, copy=False), u, empty
    _refuse_nested(col, role, source)
    vals = col.astype(str).to_numpy(dtype=object)
    empty_rows = np.flatnonzero(np.char.str_len(vals.astype(str)) == 0) if len(vals) else []
    if len(empty_rows):
        raise DataError(f"empty {role} id", source, int(empty_rows[0]) + 1)
    return vals


def _exact_integers(col: pd.Series) -> bool:
    """An integer column without missing values that fits ``int64`` (read exactly, not as float64)."""
    dt = col.dtype
    if isinstance(dt, np.dtype):
        return dt.kind in "iu" and _fits_int64(col.to_numpy())
    return pd.api.types.is_integer_dtype(dt) and not col.isna().any() and \
        (not len(col) or int(col.max()) < 2**63)  # nullable Int64/UInt64 without missing values


_NESTED = (list, tuple, dict, set, np.ndarray)


def _refuse_nested(col: pd.Series, role: str, source: str) -> None:
    """A column of lists or structs is not an id column (its text, e.g. ``"[117]"``, is no id)."""
    if pd.api.types.infer_dtype(col, skipna=False) not in ("mixed", "unknown-array"):
        return
    nested = np.fromiter((isinstance(x, _NESTED) for x in col), dtype=bool, count=len(col))
    if nested.any():
        k = int(np.argmax(nested))
        kind = "structs" if isinstance(col.iloc[k], dict) else "lists"
        raise DataError(f"column {_show(col.name)} for {role} ids holds {kind} (row {k + 1}: {_show(col.iloc[k])}); "
                        "an id column holds one id per row (explode the lists first)", source)


def _read_frame(df: pd.DataFrame, source: str, fmt: str, columns: Mapping[str, Any] | None) -> RawInteractions:
    return _read_table(_FrameColumns(df), source, fmt, columns)


def _read_table(
    table: _FrameColumns | _ParquetColumns, source: str, fmt: str, columns: Mapping[str, Any] | None
) -> RawInteractions:
    names = table.names
    if table.n_rows == 0:
        raise DataError("no interactions (the table has no rows)", source)
    roles = _resolve_roles(names, columns, source, None, positional_ok=False)
    rows = np.arange(1, table.n_rows + 1, dtype=np.int64)

    def ids(role: str) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        got = table.id_codes(roles[role])
        if got is None:
            got = _series_ids(table.series(roles[role]), role, source)
        if isinstance(got, np.ndarray):
            return got
        codes, uniques, empty = got
        if empty.any():  # the first row of the first (by code = by appearance) empty id
            k = int(np.argmax(codes == int(np.argmax(empty))))
            raise DataError(f"empty {role} id", source, int(rows[k]))
        return codes, uniques

    def numbers(role: str) -> np.ndarray | None:
        if role not in roles:
            return None
        col = table.series(roles[role])
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            if col.isna().any():
                k = int(np.flatnonzero(col.isna().to_numpy())[0])
                raise DataError(f"missing {role}", source, int(rows[k]))
            if getattr(col.dt, "tz", None) is not None:
                col = col.dt.tz_convert("UTC").dt.tz_localize(None)
            ns = col.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            return ns // 10**9 if not (ns % 10**9).any() else ns / 1e9
        if role == "timestamp" and _exact_integers(col):
            return col.to_numpy(dtype=np.int64)
        num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(num)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            v = col.iloc[k]
            what = f"missing {role}" if pd.isna(v) else f"{role} {_show(v)} is not a number"
            raise DataError(what, source, int(rows[k]))
        return num

    users = ids("user")
    items = ids("item")
    return RawInteractions.from_codes(
        users,
        items,
        ratings=numbers("rating"),
        timestamps=numbers("timestamp"),
        lines=rows,
        source=source,
        format=fmt,
        header=names,
        notes=[f"{source}: columns " + ", ".join(f"{r}={names[i]}" for r, i in roles.items())],
    )


# --------------------------------------------------------------------------------------------
# writer (tests, synthetic data, conversions)
# --------------------------------------------------------------------------------------------


def _fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def write_interactions(
    raw: RawInteractions, path: str | Path, format: str = "triples", delimiter: str = "\t", header: bool = False
) -> Path:
    """Write ``raw`` as ``lists`` (users in order of first appearance), ``triples``, ``atomic``
    or ``parquet``. Returns the path."""
    path = Path(path)
    fmt = canonical_format(format, path)
    if fmt == "parquet":
        raw.to_frame().drop(columns="line").to_parquet(path, index=False)
        return path
    out: list[str] = []
    if fmt == "lists":
        codes, uniq = pd.factorize(raw.users)
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniq)))])
        its = raw.items[order]
        for k, u in enumerate(uniq):
            out.append(" ".join([u, *its[bounds[k]:bounds[k + 1]]]))
    elif fmt in ("triples", "atomic"):
        sep = "\t" if fmt == "atomic" else delimiter
        cols = [raw.users, raw.items]
        names = ["user_id:token", "item_id:token"] if fmt == "atomic" else ["user", "item"]
        for arr, name in ((raw.ratings, "rating"), (raw.timestamps, "timestamp")):
            if arr is not None:
                cols.append([_fmt_num(x) for x in arr])
                names.append(f"{name}:float" if fmt == "atomic" else name)
        if header or fmt == "atomic":
            out.append(sep.join(names))
        out.extend(sep.join(row) for row in zip(*cols))
    else:
        raise DataError(f"cannot write format {fmt!r}", path)
    path.write_text("\n".join(out) + "\n")
    return path
