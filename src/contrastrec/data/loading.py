"""``load_dataset``: files, folders and DataFrames to a split :class:`Dataset`.

Pipeline for one data file (or DataFrame)::

    read -> (graph data: drop repeated (user, item), keep the earliest) -> k-core -> split
         -> id maps (users and items in order of first appearance among kept rows) -> Dataset

Pipeline for a pre-split folder (``train*``, ``test*``, optional ``valid*``/``val*``)::

    read each file (format detected on the train file) -> users unknown to train? -> drop
    repeated (user, item) (graph data; a pair kept in an earlier split is dropped from a later
    one) -> k-core on the union -> carve validation from train if there is no validation file
    -> id maps (users in order of first appearance in train, items across train, valid, test)

Within a user, rows keep file order, or timestamp order (ties: file order) when the data has
timestamps.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from contrastrec.rng import numpy_stream
from .dataset import DataError, Dataset, IdMap, Split
from .fingerprint import fingerprint
from .readers import FORMATS, RawInteractions, _show, canonical_format, detect_format, input_kind, read_interactions
from .splits import (
    DROP,
    _is_grouped,
    _stable_order,
    TEST,
    TRAIN,
    VALID,
    carve_validation,
    k_core as k_core_mask,
    leave_one_out_labels,
    random_split_labels,
    temporal_split_labels,
)

SPLITS: tuple[str, ...] = ("auto", "loo", "random", "temporal", "presplit")
UNSEEN_USERS: tuple[str, ...] = ("auto", "error", "keep", "drop")

_SPLIT_ALIASES = {"leave-one-out": "loo", "leave_one_out": "loo", "time": "temporal", "ratio": "random",
                  "pre-split": "presplit", "as-released": "presplit", "released": "presplit"}

# Files never taken as interaction data when scanning a folder.
_SIDE_SUFFIXES = {".json", ".md", ".rst", ".item", ".user", ".kg", ".link", ".net", ".pdf", ".py",
                  ".ipynb", ".zip", ".gz", ".tar", ".bz2", ".xz", ".7z", ".pkl", ".pickle", ".npy",
                  ".npz", ".pt", ".pth", ".yaml", ".yml", ".html", ".png", ".jpg", ".log", ".sh"}
_SIDE_NAMES = ("readme", "license", "licence", "changelog", "citation", "reference_numbers")

_ROLE_PATTERNS = {
    "train": re.compile(r"^(train|training)|(^|[._\-\s])(train|training)([._\-\s]|$)"),
    "valid": re.compile(r"^(valid|val)|^dev([._\-\s\d]|$)|(^|[._\-\s])(valid|val|validation|dev)([._\-\s]|$)"),
    "test": re.compile(r"^(test|testing)|(^|[._\-\s])(test|testing)([._\-\s]|$)"),
}


# --------------------------------------------------------------------------------------------
# folder layout
# --------------------------------------------------------------------------------------------


@dataclass
class FolderLayout:
    """What a folder holds: ``presplit`` with ``train``/``test``[/``valid``] files, or ``files``
    (candidate data files, no split roles)."""

    kind: str
    train: Path | None = None
    valid: Path | None = None
    test: Path | None = None
    files: tuple[Path, ...] = ()


def _plain(f: Path) -> Path:
    """``f`` without a ``.gz`` suffix (``Beauty.txt.gz`` -> ``Beauty.txt``): gzip data files are read."""
    return f.with_name(f.name[:-3]) if f.name.lower().endswith(".gz") and len(f.name) > 3 else f


def _is_side_file(f: Path) -> bool:
    name = f.name.lower()
    inner = _plain(f)
    return (
        name.startswith(".")
        or name.endswith((".tar.gz", ".tgz"))
        or inner.suffix.lower() in _SIDE_SUFFIXES
        or any(name.startswith(s) for s in _SIDE_NAMES)
        or name.endswith("item2attributes.json")
    )


def scan_folder(folder: str | Path) -> FolderLayout:
    """Classify a folder's files (see :class:`FolderLayout`); raises ``DataError`` for a folder
    with test/valid files but no train file, several files of one role, or no test file."""
    folder = Path(folder)
    files = sorted(f for f in folder.iterdir() if f.is_file() and not _is_side_file(f))
    roles: dict[str, list[Path]] = {"train": [], "valid": [], "test": []}
    for f in files:
        name = f.name.lower()
        for role, pat in _ROLE_PATTERNS.items():
            if pat.search(name):
                roles[role].append(f)
                break
    if any(roles.values()):
        found = ", ".join(f.name for r in roles.values() for f in r)
        for role, fs in roles.items():
            if len(fs) > 1:
                raise DataError(f"several {role} files ({', '.join(f.name for f in fs)}); keep one", folder)
        if not roles["train"]:
            raise DataError(f"pre-split folder without a train file (found: {found})", folder)
        if not roles["test"]:
            raise DataError(f"pre-split folder without a test file (found: {found})", folder)
        return FolderLayout(
            "presplit", train=roles["train"][0], valid=(roles["valid"] or [None])[0], test=roles["test"][0]
        )
    return FolderLayout("files", files=tuple(files))


def _single_data_file(folder: Path, layout: FolderLayout) -> Path:
    files = list(layout.files)
    if not files:
        raise DataError("no data file in folder (expected a data file, or train*/test* files)", folder)
    if len(files) == 1:
        return files[0]
    inter = [f for f in files if _plain(f).suffix.lower() == ".inter"]
    if len(inter) == 1:
        return inter[0]
    raise DataError(
        f"several data files ({', '.join(f.name for f in files)}); pass the path of one", folder
    )


# --------------------------------------------------------------------------------------------
# public entry
# --------------------------------------------------------------------------------------------


def load_dataset(
    path: str | Path | pd.DataFrame,
    format: str | None = None,
    split: str = "auto",
    seed: int = 0,
    valid_ratio: float = 0.1,
    k_core: int = 0,
    name: str | None = None,
    sequential: bool | None = None,
    *,
    test_ratio: float = 0.1,
    columns: Mapping[str, Any] | None = None,
    unseen_users: str = "auto",
    min_interactions: int = 3,
) -> Dataset:
    """Load a data set and split it.

    Args:
        path: a data file, a folder (pre-split ``train*``/``test*``[/``valid*``|``val*``] files,
            or a folder holding one data file, e.g. ``Beauty.txt`` or ``ml-100k.inter``), or a
            ``pandas.DataFrame``. Data files may be gzip compressed (``Beauty.txt.gz``).
        format: force the format (one of ``FORMATS``); ``None`` detects it from content.
        split: ``"auto"`` (pre-split folder: as released; otherwise leave-one-out for sequential
            data and a seeded per-user random 80/10/10 split for the rest, *not* temporal even
            when there are timestamps), ``"loo"``, ``"random"``, ``"temporal"`` (by timestamp,
            else file order) or ``"presplit"`` (requires a pre-split folder).
        seed: seed of the random split / validation carving.
        valid_ratio: validation share per user (random/temporal splits, and the share carved out
            of train when a pre-split folder has no validation file).
        k_core: if > 1, iteratively keep users and items with at least ``k_core`` interactions
            (before splitting; for a pre-split folder, on the union of its files).
        name: data set name; default the file stem, folder name, or ``"dataframe"``.
        sequential: treat data as sequences (keep repeated items, leave-one-out for ``auto``).
            Default: true for a ``lists`` file, false otherwise (including pre-split folders).
        test_ratio: test share per user (random/temporal splits).
        columns: column roles for triples/atomic/parquet/DataFrames, e.g. ``{"user": "uid"}``.
        unseen_users: pre-split folders only, users in valid/test with no line in train:
            ``"error"`` (DataError at the first such line), ``"keep"`` (cold-start users, empty
            train history), ``"drop"`` (drop their valid/test rows), or ``"auto"``: keep them if
            every such id is an integer within the range of the training user ids (a
            pre-indexed data set whose users simply have no training rows, as in the published
            Yelp/LastFM splits), else error.
        min_interactions: leave-one-out skips users with fewer interactions.

    Returns:
        A :class:`Dataset`; ``notes`` records every choice made and everything skipped.
        Valid/test interactions whose item has no training interaction are kept and counted
        (``Dataset.unseen_items``, noted); ``Dataset.fingerprint`` holds the absolute path and,
        per data file, its size and the sha256 of its first MiB.

    Raises:
        DataError: ``FILE:LINE: problem`` for bad input or options, a path that is not a regular
            file or a folder (a FIFO, a device, a symbolic link loop), or a pre-split valid/test
            file of which no row is left (e.g. every row is a training pair).
    """
    split = _SPLIT_ALIASES.get(str(split).lower(), str(split).lower())
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (known: {', '.join(SPLITS)})", _where(path))
    if unseen_users not in UNSEEN_USERS:
        raise DataError(f"unknown unseen_users {unseen_users!r} (known: {', '.join(UNSEEN_USERS)})", _where(path))
    if not (0 <= valid_ratio < 1 and 0 <= test_ratio < 1 and valid_ratio + test_ratio < 1):
        raise DataError(
            f"valid_ratio ({valid_ratio}) and test_ratio ({test_ratio}) must be in [0, 1) with sum < 1",
            _where(path),
        )
    opts = _Options(split, seed, valid_ratio, test_ratio, int(k_core or 0), sequential, unseen_users,
                    min_interactions)

    if isinstance(path, pd.DataFrame):
        fmt = canonical_format(format, "<dataframe>")
        raw = read_interactions(path, fmt, columns)
        return _from_single(raw, name or "dataframe", opts, attributes=None)

    p = Path(path)
    fmt = canonical_format(format, p)
    ds = _from_path(p, fmt, columns, name, opts)
    ds.fingerprint = fingerprint(p)
    return ds


def _from_path(p: Path, fmt: str | None, columns: Mapping[str, Any] | None, name: str | None, opts: "_Options") -> Dataset:
    if input_kind(p, missing="no such file or folder") == "folder":
        layout = scan_folder(p)
        if layout.kind == "presplit":
            return _from_presplit(layout, p, fmt, columns, name or p.name, opts)
        file = _single_data_file(p, layout)
        default_name = p.name
    else:
        file = p
        default_name = _plain(p).stem
    if opts.split == "presplit":
        raise DataError("split='presplit' needs a folder with train*/test* files", p)
    raw = read_interactions(file, fmt, columns)
    return _from_single(raw, name or default_name, opts, attributes=_attributes_file(file))


def _where(path: Any) -> str:
    return "<dataframe>" if isinstance(path, pd.DataFrame) else str(path)


@dataclass
class _Options:
    split: str
    seed: int
    valid_ratio: float
    test_ratio: float
    k_core: int
    sequential: bool | None
    unseen_users: str
    min_interactions: int


# --------------------------------------------------------------------------------------------
# one file
# --------------------------------------------------------------------------------------------


def _within_order(users: np.ndarray, timestamps: np.ndarray | None) -> np.ndarray:
    """Row order grouped by user code, time order within a user (timestamps, then position):
    ``np.lexsort((np.arange(n), timestamps, users))``."""
    return _stable_order(users, timestamps)


def _dedupe_mask(u: np.ndarray, i: np.ndarray, order: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep the first (in ``order``) of repeated (u, i) pairs among rows where ``mask``."""
    n_items = int(i.max()) + 1 if i.size else 1
    key = u.astype(np.int64) * n_items + i
    ordm = order[mask[order]]
    del order
    # the first of each key along ordm: np.unique(key[ordm], return_index=True) without its
    # other outputs. ``order`` groups rows by user, so keys come in per-user blocks and the
    # stable sort (timsort) has runs to merge.
    k = key[ordm]
    del key
    perm = np.argsort(k, kind="stable")
    k = k[perm]
    first = np.empty(k.shape[0], dtype=bool)
    first[:1] = True
    np.not_equal(k[1:], k[:-1], out=first[1:])
    del k
    keep = np.zeros(u.shape[0], dtype=bool)
    keep[ordm[perm[first]]] = True
    return keep


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _verb(n: int, singular: str, plural: str) -> str:
    return singular if n == 1 else plural


def _from_single(raw: RawInteractions, name: str, o: _Options, attributes: Path | None) -> Dataset:
    N = len(raw)
    notes = [f"read {_plural(N, 'interaction')} from {raw.source} (format {raw.format})"] + list(raw.notes)
    seq = o.sequential if o.sequential is not None else raw.format == "lists"
    kind = o.split if o.split != "auto" else ("loo" if seq else "random")
    # codes by first appearance (pd.factorize of the raw ids); ``release`` drops the object[N]
    # arrays of raw ids, when the reader made them, so they are not held through the rest
    u, u_uniq = raw.id_codes("user", release=True)
    i, i_uniq = raw.id_codes("item", release=True)
    ts = raw.timestamps
    mask = np.ones(N, dtype=bool)
    if not seq:
        keep = _dedupe_mask(u, i, _within_order(u, ts), mask)
        ndup = N - int(keep.sum())
        if ndup:
            notes.append(f"dropped {_plural(ndup, 'repeated (user, item) interaction')} (kept the earliest)")
        mask &= keep
    if o.k_core > 1:
        mask = _apply_k_core(u, i, mask, o.k_core, notes)

    labels = np.full(N, DROP, dtype=np.int8)
    sub = np.flatnonzero(mask)
    tsub = None if ts is None or kind == "random" else ts[sub]
    ratios = (1.0 - o.valid_ratio - o.test_ratio, o.valid_ratio, o.test_ratio)
    if raw.empty_users:  # listed without items and without a kept row
        empty = {e for e, _ in raw.empty_users} - set(u_uniq[np.unique(u[sub])].tolist())
    else:
        empty = set()
    if kind == "loo":
        lab, skipped = leave_one_out_labels(u[sub], tsub, o.min_interactions)
        skipped += len(empty)
        notes.append("split: leave-one-out (last item = test, second last = validation)"
                     + (" by timestamp" if ts is not None else ""))
        if skipped:
            notes.append(f"skipped {_plural(skipped, 'user')} with fewer than {o.min_interactions} interactions")
    elif kind == "random":
        lab = random_split_labels(u[sub], ratios, numpy_stream(o.seed, "split"))
        notes.append(f"split: random per user {ratios[0]:.2g}/{ratios[1]:.2g}/{ratios[2]:.2g} (seed {o.seed})")
    elif kind == "temporal":
        lab = temporal_split_labels(u[sub], tsub, ratios)
        notes.append(
            f"split: temporal per user {ratios[0]:.2g}/{ratios[1]:.2g}/{ratios[2]:.2g} "
            + ("by timestamp" if ts is not None else "by file order (no timestamps)")
        )
    else:  # pragma: no cover - validated earlier
        raise DataError(f"unknown split {kind!r}", raw.source)
    if kind != "loo" and empty:
        notes.append(f"skipped {_plural(len(empty), 'user')} listed without items")
    labels[sub] = lab
    unseen = _count_unseen_items(i, labels, notes)
    if not (labels >= 0).any():
        raise DataError("no interactions left after filtering and splitting", raw.source)
    user_key = np.asarray(raw.lines, dtype=np.int64)
    ds = _assemble(name, u, i, u_uniq, i_uniq, labels, user_key, ts, seq, notes)
    ds.unseen_items = unseen
    _report_missing_targets(ds, notes)
    if attributes is not None:
        _attach_attributes(ds, attributes)
    return ds


def _apply_k_core(u: np.ndarray, i: np.ndarray, mask: np.ndarray, k: int, notes: list[str]) -> np.ndarray:
    sub = np.flatnonzero(mask)
    keep = k_core_mask(u[sub], i[sub], k)
    new = np.zeros_like(mask)
    new[sub[keep]] = True
    nu = np.unique(u[sub]).size - np.unique(u[sub[keep]]).size
    ni = np.unique(i[sub]).size - np.unique(i[sub[keep]]).size
    notes.append(
        f"{k}-core: removed {_plural(int((~keep).sum()), 'interaction')}, {_plural(nu, 'user')}, "
        f"{_plural(ni, 'item')}"
    )
    return new


def _relabel_first(codes: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Renumber ``codes`` by first appearance along ``order`` (default: row order).

    Returns ``(new codes int64[len(codes)], old code of each new code)``.
    """
    seq = codes if order is None else codes[order]
    # distinct codes in order of first appearance along ``order`` (hashing; the same as sorting
    # np.unique's first indices)
    new, old_in_new_order = pd.factorize(seq)
    old_in_new_order = np.asarray(old_in_new_order, dtype=np.int64)
    del seq
    if order is None:  # the new codes are factorize's codes
        return new.astype(np.int64, copy=False), old_in_new_order
    del new
    lut = np.full(int(codes.max()) + 1 if codes.size else 1, -1, dtype=np.int64)
    lut[old_in_new_order] = np.arange(old_in_new_order.shape[0])
    return lut[codes], old_in_new_order


def _assemble(
    name: str,
    u: np.ndarray,
    i: np.ndarray,
    user_uniques: Any,
    item_uniques: Any,
    labels: np.ndarray,
    user_key: np.ndarray,
    timestamps: np.ndarray | None,
    sequential: bool,
    notes: list[str],
    extra_users: tuple[np.ndarray, np.ndarray] | None = None,
) -> Dataset:
    """Build id maps from kept rows (``labels >= 0``) and the three splits.

    ``u``/``i`` are ``int64[N]`` codes into ``user_uniques``/``item_uniques`` (raw ids). Users
    are indexed by first appearance in ``user_key`` order (``extra_users``: ``(codes, keys)`` of
    users without rows that still belong to the data set); items by first appearance in row
    order. Within a user rows keep row order, or timestamp order when ``timestamps`` is given.
    """
    kept = labels >= 0
    if kept.all():  # no copies of the row arrays
        keep = None
        ku, ki, uk, klab, kts = u, i, user_key, labels, timestamps
    else:
        keep = np.flatnonzero(kept)
        ku, ki, uk, klab = u[keep], i[keep], user_key[keep], labels[keep]
        kts = None if timestamps is None else timestamps[keep]
    del kept, keep
    n_kept = ku.shape[0]
    if extra_users is not None and extra_users[0].size:
        ku = np.concatenate([ku, extra_users[0]])
        uk = np.concatenate([uk, extra_users[1]])
    # users by first appearance in user_key order (np.argsort(uk, kind="stable"))
    ucodes, u_old = _relabel_first(ku, None if _is_grouped(uk, None) else _stable_order(uk))
    del ku, uk
    uidx = ucodes[:n_kept]
    iidx, i_old = _relabel_first(ki)
    del ki
    user_map = _idmap(np.asarray(user_uniques, dtype=object)[u_old])
    item_map = _idmap(np.asarray(item_uniques, dtype=object)[i_old])
    splits = []
    for lab in (TRAIN, VALID, TEST):
        sel = np.flatnonzero(klab == lab)
        # rows of this split in np.lexsort((position, [timestamp,] user)) order
        su, si = uidx[sel], iidx[sel]
        skey = None if kts is None else kts[sel]
        del sel
        if not _is_grouped(su, skey):
            o = _stable_order(su, skey)
            su, si = su[o], si[o]
            del o
        splits.append(Split(su, si))
        del su, si, skey
    return Dataset(
        name=name,
        n_users=len(user_map),
        n_items=len(item_map),
        user_map=user_map,
        item_map=item_map,
        train=splits[0],
        valid=splits[1],
        test=splits[2],
        sequential=bool(sequential),
        notes=notes,
    )


def _idmap(uniques: Any) -> IdMap:
    """``IdMap`` of distinct raw ids (already unique, in index order), built in one pass."""
    raws = [str(x) for x in uniques]
    m = IdMap()
    m._raw = raws
    m._index = dict(zip(raws, range(len(raws))))
    return m


def _report_missing_targets(ds: Dataset, notes: list[str]) -> None:
    have_train = np.bincount(ds.train.users, minlength=ds.n_users) > 0
    for split_name, sp in (("validation", ds.valid), ("test", ds.test)):
        have = np.bincount(sp.users, minlength=ds.n_users) > 0
        missing = int((have_train & ~have).sum())
        if missing and len(sp):
            notes.append(f"{_plural(missing, 'user')} with training data {_verb(missing, 'has', 'have')} "
                         f"no {split_name} interaction")
    no_train = int((~have_train).sum())
    if no_train:
        notes.append(f"{_plural(no_train, 'user')} {_verb(no_train, 'has', 'have')} no training "
                     "interaction (cold-start)")


# --------------------------------------------------------------------------------------------
# pre-split folder
# --------------------------------------------------------------------------------------------


def _from_presplit(
    layout: FolderLayout, folder: Path, fmt: str | None, columns: Mapping[str, Any] | None, name: str, o: _Options
) -> Dataset:
    if o.split not in ("auto", "presplit"):
        raise DataError(
            f"split={o.split!r} cannot re-split a pre-split folder (it holds train/test files); "
            "use split='presplit' or pass a single data file",
            folder,
        )
    files = {"train": layout.train, "valid": layout.valid, "test": layout.test}
    raw_tr = read_interactions(layout.train, fmt, columns)  # type: ignore[arg-type]
    fmt = raw_tr.format
    raws = {"train": raw_tr}
    for role in ("valid", "test"):
        if files[role] is not None:
            raws[role] = read_interactions(files[role], fmt, columns, strict_format=False)  # type: ignore[arg-type]
    present = list(raws)
    notes = [
        f"pre-split folder {folder}: " + ", ".join(f"{r} {files[r].name} ({_plural(len(raws[r]), 'row')})"  # type: ignore[union-attr]
                                                  for r in present)
        + f" (format {fmt})",
        "split: as released",
    ]
    for r in present:
        notes.extend(raws[r].notes)
    seq = bool(o.sequential) if o.sequential is not None else False

    users = np.concatenate([raws[r].users for r in present])
    items = np.concatenate([raws[r].items for r in present])
    lines = np.concatenate([raws[r].lines for r in present])
    role_of = np.concatenate(
        [np.full(len(raws[r]), {"train": TRAIN, "valid": VALID, "test": TEST}[r], dtype=np.int8) for r in present]
    )
    file_rank = np.concatenate([np.full(len(raws[r]), k, dtype=np.int64) for k, r in enumerate(present)])
    if all(raws[r].timestamps is not None for r in present):
        ts = np.concatenate([raws[r].timestamps for r in present])  # type: ignore[misc]  (int64 if all are)
    else:
        ts = None
        if any(raws[r].timestamps is not None for r in present):
            notes.append("timestamps ignored: not every file has them")
    N = users.shape[0]
    mask = np.ones(N, dtype=bool)

    # users unknown to train
    empty_tokens = np.array([e for e, _ in raw_tr.empty_users], dtype=object)
    # codes over train users, then train's empty users, then everything: train users come first
    codes_all, u_uniq = pd.factorize(np.concatenate([raw_tr.users, empty_tokens, users]))
    codes_all = codes_all.astype(np.int64)
    n_tr = raw_tr.users.shape[0] + empty_tokens.shape[0]
    n_train_users = int(codes_all[:n_tr].max()) + 1
    train_users = np.asarray(u_uniq[:n_train_users], dtype=object)
    empty_codes = codes_all[raw_tr.users.shape[0]:n_tr]
    u = codes_all[n_tr:]
    unknown = (role_of != TRAIN) & (u >= n_train_users)
    if unknown.any():
        _check_unseen(unknown, users, lines, role_of, files, train_users, o.unseen_users)
        n_users_unk = pd.unique(users[unknown]).size
        if o.unseen_users == "drop":
            mask &= ~unknown
            notes.append(
                f"dropped {_plural(int(unknown.sum()), 'valid/test interaction')} of "
                f"{_plural(n_users_unk, 'user')} that do not appear in the training file"
            )
        else:
            notes.append(
                f"{_plural(n_users_unk, 'user')} {_verb(n_users_unk, 'appears', 'appear')} only in "
                "valid/test (no training line): kept as "
                "cold-start users with an empty training history"
            )

    i, i_uniq = pd.factorize(items)
    i = i.astype(np.int64)
    if not seq:
        # np.lexsort((np.arange(N), [ts, u,] role_of)); lexsort is stable: no position key needed
        order = np.argsort(role_of, kind="stable") if ts is None else np.lexsort((ts, u, role_of))
        keep = _dedupe_mask(u, i, order, mask)
        for role in present:
            r = {"train": TRAIN, "valid": VALID, "test": TEST}[role]
            nd = int((mask & ~keep & (role_of == r)).sum())
            if nd:
                notes.append(f"{files[role].name}: dropped {_plural(nd, 'repeated (user, item) interaction')} "  # type: ignore[union-attr]
                             + ("(within the file or already in an earlier split)" if r != TRAIN else "(kept the first)"))
        mask &= keep
    if o.k_core > 1:
        mask = _apply_k_core(u, i, mask, o.k_core, notes)
        notes.append("k-core applied to the union of the pre-split files")

    labels = np.where(mask, role_of, DROP).astype(np.int8)
    if layout.valid is None:
        tr = np.flatnonzero(labels == TRAIN)
        carve = carve_validation(u[tr], o.valid_ratio, numpy_stream(o.seed, "split.valid"), last=seq, timestamps=None if ts is None else ts[tr])
        labels[tr[carve]] = VALID
        pct = f"{o.valid_ratio * 100:g}%"
        if o.valid_ratio > 0:
            how = (f"the last {pct} of each user's training items" if seq
                   else f"a seeded {pct} validation split from train (seed {o.seed})")
            notes.append(f"no validation file: carved {how}"
                         "; users with a single training item keep it")
        else:
            notes.append("no validation file and valid_ratio=0: the validation split is empty")
    unseen = _count_unseen_items(i, labels, notes)
    for role in ("valid", "test"):
        if role in raws:
            _require_pairs(role, files, u, i, role_of, labels)
    user_key = file_rank * (1 << 40) + lines
    # users listed in train without items still belong to the data set (unless k-core ran)
    extra = None
    if o.k_core <= 1 and raw_tr.empty_users:
        extra = (empty_codes, np.array([ln for _, ln in raw_tr.empty_users], dtype=np.int64))
    ds = _assemble(name, u, i, u_uniq, i_uniq, labels, user_key, ts, seq, notes, extra_users=extra)
    ds.unseen_items = unseen
    _report_missing_targets(ds, notes)
    attr = _attributes_file(layout.train)  # type: ignore[arg-type]
    if attr is not None:
        _attach_attributes(ds, attr)
    return ds


def _count_unseen_items(i: np.ndarray, labels: np.ndarray, notes: list[str]) -> dict[str, int]:
    """The policy for items without training data: valid/test rows whose item has no TRAIN row
    are kept (a split is evaluated as given or as published), counted per split and noted, since
    a model has learnt nothing about such an item: its score comes from an untrained row."""
    trained = np.zeros(int(i.max()) + 1 if i.size else 1, dtype=bool)
    trained[i[labels == TRAIN]] = True
    counts = {}
    for name, lab in (("valid", VALID), ("test", TEST)):
        bad = (labels == lab) & ~trained[i]
        counts[name] = int(bad.sum())
        if counts[name]:
            n_items = int(np.unique(i[bad]).size)
            notes.append(f"{_plural(counts[name], f'{name} interaction')} ({_plural(n_items, 'item')}) "
                         f"{_verb(counts[name], 'has', 'have')} an item without any training interaction: kept, "
                         "but a model scores such an item from an untrained row")
    return counts


def _require_pairs(role: str, files: dict[str, Path | None], u: np.ndarray, i: np.ndarray, role_of: np.ndarray,
                   labels: np.ndarray) -> None:
    """A valid/test file none of whose rows is left is an error naming the file and why."""
    code = {"valid": VALID, "test": TEST}[role]
    if (labels == code).any():
        return
    mine = role_of == code
    n_items = int(i.max()) + 1 if i.size else 1
    key = u * n_items + i
    n = int(mine.sum())
    use = "test" if role == "test" else "validate"
    if np.isin(key[mine], key[role_of == TRAIN]).all():
        raise DataError(f"all {_plural(n, f'{role} pair')} were training pairs (each (user, item) is in "
                        f"{files['train'].name}), so nothing is left to {use} on", files[role])  # type: ignore[union-attr]
    raise DataError(f"none of its {_plural(n, f'{role} pair')} is left to {use} on (repeated pairs, users "
                    "without training interactions or k-core removed them all)", files[role])


def _int_like(tokens: np.ndarray) -> np.ndarray | None:
    """``int64`` values of tokens if all are plain integers, else None."""
    s = pd.Series(tokens, dtype=object).astype(str)
    if not s.str.fullmatch(r"-?\d{1,18}").all():
        return None
    return s.astype(np.int64).to_numpy()


def _check_unseen(
    unknown: np.ndarray,
    users: np.ndarray,
    lines: np.ndarray,
    role_of: np.ndarray,
    files: dict[str, Path | None],
    train_users: np.ndarray,
    policy: str,
) -> None:
    """Raise for users unknown to train, per ``policy`` (see ``load_dataset``)."""
    if policy in ("keep", "drop"):
        return
    bad = unknown
    if policy == "auto":
        tr = _int_like(train_users)
        unk = _int_like(users[unknown])
        if tr is not None and unk is not None and tr.size:
            ok = np.zeros(users.shape[0], dtype=bool)
            ok[np.flatnonzero(unknown)] = (unk >= tr.min()) & (unk <= tr.max())
            bad = unknown & ~ok
    if not bad.any():
        return
    # first offending row: valid before test, then by line
    cand = np.flatnonzero(bad)
    k = cand[np.lexsort((lines[cand], role_of[cand]))[0]]
    role = {VALID: "valid", TEST: "test"}[int(role_of[k])]
    hint = "" if policy == "error" else " (pass unseen_users='keep' or 'drop' to accept such users)"
    raise DataError(f"user {_show(users[k])} does not appear in the training file{hint}", files[role], int(lines[k]))


# --------------------------------------------------------------------------------------------
# item attributes
# --------------------------------------------------------------------------------------------


def _attributes_file(data_file: Path) -> Path | None:
    """``<stem>_item2attributes.json`` beside ``data_file``, else the only ``*_item2attributes.json``."""
    own = data_file.parent / f"{_plain(data_file).stem}_item2attributes.json"
    if own.is_file():
        return own
    others = sorted(data_file.parent.glob("*_item2attributes.json"))
    return others[0] if len(others) == 1 else None


def load_item_attributes(path: str | Path, item_map: IdMap) -> tuple[dict[int, list[int]], int, str]:
    """Read ``{raw item id: [attribute, ...]}`` JSON.

    Returns ``(item index -> attribute indices, n_attributes, note)``. Attribute indices are
    contiguous from 1 (0 is padding) in sorted order of the raw attribute ids (numeric when
    they are all integers, so ids already 1..n keep their values); an embedding table needs
    ``n_attributes + 1`` rows. Repeated attributes of an item are listed once; items not in
    ``item_map`` are ignored.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"not valid JSON ({e.msg})", path, e.lineno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read attributes ({e})", path) from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise DataError("expected a JSON object {item id: [attribute ids]}", path)
    values = {a for v in data.values() for a in v}
    if not all(isinstance(a, (int, str)) and not isinstance(a, bool) for a in values):
        raise DataError("attribute ids must be integers or strings", path)
    if all(isinstance(a, int) for a in values):
        ordered = sorted(values)
    else:
        ordered = sorted(values, key=lambda a: (not isinstance(a, int), str(a)))
    attr_index = {a: k + 1 for k, a in enumerate(ordered)}
    out: dict[int, list[int]] = {}
    for raw_item, attrs in data.items():
        idx = item_map.get(str(raw_item))
        if idx is None:
            continue
        out[idx] = list(dict.fromkeys(attr_index[a] for a in attrs))
    note = (
        f"item attributes: {_plural(len(ordered), 'attribute')} for {len(out)}/{len(item_map)} items "
        f"({path.name}; indices from 1, 0 = padding)"
    )
    return out, len(ordered), note


def _attach_attributes(ds: Dataset, path: Path) -> None:
    attrs, n, note = load_item_attributes(path, ds.item_map)
    ds.item_attributes = attrs
    ds.n_attributes = n
    ds.notes.append(note)


# --------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------


def describe_datasets(root: str | Path, max_depth: int = 2) -> list[dict[str, Any]]:
    """Data sets found under ``root`` (for ``contrastrec datasets``).

    Each entry: ``name``, ``path`` (what to pass to ``load_dataset``), ``format`` (detected,
    ``None`` if detection failed), ``layout`` (``"presplit"``, ``"folder"`` for a folder holding
    one data file, ``"file"``), ``files`` (names), and ``error`` when something is wrong.
    Only the beginning of each file is read.
    """
    root = Path(root)
    if input_kind(root, missing="no such folder") != "folder":
        raise DataError("is a file, not a folder (pass the folder that holds the data sets)", root)
    found: list[dict[str, Any]] = []

    def entry(name: str, path: Path, layout: str, files: list[Path], probe: Path) -> None:
        d: dict[str, Any] = {"name": name, "path": str(path), "layout": layout,
                             "files": [f.name for f in files], "format": None}
        try:
            d["format"] = detect_format(probe)
        except DataError as e:
            d["error"] = str(e)
        found.append(d)

    def visit(folder: Path, depth: int) -> None:
        try:
            layout = scan_folder(folder)
        except DataError as e:
            found.append({"name": folder.name, "path": str(folder), "layout": "presplit", "files": [],
                          "format": None, "error": str(e)})
            return
        if layout.kind == "presplit":
            fs = [f for f in (layout.train, layout.valid, layout.test) if f is not None]
            entry(folder.name, folder, "presplit", fs, layout.train)  # type: ignore[arg-type]
            return
        files = list(layout.files)
        if folder != root and len(files) == 1:
            entry(folder.name, folder, "folder", files, files[0])
        elif folder != root and len([f for f in files if _plain(f).suffix.lower() == ".inter"]) == 1:
            inter = next(f for f in files if _plain(f).suffix.lower() == ".inter")
            entry(folder.name, folder, "folder", [inter], inter)
        else:
            for f in files:
                entry(_plain(f).stem, f, "file", [f], f)
        if depth < max_depth:
            for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
                visit(sub, depth + 1)

    visit(root, 0)
    return found


__all__ = ["load_dataset", "describe_datasets", "scan_folder", "load_item_attributes", "SPLITS",
           "UNSEEN_USERS", "FORMATS"]
