"""Core data structures: id maps, splits and the dataset bundle.

Internal indices are contiguous ``int64`` from 0. Raw ids are kept as strings.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.sparse as sp


class DataError(ValueError):
    """Bad input data. The message is one line: ``FILE:LINE: problem`` where known."""

    def __init__(self, problem: str, path: str | Path | None = None, line: int | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + problem)


class IdMap:
    """Bidirectional map between raw ids (strings) and contiguous indices."""

    def __init__(self, raw_ids: Iterable[str] = ()):
        self._raw: list[str] = []
        self._index: dict[str, int] = {}
        for r in raw_ids:
            self.add(r)

    def add(self, raw: str) -> int:
        raw = str(raw)
        idx = self._index.get(raw)
        if idx is None:
            idx = len(self._raw)
            self._index[raw] = idx
            self._raw.append(raw)
        return idx

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, raw: object) -> bool:
        return str(raw) in self._index

    def to_index(self, raw: str) -> int:
        try:
            return self._index[str(raw)]
        except KeyError:
            raise KeyError(f"unknown id {raw!r}") from None

    def get(self, raw: str, default: int | None = None) -> int | None:
        return self._index.get(str(raw), default)

    def to_raw(self, idx: int) -> str:
        return self._raw[int(idx)]

    def indices(self, raws: Sequence[str]) -> np.ndarray:
        return np.fromiter((self._index[str(r)] for r in raws), dtype=np.int64, count=len(raws))

    def raws(self, idx: Iterable[int]) -> list[str]:
        return [self._raw[int(i)] for i in idx]

    @property
    def raw_ids(self) -> list[str]:
        return list(self._raw)

    def to_list(self) -> list[str]:
        return list(self._raw)

    @classmethod
    def from_list(cls, raws: list[str]) -> "IdMap":
        return cls(raws)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self._raw == other._raw


@dataclass
class Split:
    """Interactions of one split, grouped by user (ascending), in source (time) order within a user."""

    users: np.ndarray
    items: np.ndarray

    def __post_init__(self) -> None:
        self.users = np.asarray(self.users, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        if self.users.shape != self.items.shape:
            raise ValueError("users and items must have the same length")

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def csr(self, n_users: int, n_items: int) -> sp.csr_matrix:
        """Binary user x item matrix (duplicates collapse to 1)."""
        m = sp.csr_matrix(
            (np.ones(len(self), dtype=np.float32), (self.users, self.items)), shape=(n_users, n_items)
        )
        m.sum_duplicates()
        m.data[:] = 1.0
        return m

    def user_indptr(self, n_users: int) -> np.ndarray:
        """indptr such that user u's items are ``items[indptr[u]:indptr[u+1]]`` (requires grouping)."""
        counts = np.bincount(self.users, minlength=n_users)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def user_ids(self) -> np.ndarray:
        return np.unique(self.users)

    @staticmethod
    def concat(a: "Split", b: "Split") -> "Split":
        """Merge two splits, keeping per-user order: a's items first, then b's."""
        users = np.concatenate([a.users, b.users])
        items = np.concatenate([a.items, b.items])
        order = np.argsort(users, kind="stable")
        return Split(users[order], items[order])


@dataclass
class Dataset:
    """A split data set. History for ``valid`` is ``train``; history for ``test`` is ``train + valid``."""

    name: str
    n_users: int
    n_items: int
    user_map: IdMap
    item_map: IdMap
    train: Split
    valid: Split
    test: Split
    sequential: bool = False
    notes: list[str] = field(default_factory=list)
    item_attributes: dict[int, list[int]] | None = None  # item index -> attribute ids (S3-Rec)
    n_attributes: int = 0
    recipe: dict[str, Any] | None = None  # data made, not read: how to make it again (synthetic.regenerate)
    # valid/test interactions (kept) whose item has no training interaction
    unseen_items: dict[str, int] = field(default_factory=lambda: {"valid": 0, "test": 0})
    # the file or folder read (absolute path, size and head hash per file; None for a DataFrame)
    fingerprint: dict | None = None

    def train_csr(self) -> sp.csr_matrix:
        return self.train.csr(self.n_users, self.n_items)

    def history(self, phase: str) -> Split:
        if phase == "valid":
            return self.train
        if phase == "test":
            return Split.concat(self.train, self.valid)
        raise ValueError(f"phase must be 'valid' or 'test', got {phase!r}")

    def targets(self, phase: str) -> Split:
        if phase not in ("valid", "test"):
            raise ValueError(f"phase must be 'valid' or 'test', got {phase!r}")
        return self.valid if phase == "valid" else self.test

    def summary(self) -> dict:
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            "sequential": self.sequential,
            "split_sha256": self.split_fingerprint(),
            **({"synthetic": self.recipe} if self.recipe else {}),
            "unseen_items": dict(self.unseen_items),
        }

    def split_fingerprint(self) -> str:
        """SHA-256 of the three splits' (user, item) index arrays, in order: two runs with the same
        value were trained and evaluated on the same split (``contrastrec compare`` checks it)."""
        h = hashlib.sha256()
        for part in (self.train, self.valid, self.test):
            for a in (part.users, part.items):
                b = np.ascontiguousarray(a, dtype=np.int64)
                h.update(len(b).to_bytes(8, "little"))
                h.update(b.tobytes())
        return h.hexdigest()

    def save_id_maps(self, path: str | Path) -> None:
        """Write ``path`` atomically (all or nothing: a killed or failed write never leaves half a
        file); a failed write is a one-line ``WriteError`` (an ``OSError``) naming the file."""
        from contrastrec.training.checkpoint import atomic_write_text  # local: data does not need torch

        atomic_write_text(path, json.dumps({"users": self.user_map.to_list(), "items": self.item_map.to_list()}))

    @staticmethod
    def load_id_maps(path: str | Path) -> tuple[IdMap, IdMap]:
        """The user and item maps in a run's ``id_maps.json``; a file that is unreadable, not JSON
        or not ``{"users": [...], "items": [...]}`` of unique ids is a one-line DataError naming it."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("id maps not found", path) from None
        except OSError as e:
            raise DataError(f"cannot read the id maps ({e.strerror or e})", path) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
            raise DataError(f"corrupt id maps: not valid JSON{where}; the run's raw ids are lost with this "
                            "file (restore it, or retrain)", path) from None
        if not isinstance(d, dict):
            raise DataError(f"corrupt id maps: expected {{\"users\": [...], \"items\": [...]}}, got a "
                            f"{type(d).__name__}", path)
        maps = []
        for key in ("users", "items"):
            ids = d.get(key)
            if not isinstance(ids, list) or not all(isinstance(r, (str, int)) and not isinstance(r, bool) for r in ids):
                raise DataError(f"corrupt id maps: {key!r} must be a list of ids", path)
            m = IdMap.from_list(ids)
            if len(m) != len(ids):
                raise DataError(f"corrupt id maps: {key!r} holds duplicate ids", path)
            maps.append(m)
        return maps[0], maps[1]
