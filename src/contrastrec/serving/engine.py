"""Recommendations from a loaded run: raw ids in, raw ids and scores out.

Queries (all scores are inner products with the item embeddings, exact FAISS search):

* a known user: graph models use the user's embedding; sequential models encode the user's
  full known history (train + valid + test, last ``max_len`` items);
* a history of raw item ids: sequential models encode it (at most ``max_len`` items); graph
  models use the mean of the history's item embeddings (at most ``max_history`` items).

Excluded unless ``include_seen``: the user's known items (train + valid + test) and the items
of the given history.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from contrastrec.retrieval import build_index, search
from contrastrec.serving.run import LoadedRun

MAX_K = 1000
MAX_HISTORY = 1000  # graph models; sequential models accept at most max_len items


class UnknownId(KeyError):
    """A raw user or item id that the run does not know (``kind`` is "user" or "item")."""

    def __init__(self, kind: str, raw: str):
        self.kind, self.raw = kind, raw
        super().__init__(f"unknown {kind} {brief(raw)}")

    def __str__(self) -> str:
        return self.args[0]


def brief(value: Any, limit: int = 40) -> str:
    """``value`` for an error message, at most about ``limit`` characters (a client may send a 300-digit
    number or a 1 MB id): strings quoted, huge numbers in exponent form, long strings cut."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** limit:
        exponent = int(math.log10(abs(value)))  # no str(): Python refuses ints over 4,300 digits
        lead = str(abs(value) // 10 ** (exponent - 3))[:4]
        return f"{'-' if value < 0 else ''}{lead[0]}.{lead[1:]}e+{exponent}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-1]} ({len(text)} characters)"


class BadRequest(ValueError):
    """A request that cannot be answered as asked (k out of range, history too long, ...)."""


@dataclass
class Item:
    id: str
    score: float


class Engine:
    """Answers recommendation queries for one run; build once, query many times."""

    def __init__(self, run: LoadedRun, max_k: int = MAX_K, max_history: int = MAX_HISTORY):
        self.run = run
        self.model_name = run.cfg.model
        self.sequential = run.sequential
        self.n_users, self.n_items = run.dataset.n_users, run.dataset.n_items
        self.user_map, self.item_map = run.dataset.user_map, run.dataset.item_map
        users, items = run.embeddings("all")
        self.user_emb, self.item_emb = users, items
        self.index = build_index(items, "exact")
        seen = run.seen_csr()
        self._seen_ptr, self._seen_idx = seen.indptr, seen.indices
        self.max_k = min(max_k, self.n_items)
        self.max_history = run.cfg.max_len if self.sequential else max_history
        if self.sequential:
            from contrastrec.export import encoder_of

            self.encoder = encoder_of(run)

    # ------------------------------------------------------------------ validation
    def check_k(self, k: int) -> int:
        if not 1 <= int(k) <= self.max_k:
            raise BadRequest(f"k must be between 1 and {self.max_k}, got {brief(k)}")
        return int(k)

    def user_index(self, raw: Any) -> int:
        idx = self.user_map.get(str(raw))
        if idx is None:
            raise UnknownId("user", str(raw))
        return idx

    def item_indices(self, raws: Sequence[Any]) -> np.ndarray:
        if len(raws) > self.max_history:
            what = "max_len of this sequential model" if self.sequential else "limit for graph models"
            raise BadRequest(f"history has {len(raws)} items; at most {self.max_history} (the {what})")
        out = []
        for r in raws:
            idx = self.item_map.get(str(r))
            if idx is None:
                raise UnknownId("item", str(r))
            out.append(idx)
        return np.asarray(out, dtype=np.int64)

    def seen(self, user: int) -> np.ndarray:
        return self._seen_idx[self._seen_ptr[user]:self._seen_ptr[user + 1]]

    # ------------------------------------------------------------------ queries
    def history_query(self, items: np.ndarray) -> np.ndarray:
        if self.sequential:
            return self.encoder.encode_indices([items])[0]
        return self.item_emb[items].mean(0)

    def recommend(self, user: Any = None, history: Sequence[Any] | None = None, k: int = 10,
                  include_seen: bool = False) -> list[Item]:
        """Top-``k`` items for a user and/or a history (see the module docstring)."""
        k = self.check_k(k)
        u = None if user is None else self.user_index(user)
        exclude: set[int] = set()
        if history:
            items = self.item_indices(list(history))
            query = self.history_query(items)
            exclude.update(items.tolist())
        elif u is not None:
            query = self.user_emb[u]
        else:
            raise BadRequest("give a user or a non-empty history")
        if u is not None:
            exclude.update(self.seen(u).tolist())
        scores, ids = search(self.index, query[None, :], k, None if include_seen else [exclude])
        return [Item(self.item_map.to_raw(i), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def basis(self, user: Any = None, history: Sequence[Any] | None = None) -> tuple[str, list[str]]:
        """What :meth:`recommend` computes its query from, as ``(what, raw item ids)``: a given
        history (``"history"``); else the user's training items (``"train"``; graph and MF models,
        whose user embedding was learned from them), or the user's last ``max_len`` known items
        (``"known"``; sequential models, which encode them)."""
        if history:
            return "history", [str(h) for h in history]
        u = self.user_index(user)
        if self.sequential:
            known = self.run.known_items()
            rows = known.items[known.users == u][-self.run.cfg.max_len:]
            return "known", self.item_map.raws(rows)
        train = self.run.dataset.train
        return "train", self.item_map.raws(train.items[train.users == u])

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "model": self.model_name, "run": self.run.run_id, "sequential": self.sequential,
                "n_users": self.n_users, "n_items": self.n_items, "dimension": int(self.item_emb.shape[1]),
                "max_k": self.max_k, "max_history": self.max_history}
