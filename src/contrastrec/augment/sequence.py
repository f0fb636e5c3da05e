"""Sequence augmentations for contrastive sequential recommendation.

* crop / mask / reorder: CL4SRec, Xie et al., "Contrastive Learning for Sequential
  Recommendation", ICDE 2022.
* substitute / insert (with item correlations) and the short-sequence rule: CoSeRec, Liu et al.,
  "Contrastive Self-supervised Sequential Recommendation with Robust Augmentation", arXiv
  2108.06479, 2021.
* mask_items (cloze masking, returns the mask too): BERT4Rec, Sun et al., "BERT4Rec: Sequential
  Recommendation with Bidirectional Encoder Representations from Transformer", CIKM 2019.

Conventions
-----------
A batch is a ``LongTensor[B, L]`` of item **tokens**, LEFT-padded with 0 (item index ``i`` has
token ``i + 1``). The ``n`` real items of a row occupy its last ``n`` positions (this is assumed,
not checked, to keep the hot path sync-free). Every function returns a new left-padded ``[B, L]``
tensor of the same dtype and device, never mutates its input, works on the whole batch at once (no
per-sequence Python loop) and takes ``generator: torch.Generator | None`` (numbers are drawn on the
generator's device, so a seeded CPU generator gives the same result for data on any device).

Counts use ``floor(ratio * n)`` computed in float64, i.e. Python's ``int(ratio * n)`` as in the
reference implementations (so e.g. ``0.7 * 10`` gives 7 but ``0.29 * 100`` gives 28).

Differences from the CoSeRec / ICLRec reference code (YChen1993/CoSeRec, salesforce/ICLRec,
``src/data_augmentation.py``), all deliberate:

* the start of a crop / reorder window is uniform over all ``n - w + 1`` positions (the reference
  draws ``randint(0, n - w - 1)`` and so never picks the last window);
* mask writes ``mask_token`` (the reference writes 0, the padding id);
* the reference's long-sequence ``Reorder`` is built with ``beta=gamma`` (0.7); here reorder uses
  its own ratio.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from contrastrec.augment._common import check_int, check_ratio, rand
from contrastrec.augment.base import RandomChoice, SequenceTransform, select_rows

__all__ = [
    "crop", "mask", "reorder", "substitute", "insert", "mask_items",
    "Crop", "Mask", "Reorder", "Substitute", "Insert",
    "ItemCorrelation", "CL4SRecAugment", "CoSeRecAugment",
]


# --------------------------------------------------------------------------- helpers
def _check_seqs(seqs: torch.Tensor) -> None:
    if not isinstance(seqs, torch.Tensor) or seqs.dim() != 2:
        raise ValueError(f"seqs must be a 2-D tensor [B, L], got {type(seqs).__name__} "
                         f"{tuple(seqs.shape) if isinstance(seqs, torch.Tensor) else ''}")
    if seqs.is_floating_point() or seqs.is_complex() or seqs.dtype == torch.bool:
        raise ValueError(f"seqs must hold integer tokens, got dtype {seqs.dtype}")


def _real(seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(real mask [B, L], number of real items n [B])."""
    real = seqs != 0
    return real, real.sum(1)


def _count(n: torch.Tensor, ratio: float, at_least_one: bool = False) -> torch.Tensor:
    """floor(ratio * n) per row (float64, Python ``int()`` semantics); optionally >= 1 when n > 0."""
    k = torch.floor(n.to(torch.float64) * ratio).long()
    k = torch.minimum(k, n)
    if at_least_one:
        k = torch.where(n > 0, k.clamp(min=1), k)
    return k


def _random_start(n: torch.Tensor, w: torch.Tensor, generator, device) -> torch.Tensor:
    """Uniform start in [0, n - w] per row."""
    u = rand((n.shape[0],), generator, device, dtype=torch.float64)
    span = (n - w + 1).clamp(min=1)
    return torch.minimum(torch.floor(u * span).long(), span - 1)


def _random_subset(real: torch.Tensor, k: torch.Tensor, generator) -> torch.Tensor:
    """Bool [B, L]: exactly ``k[b]`` real positions of row b, uniformly without replacement."""
    b, length = real.shape
    keys = rand((b, length), generator, real.device).masked_fill(~real, 2.0)
    order = keys.argsort(dim=1)
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(length, device=real.device).expand(b, length))
    return ranks < k.unsqueeze(1)


def _resolve_table(correlated, device) -> torch.Tensor:
    if isinstance(correlated, ItemCorrelation):
        return correlated.table_on(device)
    if not isinstance(correlated, torch.Tensor):
        correlated = torch.as_tensor(np.asarray(correlated))
    if correlated.dim() not in (1, 2) or correlated.is_floating_point() or correlated.dtype == torch.bool:
        raise ValueError("correlated must be an integer LongTensor[n_items+1] or [n_items+1, k] of tokens")
    if correlated.dim() == 2 and correlated.shape[1] == 0:
        raise ValueError("correlated table has no columns")
    return correlated.to(device=device, dtype=torch.long)


def _correlated_tokens(table: torch.Tensor, seqs: torch.Tensor, generator) -> torch.Tensor:
    """Correlated token for every position of ``seqs`` ([B, L]); 0 where there is none.

    ``table`` is [V] (one correlate per token) or [V, K] (a column is drawn uniformly per position).
    Tokens outside the table (e.g. the mask token) have no correlate.
    """
    # lookups use gather on the flattened table: advanced indexing (table[t]) goes through a
    # parallel kernel that is ~100x slower for small batches on a busy multi-threaded CPU
    v = table.shape[0]
    inside = (seqs > 0) & (seqs < v)
    t = torch.where(inside, seqs, torch.zeros_like(seqs)).long()
    kk = 1 if table.dim() == 1 else table.shape[1]
    flat = t.reshape(-1) * kk
    if kk > 1:
        col = (rand(seqs.shape, generator, seqs.device) * kk).long().clamp_(max=kk - 1)
        flat = flat + col.reshape(-1)
    cand = table.reshape(-1).gather(0, flat).view_as(seqs)
    return torch.where(inside, cand, torch.zeros_like(cand)).to(seqs.dtype)


# --------------------------------------------------------------------------- functions
def crop(seqs: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Item crop (CL4SRec, Xie et al. ICDE 2022, eq. "crop" with proportion eta).

    Keeps a random contiguous sub-sequence of length ``c = max(1, floor(ratio * n))`` of each row's
    ``n`` real items, right-aligned (left-padded). Empty rows stay empty.

    Args:
        seqs: ``LongTensor[B, L]`` left-padded tokens.
        ratio: eta in [0, 1].
    Returns:
        ``LongTensor[B, L]``.
    """
    _check_seqs(seqs)
    ratio = check_ratio("ratio", ratio)
    b, length = seqs.shape
    _, n = _real(seqs)
    c = _count(n, ratio, at_least_one=True)
    s = _random_start(n, c, generator, seqs.device)
    p = torch.arange(length, device=seqs.device).unsqueeze(0)
    src = (p + (s + c - n).unsqueeze(1)).clamp_(0, length - 1)
    keep = p >= (length - c).unsqueeze(1)
    return torch.where(keep, seqs.gather(1, src), torch.zeros_like(seqs))


def mask(seqs: torch.Tensor, ratio: float, mask_token: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Item mask (CL4SRec, Xie et al. ICDE 2022, proportion gamma).

    Replaces exactly ``floor(ratio * n)`` uniformly chosen real positions of each row with
    ``mask_token``; all other positions (and all padding) are unchanged.

    Args:
        seqs: ``LongTensor[B, L]`` left-padded tokens.
        ratio: gamma in [0, 1].
        mask_token: token written at masked positions (models use ``n_items + 1``).
    Returns:
        ``LongTensor[B, L]``.
    """
    _check_seqs(seqs)
    ratio = check_ratio("ratio", ratio)
    mask_token = check_int("mask_token", mask_token, minimum=1)
    real, n = _real(seqs)
    sel = _random_subset(real, _count(n, ratio), generator)
    return torch.where(sel, torch.full_like(seqs, mask_token), seqs)


def mask_items(
    seqs: torch.Tensor, p: float, mask_token: int, generator: torch.Generator | None = None, last_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cloze masking (BERT4Rec, Sun et al. CIKM 2019, Sec. 3.6): which items a masked-item
    prediction objective must recover.

    Each real (non-zero) position is replaced by ``mask_token`` independently with probability
    ``p`` (a Bernoulli draw per position, as RecBole's ``MaskItemSequence``; the authors' data
    generator masks a fixed count ``max(1, round(p * n))``, at most ``max_predictions_per_seq``,
    instead, so a row may here have no masked item). With probability ``last_p`` a row is instead a *last-item sample*: only its last real
    item is masked, the paper's samples that make training match prediction (a mask after the
    history). Padding is never masked.

    Draws, in this order: ``U[0, 1)`` of shape ``[B, L]`` (position masked iff ``u < p``), then,
    only when ``last_p > 0``, ``U[0, 1)`` of shape ``[B]`` (last-item sample iff ``v < last_p``).

    Args:
        seqs: ``LongTensor[B, L]`` left-padded tokens.
        p: masking probability of each item, in [0, 1].
        mask_token: token written at masked positions (models use ``n_items + 1``).
        last_p: share of last-item samples, in [0, 1].
    Returns:
        ``(masked LongTensor[B, L], mask BoolTensor[B, L])``: the mask is True where an item was
        replaced, so ``seqs[mask]`` are the targets of the masked positions.
    """
    _check_seqs(seqs)
    p = check_ratio("p", p)
    last_p = check_ratio("last_p", last_p)
    mask_token = check_int("mask_token", mask_token, minimum=1)
    real = seqs != 0
    sel = (rand(seqs.shape, generator, seqs.device) < p) & real
    if last_p > 0 and seqs.shape[1] > 0:
        last_only = rand((seqs.shape[0],), generator, seqs.device) < last_p
        last = torch.zeros_like(real)
        last[:, -1] = real[:, -1]  # left-padded: the last real item is in the last column
        sel = torch.where(last_only.unsqueeze(1), last, sel)
    return torch.where(sel, torch.full_like(seqs, mask_token), seqs), sel


def reorder(seqs: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Item reorder (CL4SRec, Xie et al. ICDE 2022, proportion beta).

    Shuffles a random contiguous window of ``w = floor(ratio * n)`` real items of each row;
    everything outside the window keeps its position.

    Args:
        seqs: ``LongTensor[B, L]`` left-padded tokens.
        ratio: beta in [0, 1].
    Returns:
        ``LongTensor[B, L]`` (a permutation of each row, within one window).
    """
    _check_seqs(seqs)
    ratio = check_ratio("ratio", ratio)
    b, length = seqs.shape
    _, n = _real(seqs)
    w = _count(n, ratio)
    a = (length - n + _random_start(n, w, generator, seqs.device)).unsqueeze(1)  # window start (absolute)
    # Only a [B, W] slice is sorted, W = floor(ratio * L) >= every row's window (no host sync).
    wmax = int(math.floor(float(length) * ratio))
    if wmax < 2:
        return seqs.clone()
    j = torch.arange(wmax, device=seqs.device).unsqueeze(0)
    inside = j < w.unsqueeze(1)
    # in-window keys are uniform in [0, 1); the rest keep their order after them
    key = torch.where(inside, rand((b, wmax), generator, seqs.device), 2.0 + j.float())
    perm = key.argsort(dim=1)
    src = (a + j).clamp(max=length - 1)
    shuffled = seqs.gather(1, src).gather(1, perm)
    dest = torch.where(inside, a + j, torch.full_like(src, length))  # outside the window: dummy column
    out = torch.cat([seqs, seqs.new_zeros(b, 1)], dim=1)
    out.scatter_(1, dest, shuffled)
    return out[:, :length].contiguous()


def substitute(
    seqs: torch.Tensor, ratio: float, correlated, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Item substitute (CoSeRec, Liu et al. 2021).

    Replaces ``max(1, floor(ratio * n))`` uniformly chosen real items of each row by a correlated
    item. A position whose token has no correlate (table entry 0, or a token outside the table
    such as the mask token) is left unchanged.

    Args:
        seqs: ``LongTensor[B, L]`` left-padded tokens.
        ratio: substitute rate in [0, 1].
        correlated: ``LongTensor[n_items+1]`` (token -> its most correlated other token) or
            ``LongTensor[n_items+1, k]`` (a column is sampled uniformly per position), or an
            :class:`ItemCorrelation`. Row 0 (padding) maps to 0.
    Returns:
        ``LongTensor[B, L]``.
    """
    _check_seqs(seqs)
    ratio = check_ratio("ratio", ratio)
    table = _resolve_table(correlated, seqs.device)
    real, n = _real(seqs)
    sel = _random_subset(real, _count(n, ratio, at_least_one=True), generator)
    cand = _correlated_tokens(table, seqs, generator)
    return torch.where(sel & (cand != 0), cand, seqs)


def insert(
    seqs: torch.Tensor, ratio: float, correlated, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Item insert (CoSeRec, Liu et al. 2021).

    Picks ``max(1, floor(ratio * n))`` uniformly chosen real items of each row and inserts one
    correlated item right BEFORE each of them (as in the CoSeRec reference code). The row grows by
    that many items; if it no longer fits in ``L`` the oldest items are dropped (the most recent
    ``L`` are kept). Items without a correlate get no insertion.

    The "at least one" follows the reference (``max(int(rate * n), 1)``): for short sequences,
    where CoSeRec only uses insert and substitute, a plain floor would often insert nothing.

    Args:
        seqs: ``LongTensor[B, L]`` left-padded tokens.
        ratio: insert rate in [0, 1].
        correlated: as in :func:`substitute`.
    Returns:
        ``LongTensor[B, L]``.
    """
    _check_seqs(seqs)
    ratio = check_ratio("ratio", ratio)
    table = _resolve_table(correlated, seqs.device)
    b, length = seqs.shape
    real, n = _real(seqs)
    sel = _random_subset(real, _count(n, ratio, at_least_one=True), generator)
    cand = _correlated_tokens(table, seqs, generator)
    ins = sel & (cand != 0)
    # slot 2p holds the inserted item (if any), slot 2p+1 the original item at position p
    vals = torch.stack([cand, seqs], dim=2).reshape(b, 2 * length)
    valid = torch.stack([ins, real], dim=2).reshape(b, 2 * length)
    vi = valid.long()
    after = vi.sum(1, keepdim=True) - vi.cumsum(1)  # valid slots strictly to the right
    keep = valid & (after < length)
    dest = torch.where(keep, length - 1 - after, torch.full_like(after, length))
    out = torch.zeros((b, length + 1), dtype=seqs.dtype, device=seqs.device)
    out.scatter_(1, dest, torch.where(keep, vals, torch.zeros_like(vals)))
    return out[:, :length].contiguous()


# --------------------------------------------------------------------------- item correlation
def _flatten_sequences(obj, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(sequence id, 0-based item index) arrays, grouped by sequence in original order."""
    if hasattr(obj, "users") and hasattr(obj, "items"):  # contrastrec.data.Split
        seq = np.asarray(obj.users, dtype=np.int64)
        items = np.asarray(obj.items, dtype=np.int64)
    elif isinstance(obj, (torch.Tensor, np.ndarray)) and np.ndim(obj) == 2:  # [B, L] tokens
        tok = obj.detach().cpu().numpy() if isinstance(obj, torch.Tensor) else np.asarray(obj)
        tok = tok.astype(np.int64)
        keep = (tok > 0) & (tok <= n_items)  # drop padding and mask tokens
        seq = np.nonzero(keep)[0].astype(np.int64)
        items = tok[keep] - 1
    else:
        seqs = [np.asarray(s, dtype=np.int64).ravel() for s in obj]
        lens = np.array([len(s) for s in seqs], dtype=np.int64)
        seq = np.repeat(np.arange(len(seqs), dtype=np.int64), lens)
        items = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item indices must be in [0, {n_items}), got range [{items.min()}, {items.max()}]")
    order = np.argsort(seq, kind="stable")
    return seq[order], items[order]


def _cyclic_fill(cands: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """cands [R, m] whose first counts[r] entries are valid -> [R, k] repeating them cyclically.

    Rows with count 0 get 0 (no correlate)."""
    r = cands.shape[0]
    j = np.arange(k)[None, :]
    c = np.maximum(counts, 1)[:, None]
    if cands.shape[1] == 0:
        return np.zeros((r, k), dtype=cands.dtype)
    out = np.take_along_axis(cands, j % c, axis=1)
    out[counts == 0] = 0
    return out


def _merge_candidates(tables: list[torch.Tensor], scores: list[torch.Tensor], k: int, chunk: int = 8192):
    """Per row, the k best distinct candidates of the concatenated tables (ties: earlier table first)."""
    cand = torch.cat(tables, dim=1)
    sc = torch.cat(scores, dim=1).to(torch.float64)
    m = cand.shape[1]
    earlier = torch.ones(m, m, dtype=torch.bool).tril(-1)  # earlier[i, j] = j < i
    out_t = torch.empty(cand.shape[0], k, dtype=cand.dtype)
    out_s = torch.empty(cand.shape[0], k, dtype=torch.float64)
    for s in range(0, cand.shape[0], chunk):
        c = cand[s : s + chunk]
        v = sc[s : s + chunk].clone()
        dup = ((c.unsqueeze(2) == c.unsqueeze(1)) & earlier).any(2)
        v[dup | (c == 0)] = -math.inf
        order = torch.sort(v, dim=1, descending=True, stable=True).indices[:, :k]
        out_t[s : s + chunk] = c.gather(1, order)
        out_s[s : s + chunk] = v.gather(1, order)
    return out_t, out_s


class ItemCorrelation:
    """Item-item correlation table used by :func:`substitute` / :func:`insert` (CoSeRec).

    ``table``: ``LongTensor[n_items+1, top_k]`` of tokens; row ``t`` lists the items most correlated
    with token ``t`` (best first), row 0 (padding) is all 0.

    Two sources, as in CoSeRec (Liu et al. 2021, Sec. "Item correlation"):

    * memory-based (:meth:`from_sequences`): co-occurrence in the training sequences, ItemCF-IUF
      style: ``C_ij = sum_s w_s [i, j co-occur in s]`` with ``w_s = 1 / log(1 + |s|)`` (inverse user
      frequency; ``|s|`` = number of distinct items of the sequence), normalized
      ``C_ij / sqrt(N_i N_j)`` where ``N_i`` = number of sequences containing ``i``. With
      ``window=None`` any two items of a sequence co-occur (the reference's ``ItemCF_IUF``, its
      default similarity model); with ``window=w`` only pairs at most ``w`` positions apart do.
      Built with scipy sparse matrices (no dense ``n_items^2``).
    * model-based (:meth:`update_from_embeddings`): cosine top-k neighbours of the item
      embeddings, computed in chunks.

    Hybrid rule (``mode="hybrid"``, switched on by :meth:`update_from_embeddings`): the reference
    code (YChen1993/CoSeRec, ``_ensmeble_sim_models``) min-max normalizes each model's similarity
    scores to [0, 1] over the whole catalog and, per item, uses the candidate whose normalized
    score is higher (ties go to the memory model). Here that is generalised to ``top_k``: per item
    the ``top_k`` best distinct candidates of both lists by normalized score. Memory scores are
    normalized over all non-zero co-occurrence scores, embedding scores as
    ``(cos - min cos) / (1 - min cos)``. The reference switches to the hybrid after
    ``augmentation_warm_up_epoches`` (160 by default, 220 in its Beauty script) and refreshes the
    embedding similarities every epoch after that: call :meth:`update_from_embeddings` from the
    model's ``on_epoch_start`` hook once the warm-up is over.

    Items without any co-occurring neighbour get the most popular other items (score -1, so the
    hybrid prefers embedding neighbours); rows with fewer than ``top_k`` neighbours repeat them
    cyclically (so sampling a column stays uniform over the real neighbours).
    """

    MODES = ("memory", "model", "hybrid")

    def __init__(self, table: torch.Tensor, scores: torch.Tensor | None = None):
        table = torch.as_tensor(table)
        if table.dim() == 1:
            table = table.unsqueeze(1)
        if table.dim() != 2 or table.shape[0] < 1 or table.shape[1] < 1 or table.is_floating_point():
            raise ValueError("table must be an integer tensor [n_items+1, top_k]")
        table = table.to(torch.long).cpu().contiguous()
        if scores is None:
            scores = torch.zeros(table.shape, dtype=torch.float64)
        scores = torch.as_tensor(scores, dtype=torch.float64).cpu()
        if scores.shape != table.shape:
            raise ValueError(f"scores shape {tuple(scores.shape)} != table shape {tuple(table.shape)}")
        self.n_items = table.shape[0] - 1
        if table.numel() and (table.min() < 0 or table.max() > self.n_items):
            raise ValueError(f"table tokens must be in [0, {self.n_items}]")
        self.memory_table = table
        self.memory_scores = scores
        self.model_table: torch.Tensor | None = None
        self.model_scores: torch.Tensor | None = None
        self._hybrid: tuple[torch.Tensor, torch.Tensor] | None = None
        self._mode = "memory"
        self._cache: dict = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_sequences(
        cls,
        seqs_or_split,
        n_items: int,
        window: int | None = None,
        top_k: int = 1,
        iuf: bool = True,
    ) -> "ItemCorrelation":
        """Memory-based correlations from training sequences.

        Args:
            seqs_or_split: a :class:`contrastrec.data.Split` (0-based item indices, grouped by
                user in time order), an iterable of 1-D sequences of 0-based item indices, or a
                ``[B, L]`` tensor/array of left-padded TOKENS (0 and tokens > n_items ignored).
            n_items: catalog size.
            window: ``None`` = whole sequence (CoSeRec's ItemCF-IUF); ``w >= 1`` = pairs at most
                ``w`` positions apart.
            top_k: neighbours kept per item (CoSeRec uses the top-1).
            iuf: weight each sequence by ``1 / log(1 + |s|)`` (ItemCF-IUF) instead of 1 (ItemCF).
        """
        n_items = check_int("n_items", n_items, minimum=1)
        top_k = check_int("top_k", top_k, minimum=1)
        if window is not None:
            window = check_int("window", window, minimum=1)
        seq, items = _flatten_sequences(seqs_or_split, n_items)
        _, seq = np.unique(seq, return_inverse=True) if seq.size else (None, seq)
        seq = seq.astype(np.int64).ravel()
        n_seq = int(seq.max()) + 1 if seq.size else 0

        key = np.unique(seq * n_items + items)
        useq, uitem = key // n_items, key % n_items
        n_distinct = np.bincount(useq, minlength=n_seq).astype(np.float64)
        w_seq = 1.0 / np.log1p(np.maximum(n_distinct, 1.0)) if iuf else np.ones(n_seq)
        freq = np.bincount(uitem, minlength=n_items).astype(np.float64)  # N_i

        if window is None:
            xb = sp.csr_matrix((np.ones(len(useq)), (useq, uitem)), shape=(n_seq, n_items))
            xw = sp.csr_matrix((w_seq[useq], (useq, uitem)), shape=(n_seq, n_items))
            c = (xb.T @ xw).tocsr()
            c.setdiag(0)
        else:
            rows, cols, vals = [], [], []
            for d in range(1, window + 1):
                if d >= len(items):
                    break
                same = seq[d:] == seq[:-d]
                a, bb = items[:-d][same], items[d:][same]
                wt = w_seq[seq[:-d][same]]
                ok = a != bb
                a, bb, wt = a[ok], bb[ok], wt[ok]
                rows += [a, bb]
                cols += [bb, a]
                vals += [wt, wt]
            if rows:
                rows_a, cols_a, vals_a = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
            else:
                rows_a = cols_a = np.zeros(0, dtype=np.int64)
                vals_a = np.zeros(0)
            c = sp.csr_matrix((vals_a, (rows_a, cols_a)), shape=(n_items, n_items))
        c.sum_duplicates()
        c.eliminate_zeros()
        c.sort_indices()

        indptr, indices = c.indptr.astype(np.int64), c.indices.astype(np.int64)
        row_of = np.repeat(np.arange(n_items, dtype=np.int64), np.diff(indptr))
        s = c.data / np.sqrt(freq[row_of] * freq[indices])
        # sort each row by descending score (ties: smaller item index first)
        order = np.lexsort((indices, -s, row_of))
        sorted_cols, sorted_s = indices[order], s[order]
        counts = np.diff(indptr)
        if s.size:
            smin, smax = float(s.min()), float(s.max())
            norm = (sorted_s - smin) / (smax - smin) if smax > smin else np.ones_like(sorted_s)
        else:
            norm = sorted_s

        m = int(min(top_k, counts.max() if counts.size else 0))
        j = np.arange(max(m, 0))[None, :]
        pos = indptr[:-1, None] + np.minimum(j, np.maximum(counts - 1, 0)[:, None])
        pos = np.minimum(pos, max(sorted_cols.size - 1, 0))  # empty rows: replaced by the fallback
        if sorted_cols.size and m > 0:
            cand_c, cand_s = sorted_cols[pos], norm[pos]
        else:
            cand_c = np.zeros((n_items, 0), dtype=np.int64)
            cand_s = np.zeros((n_items, 0))
        eff = np.minimum(counts, top_k)
        tab = _cyclic_fill(cand_c + 1, eff, top_k)  # tokens
        scr = _cyclic_fill(cand_s, eff, top_k).astype(np.float64)

        empty = np.nonzero(counts == 0)[0]
        if empty.size:  # fallback: most popular other items
            pop = np.argsort(-freq, kind="stable")[: top_k + 1]
            cands = np.broadcast_to(pop, (empty.size, pop.size))
            is_self = cands == empty[:, None]
            o = np.argsort(is_self, axis=1, kind="stable")
            cands = np.take_along_axis(cands, o, axis=1)
            valid = np.minimum(pop.size - is_self.sum(1), top_k)
            tab[empty] = _cyclic_fill(cands + 1, valid, top_k)
            scr[empty] = -1.0

        table = np.zeros((n_items + 1, top_k), dtype=np.int64)
        scores = np.zeros((n_items + 1, top_k), dtype=np.float64)
        table[1:], scores[1:] = tab, scr
        return cls(torch.from_numpy(table), torch.from_numpy(scores))

    @torch.no_grad()
    def update_from_embeddings(
        self, item_emb: torch.Tensor, top_k: int | None = None, chunk_size: int | None = None,
        mode: str = "hybrid",
    ) -> "ItemCorrelation":
        """Model-based correlations: cosine top-k neighbours of ``item_emb`` (``[n_items, D]``,
        row i = item index i, no padding row), computed in row chunks of ``chunk_size`` (default:
        about 16M similarities per chunk). Sets :attr:`mode` (default ``"hybrid"``). Returns self.
        """
        if not isinstance(item_emb, torch.Tensor) or item_emb.dim() != 2 or item_emb.shape[0] != self.n_items:
            raise ValueError(
                f"item_emb must be a [n_items={self.n_items}, D] tensor, got "
                f"{tuple(item_emb.shape) if isinstance(item_emb, torch.Tensor) else type(item_emb).__name__}"
            )
        k = self.memory_table.shape[1] if top_k is None else check_int("top_k", top_k, minimum=1)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        n = self.n_items
        e = F.normalize(item_emb.detach().float(), dim=1)
        kk = min(k, n - 1)
        table = torch.zeros(n + 1, k, dtype=torch.long)
        cos = torch.zeros(n + 1, k, dtype=torch.float64)
        if kk > 0:
            chunk = chunk_size or max(1, (1 << 24) // n)
            chunk = check_int("chunk_size", chunk, minimum=1)
            gmin = math.inf
            idx_all, val_all = [], []
            for s in range(0, n, chunk):
                sims = e[s : s + chunk] @ e.t()
                gmin = min(gmin, float(sims.min()))
                r = torch.arange(sims.shape[0], device=sims.device)
                sims[r, r + s] = -math.inf
                v, i = sims.topk(kk, dim=1)
                idx_all.append(i.cpu())
                val_all.append(v.cpu().double())
            idx = torch.cat(idx_all) + 1
            val = torch.cat(val_all)
            if kk < k:  # tiny catalogs: repeat cyclically
                sel = torch.arange(k) % kk
                idx, val = idx[:, sel], val[:, sel]
            denom = 1.0 - gmin
            table[1:] = idx
            cos[1:] = (val - gmin) / denom if denom > 0 else torch.ones_like(val)
        self.model_table, self.model_scores = table, cos
        self._hybrid = None
        self._cache.clear()
        self.mode = mode
        return self

    # ------------------------------------------------------------------ access
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {value!r}")
        if value != "memory" and self.model_table is None:
            raise ValueError(f"mode {value!r} needs update_from_embeddings() first")
        self._mode = value

    @property
    def top_k(self) -> int:
        return int(self.table.shape[1])

    @property
    def table(self) -> torch.Tensor:
        """Current ``LongTensor[n_items+1, top_k]`` of tokens (CPU) for :attr:`mode`."""
        if self._mode == "memory":
            return self.memory_table
        if self._mode == "model":
            return self.model_table  # type: ignore[return-value]
        if self._hybrid is None:
            k = self.model_table.shape[1]  # type: ignore[union-attr]
            self._hybrid = _merge_candidates(
                [self.memory_table, self.model_table], [self.memory_scores, self.model_scores], k
            )
        return self._hybrid[0]

    def table_on(self, device) -> torch.Tensor:
        """:attr:`table` on ``device`` (cached until the next update / mode change)."""
        key = (self._mode, str(torch.device(device)))
        t = self._cache.get(key)
        if t is None:
            t = self.table.to(device)
            self._cache = {key: t}
        return t

    def __repr__(self) -> str:
        return f"ItemCorrelation(n_items={self.n_items}, top_k={self.top_k}, mode={self._mode!r})"


# --------------------------------------------------------------------------- modules
class Crop(SequenceTransform):
    """Module form of :func:`crop` (CL4SRec). ``Crop(ratio=0.2)(seqs [B, L], generator) -> [B, L]``."""

    def __init__(self, ratio: float = 0.2):
        self.ratio = check_ratio("ratio", ratio)

    def __call__(self, seqs, generator=None):
        return crop(seqs, self.ratio, generator=generator)

    def _params(self):
        return f"ratio={self.ratio}"


class Mask(SequenceTransform):
    """Module form of :func:`mask` (CL4SRec). ``Mask(mask_token, ratio=0.7)``."""

    def __init__(self, mask_token: int, ratio: float = 0.7):
        self.mask_token = check_int("mask_token", mask_token, minimum=1)
        self.ratio = check_ratio("ratio", ratio)

    def __call__(self, seqs, generator=None):
        return mask(seqs, self.ratio, self.mask_token, generator=generator)

    def _params(self):
        return f"mask_token={self.mask_token}, ratio={self.ratio}"


class Reorder(SequenceTransform):
    """Module form of :func:`reorder` (CL4SRec). ``Reorder(ratio=0.2)``."""

    def __init__(self, ratio: float = 0.2):
        self.ratio = check_ratio("ratio", ratio)

    def __call__(self, seqs, generator=None):
        return reorder(seqs, self.ratio, generator=generator)

    def _params(self):
        return f"ratio={self.ratio}"


def _check_correlation(correlation):
    if isinstance(correlation, ItemCorrelation):
        return correlation
    return _resolve_table(correlation, "cpu")


class Substitute(SequenceTransform):
    """Module form of :func:`substitute` (CoSeRec). ``Substitute(correlation, ratio=0.1)``.

    ``correlation``: an :class:`ItemCorrelation` (its current table is used at every call, so
    updates / mode switches take effect) or a token table tensor.
    """

    def __init__(self, correlation, ratio: float = 0.1):
        self.correlation = _check_correlation(correlation)
        self.ratio = check_ratio("ratio", ratio)

    def __call__(self, seqs, generator=None):
        return substitute(seqs, self.ratio, self.correlation, generator=generator)

    def _params(self):
        return f"ratio={self.ratio}"


class Insert(SequenceTransform):
    """Module form of :func:`insert` (CoSeRec). ``Insert(correlation, ratio=0.4)``."""

    def __init__(self, correlation, ratio: float = 0.4):
        self.correlation = _check_correlation(correlation)
        self.ratio = check_ratio("ratio", ratio)

    def __call__(self, seqs, generator=None):
        return insert(seqs, self.ratio, self.correlation, generator=generator)

    def _params(self):
        return f"ratio={self.ratio}"


# --------------------------------------------------------------------------- presets
class CL4SRecAugment(RandomChoice):
    """CL4SRec's augmentation (Xie et al. ICDE 2022): per sequence, one of crop / mask / reorder
    chosen uniformly (vectorized with ``torch.where``, see :class:`RandomChoice`).

    Defaults ``crop_ratio`` eta = 0.2, ``mask_ratio`` gamma = 0.7, ``reorder_ratio`` beta = 0.2 are
    the defaults of the ICLRec (salesforce/ICLRec) and CoSeRec (YChen1993/CoSeRec) reference
    implementations (``--tao 0.2 --gamma 0.7 --beta 0.2`` in ``src/main.py``), which are the usual
    CL4SRec re-implementations; the CL4SRec paper itself studies each ratio over 0.1..0.9 per
    dataset rather than fixing one value. Those references mask with token 0 (padding); here the
    model's ``mask_token`` is used.

    ``__call__(seqs [B, L], generator) -> [B, L]``; ``views(seqs, n_views=self.n_views, generator)``
    gives the list of views (CL4SRec uses 2).
    """

    def __init__(self, mask_token: int, crop_ratio: float = 0.2, mask_ratio: float = 0.7,
                 reorder_ratio: float = 0.2, n_views: int = 2):
        super().__init__([Crop(crop_ratio), Mask(mask_token, mask_ratio), Reorder(reorder_ratio)])
        self.n_views = check_int("n_views", n_views, minimum=1)

    def views(self, seqs, n_views: int | None = None, generator=None):
        return super().views(seqs, self.n_views if n_views is None else n_views, generator)


_OPS = ("crop", "mask", "reorder", "substitute", "insert")


def make_sequence_ops(names, mask_token: int, aug, correlation=None) -> RandomChoice:
    """A view drawing one of the operators ``names`` per sequence (uniformly), with the ratios of
    ``aug`` (an :class:`~contrastrec.config.AugConfig`): config ``aug.ops``. ``correlation`` (an
    :class:`ItemCorrelation`, or a function returning one, called only when substitute / insert is
    used) feeds the correlated operators."""
    factories = {
        "crop": lambda: Crop(aug.crop_ratio),
        "mask": lambda: Mask(mask_token, aug.mask_ratio),
        "reorder": lambda: Reorder(aug.reorder_ratio),
        "substitute": lambda: Substitute(corr(), aug.substitute_ratio),
        "insert": lambda: Insert(corr(), aug.insert_ratio),
    }
    cache = {}

    def corr():
        if "c" not in cache:
            cache["c"] = correlation() if callable(correlation) else correlation
            if cache["c"] is None:
                raise ValueError("substitute / insert need an item correlation")
        return cache["c"]

    bad = [n for n in names if n not in factories]
    if bad or not names:
        raise ValueError(f"unknown or no sequence operators {list(names)}; choose from {_OPS}")
    return RandomChoice([factories[n]() for n in names])


class CoSeRecAugment(SequenceTransform):
    """CoSeRec's augmentation (Liu et al. 2021) with its short-sequence rule.

    A sequence with ``n <= augment_threshold`` real items is "short" and gets one operator drawn
    uniformly from ``short_ops`` (default insert / substitute, the operators that keep the meaning
    of short sequences); a longer one gets one drawn uniformly from ``long_ops`` (default all five:
    crop, mask, reorder, substitute, insert). The reference code treats ``n == threshold`` as short
    (``seq_len <= augment_threshold``); ``augment_threshold=None`` disables the rule.

    Vectorized: the operator id of each row is drawn first, every operator in use is applied to the
    whole batch, and rows are selected with ``torch.where``.

    Defaults follow the CoSeRec reference ``src/main.py``: crop 0.2, mask 0.7, reorder 0.2,
    substitute 0.1, insert 0.4, ``augment_threshold=4``, ``n_views=2``. (Its Beauty script uses
    ``--augment_threshold 12 --insert_rate 0.5 --substitute_rate 0.05``; its default short-sequence
    set is 'SIM' = substitute, insert, mask; the brief of this library asks for insert/substitute
    only, which is the reference's 'SI' option - pass ``short_ops`` to change it.)

    ``__call__(seqs [B, L], generator) -> [B, L]``; ``views(seqs, generator=...)`` returns
    ``n_views`` views.
    """

    def __init__(
        self,
        correlation,
        mask_token: int,
        n_views: int = 2,
        augment_threshold: int | None = 4,
        crop_ratio: float = 0.2,
        mask_ratio: float = 0.7,
        reorder_ratio: float = 0.2,
        substitute_ratio: float = 0.1,
        insert_ratio: float = 0.4,
        short_ops: Sequence[str] = ("insert", "substitute"),
        long_ops: Sequence[str] = _OPS,
    ):
        self.correlation = _check_correlation(correlation)
        self.mask_token = check_int("mask_token", mask_token, minimum=1)
        self.n_views = check_int("n_views", n_views, minimum=1)
        self.augment_threshold = None if augment_threshold is None else check_int(
            "augment_threshold", augment_threshold, minimum=0)
        self.ops = {
            "crop": Crop(crop_ratio),
            "mask": Mask(mask_token, mask_ratio),
            "reorder": Reorder(reorder_ratio),
            "substitute": Substitute(self.correlation, substitute_ratio),
            "insert": Insert(self.correlation, insert_ratio),
        }
        self.short_ops = self._check_ops("short_ops", short_ops)
        self.long_ops = self._check_ops("long_ops", long_ops)
        used = set(self.long_ops) | (set(self.short_ops) if self.augment_threshold is not None else set())
        self._used = [op for op in _OPS if op in used]
        self._short_ids = torch.tensor([self._used.index(o) for o in self.short_ops]) \
            if self.augment_threshold is not None else None
        self._long_ids = torch.tensor([self._used.index(o) for o in self.long_ops])

    @staticmethod
    def _check_ops(name, ops) -> tuple[str, ...]:
        if isinstance(ops, str):
            ops = (ops,)
        ops = tuple(ops)
        if not ops:
            raise ValueError(f"{name} must not be empty")
        bad = [o for o in ops if o not in _OPS]
        if bad:
            raise ValueError(f"{name}: unknown operators {bad}; choose from {_OPS}")
        if len(set(ops)) != len(ops):
            raise ValueError(f"{name} has duplicates: {ops}")
        return ops

    def sample_ops(self, seqs: torch.Tensor, generator=None) -> torch.Tensor:
        """``LongTensor[B]``: index into :attr:`operators` chosen for each row."""
        dev = seqs.device
        n = (seqs != 0).sum(1)
        u = rand((seqs.shape[0],), generator, dev, dtype=torch.float64)
        long_ids = self._long_ids.to(dev)
        op = long_ids.gather(0, torch.floor(u * len(long_ids)).long().clamp_(max=len(long_ids) - 1))
        if self.augment_threshold is not None:
            short_ids = self._short_ids.to(dev)  # type: ignore[union-attr]
            sop = short_ids.gather(0, torch.floor(u * len(short_ids)).long().clamp_(max=len(short_ids) - 1))
            op = torch.where(n <= self.augment_threshold, sop, op)
        return op

    @property
    def operators(self) -> list[str]:
        return list(self._used)

    def __call__(self, seqs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_seqs(seqs)
        op = self.sample_ops(seqs, generator)
        outputs = [self.ops[name](seqs, generator=generator) for name in self._used]
        return select_rows(outputs, op)

    def views(self, seqs, n_views: int | None = None, generator=None):
        return super().views(seqs, self.n_views if n_views is None else n_views, generator)

    def _params(self):
        return (f"threshold={self.augment_threshold}, short={self.short_ops}, long={self.long_ops}, "
                f"n_views={self.n_views}")
