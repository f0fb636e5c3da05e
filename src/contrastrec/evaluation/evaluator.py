"""Chunked full-ranking evaluation.

For every evaluated user, all ``n_items`` items are scored, the user's history (``exclude``) is
set to ``-inf`` so it ranks last, and ranking metrics are computed on the top ``K = max(ks)``.

Work is done per chunk of ``chunk_size`` users: one ``score_fn`` call (``[B, n_items]`` scores),
an in-place masked fill through a flat index, one ``torch.topk`` and a vectorised lookup of the
top-K items among the targets. Peak extra memory is about one ``chunk_size x n_items`` score
tensor (plus whatever ``score_fn`` allocates); there is no per-user Python loop.

Semantics worth knowing:

* Only stored non-zero entries of ``targets`` / ``exclude`` count (explicit zeros are ignored).
* **A target that is also in ``exclude`` stays rankable**: the target wins and is not masked
  (e.g. a re-consumed item in the test split that also appears in the training history).
* Users without any target are skipped; ``evaluate_detailed`` reports how many.
* The tensor returned by ``score_fn`` is modified in place (excluded entries become ``-inf``).
  If it is a view of another tensor (``_base`` set) or non-contiguous it is copied first; a
  ``score_fn`` that returns a tensor it keeps (e.g. a cached full score matrix) must return a
  clone.
* Ties in the scores are broken by ``torch.topk`` (unspecified order).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .groups import Groups
from .metrics import METRICS, compute_metrics, resolve_metric_specs
from contrastrec.rng import numpy_stream

ScoreFn = Callable[[torch.Tensor], torch.Tensor]

DEFAULT_KS: tuple[int, ...] = (10, 20)


@dataclass
class EvaluationResult:
    """Per-user metric values of one evaluation.

    ``users[i]`` is the user whose metric values are ``per_user[name][i]``. ``n_skipped`` counts
    requested users that had no target and were therefore not evaluated.
    """

    users: np.ndarray
    per_user: dict[str, np.ndarray] = field(default_factory=dict)
    n_skipped: int = 0
    #: with ``groups``: item group -> metric -> per-user values (NaN: no target in the group)
    item_group_values: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    #: with ``groups``: k -> how often each item is in a top-k list ``[n_items]``
    exposure: dict[int, np.ndarray] = field(default_factory=dict)
    #: with ``groups``: k -> per-user mean training popularity of the top-k list
    arp: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return int(self.users.shape[0])

    def means(self) -> dict[str, float]:
        """Mean over evaluated users of each metric (``nan`` when no user was evaluated)."""
        if self.n_users == 0:
            return {k: float("nan") for k in self.per_user}
        return {k: float(np.mean(v, dtype=np.float64)) for k, v in self.per_user.items()}


# ---------------------------------------------------------------------------------------------
# Input preparation


def _binary_csr(m, name: str) -> sp.csr_matrix:
    """Boolean CSR with sorted indices and no explicit zeros."""
    if not sp.issparse(m):
        raise TypeError(f"{name} must be a scipy.sparse matrix [n_users, n_items], got {type(m).__name__}")
    m = sp.csr_matrix(m)
    b = sp.csr_matrix(m != 0)
    b.sort_indices()
    return b


def _effective_exclusion(exclude_b: sp.csr_matrix, targets_b: sp.csr_matrix) -> sp.csr_matrix:
    """``exclude AND NOT targets`` (targets are never masked)."""
    both = exclude_b.multiply(targets_b)
    if both.nnz == 0:
        return exclude_b
    ex = exclude_b.astype(np.int8) - sp.csr_matrix(both).astype(np.int8)
    ex = sp.csr_matrix(ex != 0)
    ex.sort_indices()
    return ex


def _as_user_array(users, n_users: int) -> np.ndarray:
    if users is None:
        return np.arange(n_users, dtype=np.int64)
    if isinstance(users, torch.Tensor):
        users = users.detach().cpu().numpy()
    u = np.asarray(users)
    if u.ndim != 1:
        raise ValueError(f"users must be 1-D, got shape {u.shape}")
    if u.size and not np.issubdtype(u.dtype, np.integer):
        raise TypeError(f"users must be integer indices, got dtype {u.dtype}")
    u = u.astype(np.int64, copy=False)
    if u.size and (u.min() < 0 or u.max() >= n_users):
        raise ValueError(f"user indices must be in [0, {n_users}), got range [{u.min()}, {u.max()}]")
    return u


@dataclass
class _Prepared:
    targets: sp.csr_matrix  # bool, sorted indices
    exclude: sp.csr_matrix  # bool, sorted, targets removed
    n_targets: np.ndarray  # int64 [n_users]

    @property
    def n_items(self) -> int:
        return int(self.targets.shape[1])


def _prepare(targets, exclude) -> _Prepared:
    t = _binary_csr(targets, "targets")
    if exclude is None:
        e = sp.csr_matrix(t.shape, dtype=bool)
    else:
        e = _binary_csr(exclude, "exclude")
    if e.shape != t.shape:
        raise ValueError(f"exclude shape {e.shape} != targets shape {t.shape}")
    e = _effective_exclusion(e, t)
    return _Prepared(t, e, np.diff(t.indptr).astype(np.int64))


def _row_keys(rows: sp.csr_matrix, n_items: int) -> np.ndarray:
    """Flat keys ``row * n_items + item`` of the stored entries of a chunk's CSR slice."""
    counts = np.diff(rows.indptr)
    offsets = np.repeat(np.arange(rows.shape[0], dtype=np.int64) * n_items, counts)
    return offsets + rows.indices.astype(np.int64, copy=False)


# ---------------------------------------------------------------------------------------------
# Core loop

#: Auto chunk size on CPU: score elements per chunk (float32: 16 MiB). Chunks at or below glibc's
#: maximum dynamic mmap threshold (32 MiB) are recycled from the heap instead of being mmap-ed and
#: page-faulted afresh for every chunk, which roughly halves the cost of the matrix product.
CPU_CHUNK_ELEMENTS = 1 << 22
#: Auto chunk size on accelerators: score elements per chunk (float32: 256 MiB).
DEVICE_CHUNK_ELEMENTS = 1 << 26


def resolve_chunk_size(chunk_size: int | None, n_items: int, device="cpu") -> int:
    """Users per chunk: ``chunk_size`` if given, else about ``CPU_CHUNK_ELEMENTS / n_items`` on CPU
    (``DEVICE_CHUNK_ELEMENTS / n_items`` on an accelerator), clamped to [8, 16384]."""
    if chunk_size is not None:
        if int(chunk_size) <= 0:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        return int(chunk_size)
    budget = CPU_CHUNK_ELEMENTS if torch.device(device).type == "cpu" else DEVICE_CHUNK_ELEMENTS
    return int(min(16384, max(8, budget // max(1, n_items))))


def _run(
    score_fn: ScoreFn,
    users,
    prep: _Prepared,
    ks,
    metrics,
    chunk_size: int | None,
    device,
    groups: Groups | None = None,
) -> EvaluationResult:
    specs = resolve_metric_specs(ks, metrics)
    n_users, n_items = prep.targets.shape
    u_all = _as_user_array(users, n_users)
    keep = prep.n_targets[u_all] > 0
    u_eval = u_all[keep]
    n_skipped = int(u_all.shape[0] - u_eval.shape[0])
    keys = [f"{n}@{k}" for n, k in specs]
    if u_eval.shape[0] == 0:
        return EvaluationResult(u_eval, {k: np.zeros(0) for k in keys}, n_skipped)

    K = min(max(k for _, k in specs), n_items)
    chunk_size = resolve_chunk_size(chunk_size, n_items, device)
    hits_parts: list[np.ndarray] = []
    acc = _GroupAccumulator(groups, prep, sorted({min(k, K) for _, k in specs}), n_items) if groups else None

    with torch.no_grad():
        for start in range(0, u_eval.shape[0], chunk_size):
            u = u_eval[start : start + chunk_size]
            B = u.shape[0]
            scores = score_fn(torch.from_numpy(u).to(device))
            if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (B, n_items):
                shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores)
                raise ValueError(f"score_fn must return a tensor of shape ({B}, {n_items}), got {shape}")
            if not scores.is_floating_point():
                scores = scores.float()
            elif not scores.is_contiguous():
                scores = scores.contiguous()
            elif scores._base is not None:  # a view of the caller's tensor: do not mask it in place
                scores = scores.clone()

            # history -> -inf, in place through a flat index (vectorised over the chunk)
            ex_rows = prep.exclude[u]
            if ex_rows.nnz:
                flat = torch.from_numpy(_row_keys(ex_rows, n_items)).to(scores.device)
                scores.view(-1).index_fill_(0, flat, float("-inf"))

            top_val, top_idx = torch.topk(scores, K, dim=1, largest=True, sorted=True)
            del scores  # free before the next score_fn call (keeps peak memory at one chunk)
            if torch.isnan(top_val).any():
                raise ValueError("score_fn returned NaN scores")

            # which of the top-K items are targets: sorted flat keys + binary search (small, numpy)
            t_keys = _row_keys(prep.targets[u], n_items)  # sorted: rows ascending, indices sorted
            top = top_idx.cpu().numpy().astype(np.int64, copy=False)
            q = top + (np.arange(B, dtype=np.int64) * n_items)[:, None]
            pos = np.searchsorted(t_keys, q)
            np.minimum(pos, t_keys.shape[0] - 1, out=pos)
            hits_parts.append(t_keys[pos] == q)
            if acc is not None:
                acc.add(u, top, hits_parts[-1])

    hits = torch.from_numpy(np.concatenate(hits_parts, axis=0))
    n_t = torch.from_numpy(prep.n_targets[u_eval])
    vals = compute_metrics(hits, n_t, (), keys)
    per_user = {k: vals[k].numpy() for k in keys}
    res = EvaluationResult(u_eval, per_user, n_skipped)
    if acc is not None:
        acc.finish(res, keys)
    return res


class _GroupAccumulator:
    """Per chunk: the top-K lists' hits by item group, exposure and popularity (groups.py)."""

    def __init__(self, groups: Groups, prep: _Prepared, cuts: list[int], n_items: int):
        self.g, self.prep, self.cuts = groups, prep, cuts
        self.hits: list[np.ndarray] = []  # [B, K] item group of each hit, -1 for a miss
        self.n_t: list[np.ndarray] = []  # [B, G] targets per item group
        self.exposure = {k: np.zeros(n_items, dtype=np.int64) for k in cuts}
        self.arp: dict[int, list[np.ndarray]] = {k: [] for k in cuts}

    def add(self, u: np.ndarray, top: np.ndarray, hits: np.ndarray) -> None:
        G, B = self.g.n_item_groups, u.shape[0]
        if G:
            rows = self.prep.targets[u]
            row_of = np.repeat(np.arange(B, dtype=np.int64), np.diff(rows.indptr))
            grp = self.g.item_group[rows.indices]
            self.n_t.append(np.bincount(row_of * G + grp, minlength=B * G).reshape(B, G))
            self.hits.append(np.where(hits, self.g.item_group[top], -1))
        for k in self.cuts:
            self.exposure[k] += np.bincount(top[:, :k].ravel(), minlength=self.exposure[k].size)
            self.arp[k].append(self.g.item_pop[top[:, :k]].mean(axis=1, dtype=np.float64))

    def finish(self, res: EvaluationResult, keys: list[str]) -> None:
        hit_group = np.concatenate(self.hits) if self.hits else None
        n_t = np.concatenate(self.n_t) if self.n_t else None
        for g in range(self.g.n_item_groups):
            vals = compute_metrics(torch.from_numpy(hit_group == g), torch.from_numpy(n_t[:, g]), (), keys)
            none = n_t[:, g] == 0
            res.item_group_values[g] = {k: np.where(none, np.nan, vals[k].numpy()) for k in keys}
        res.exposure = self.exposure
        res.arp = {k: np.concatenate(v) for k, v in self.arp.items()}


# ---------------------------------------------------------------------------------------------
# Public API


def evaluate_detailed(
    score_fn: ScoreFn,
    users,
    targets: sp.spmatrix,
    exclude: sp.spmatrix | None,
    ks: Iterable[int] | int = DEFAULT_KS,
    metrics: Iterable[str] | str = METRICS,
    chunk_size: int | None = None,
    device: str | torch.device = "cpu",
    groups: Groups | None = None,
) -> EvaluationResult:
    """Like :func:`evaluate` but returns per-user values (:class:`EvaluationResult`).

    ``result.users`` are the evaluated users (requested users with >= 1 target, in the requested
    order), ``result.per_user["ndcg@20"]`` a float64 array aligned with them, ``result.n_skipped``
    the number of requested users without targets. With ``groups``
    (:class:`~contrastrec.evaluation.groups.Groups`) the same pass also fills the per-item-group
    values, the exposure and the ARP of the top-k lists (``summarize_groups`` reads them).
    """
    return _run(score_fn, users, _prepare(targets, exclude), ks, metrics, chunk_size, device, groups)


def evaluate(
    score_fn: ScoreFn,
    users,
    targets: sp.spmatrix,
    exclude: sp.spmatrix | None,
    ks: Iterable[int] | int = DEFAULT_KS,
    metrics: Iterable[str] | str = METRICS,
    chunk_size: int | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Full-ranking evaluation; returns ``{"recall@10": float, "ndcg@20": float, ...}``.

    * ``score_fn(users: LongTensor[B]) -> FloatTensor[B, n_items]``, on any device; ``users`` is
      created on ``device``. The returned tensor is modified in place (see module docstring).
    * ``users``: user indices (numpy array, LongTensor or list; ``None`` = all rows). Users without
      targets are skipped (see :func:`evaluate_detailed` for the count).
    * ``targets``, ``exclude``: scipy sparse ``[n_users, n_items]``; stored non-zeros count.
      Excluded items are set to ``-inf`` before top-k, so they rank last. A target that is also
      excluded is **not** excluded (the target wins).
    * ``ks`` x ``metrics`` give the keys ``name@k``; a metric may also be given as ``"name@k"``.
      Names: recall, ndcg, hit (alias hr), precision, mrr.
    * ``chunk_size`` users are scored at a time (memory ~ chunk_size x n_items floats); ``None``
      picks it from ``n_items`` (:func:`resolve_chunk_size`: ~16 MiB of scores per chunk on CPU).

    Values are means over evaluated users (``nan`` with a warning when there are none).
    """
    res = evaluate_detailed(score_fn, users, targets, exclude, ks, metrics, chunk_size, device)
    if res.n_users == 0:
        warnings.warn("evaluate: no user with at least one target; metrics are nan", RuntimeWarning)
    return res.means()


class FullRankingEvaluator:
    """Evaluate a model on one phase of a :class:`contrastrec.data.dataset.Dataset`.

    ``phase="valid"``: targets ``dataset.valid``, history ``dataset.train``;
    ``phase="test"``: targets ``dataset.test``, history ``dataset.train + dataset.valid``
    (``dataset.history(phase)``). Histories are ranked last; users are those with >= 1 target.
    The sparse matrices are built once here; ``__call__(score_fn)`` returns the mean metrics.
    """

    def __init__(
        self,
        dataset,
        phase: str = "valid",
        ks: Iterable[int] | int = DEFAULT_KS,
        metrics: Iterable[str] | str = METRICS,
        chunk_size: int | None = None,
        device: str | torch.device = "cpu",
        sample_users: int = 0,
        seed: int = 0,
        shard: tuple[int, int] = (0, 1),
        groups: Groups | None = None,
    ):
        if phase not in ("valid", "test"):
            raise ValueError(f"phase must be 'valid' or 'test', got {phase!r}")
        self.phase = phase
        self.ks = (ks,) if isinstance(ks, int) else tuple(int(k) for k in ks)
        self.metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        self.specs = resolve_metric_specs(self.ks, self.metrics)  # validates early
        self.chunk_size = chunk_size
        self.device = device
        n_u, n_i = int(dataset.n_users), int(dataset.n_items)
        self.targets = dataset.targets(phase).csr(n_u, n_i)
        self.exclude = dataset.history(phase).csr(n_u, n_i)
        self._prep = _prepare(self.targets, self.exclude)
        self.users = np.flatnonzero(self._prep.n_targets > 0).astype(np.int64)
        self.n_candidates = self.n_users  # users with a target
        if sample_users and sample_users < self.n_users:
            # a seeded sample of users; each is still ranked against every item
            rng = numpy_stream(seed, f"eval.users.{phase}")
            self.users = np.sort(rng.choice(self.users, size=sample_users, replace=False))
        self.sampled = self.n_users < self.n_candidates
        self.rank, self.world = shard
        self.groups = groups  # group and beyond-accuracy metrics in detailed() (groups.py)
        self._shard_users = self.users[self.rank :: self.world] if self.world > 1 else self.users

    @property
    def n_users(self) -> int:
        """Number of users evaluated (those with at least one target)."""
        return int(self.users.shape[0])

    @property
    def scored_users(self) -> np.ndarray:
        """The users this process scores (sorted): all evaluated users, or this rank's shard."""
        return self._shard_users

    @property
    def metric_names(self) -> list[str]:
        return [f"{n}@{k}" for n, k in self.specs]

    def detailed(self, score_fn: ScoreFn) -> EvaluationResult:
        """Per-user values of this process's users (all of them in one process; every
        ``world``-th in data-parallel runs)."""
        return _run(score_fn, self._shard_users, self._prep, self.ks, self.metrics, self.chunk_size, self.device,
                    self.groups)

    def __call__(self, score_fn: ScoreFn, detailed: bool = False):
        """The mean metrics; ``detailed=True``: the :class:`EvaluationResult` of this process's users
        (with the group values when ``groups`` is set) instead."""
        res = self.detailed(score_fn)
        if detailed:
            return res
        if self.world > 1:  # sharded users: reduce the per-metric sums and the user count
            from contrastrec.training.distributed import current

            keys = list(res.per_user)
            sums = torch.tensor([float(np.sum(res.per_user[k], dtype=np.float64)) for k in keys] + [res.n_users],
                                dtype=torch.float64)
            sums = current().sum(sums.to(current().device())).cpu()
            n = float(sums[-1])
            return {k: (float(sums[i]) / n if n else float("nan")) for i, k in enumerate(keys)}
        if res.n_users == 0:
            warnings.warn(
                f"FullRankingEvaluator({self.phase}): no user with a target; metrics are nan",
                RuntimeWarning,
            )
        return res.means()

    def __repr__(self) -> str:
        return (
            f"FullRankingEvaluator(phase={self.phase!r}, users={self.n_users}, "
            f"metrics={self.metric_names}, chunk_size={self.chunk_size})"
        )


__all__: Sequence[str] = (
    "evaluate",
    "evaluate_detailed",
    "EvaluationResult",
    "FullRankingEvaluator",
)
