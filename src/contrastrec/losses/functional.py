"""Pure loss functions for recommendation and contrastive (self-supervised) learning.

Conventions (the same for every function here and for every module in ``contrastrec.losses``):

* **Reduction: mean over anchors.** Every function returns a scalar that is the mean, over the
  anchors of the batch, of a per-anchor loss. So a weight λ in ``L = L_rec + λ·L_ssl`` means the same
  thing whatever the loss. An *anchor* is a row of ``query`` (or a scored position); when an anchor
  has several negatives, its loss is a sum (softmax-type losses: the negatives share one denominator;
  ``bce_loss``, ``nce_loss``: one logistic term each) or a mean (``bpr_loss``, ``triplet_loss``: the
  mean over its pairs/triplets) as documented per function. ``symmetric=True`` averages the two
  directions' means.
* **Pairs.** ``query[i]`` and ``key[i]`` are a positive pair. Without explicit negatives, the other
  rows of ``key`` are in-batch negatives. ``positive_mask[i, j] = True`` (``[B, B]`` bool) marks key
  ``j`` as *not a negative* for anchor ``i`` (a known false negative, e.g. same target item); the
  diagonal is always the positive whatever the mask holds.
* **No negatives.** When an anchor has no negative left (one-element batch, everything masked) its
  softmax denominator holds only the positive, so its loss is exactly 0 (InfoNCE, debiased,
  hard-negative, NCE, triplet). It still counts as an anchor in the mean. Values and gradients stay
  finite.
* **Similarity.** ``"cosine"`` L2-normalises rows with ``eps=1e-8`` (a zero vector has similarity 0
  with everything, never NaN); ``"dot"`` is the raw inner product. Logits are ``similarity / T``.
* Every function works in float32 and float64 and uses ``logsumexp``/``softplus`` for stability.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "SIMILARITIES",
    "DISTANCES",
    "similarity",
    "paired_similarity",
    "bpr_loss",
    "bce_loss",
    "softmax_ce_loss",
    "sampled_softmax_loss",
    "triplet_loss",
    "nce_loss",
    "info_nce",
    "supcon_loss",
    "debiased_info_nce",
    "hard_negative_info_nce",
    "alignment_loss",
    "uniformity_loss",
    "align_uniform_loss",
    "pair_mask",
]

SIMILARITIES = ("cosine", "dot")
DISTANCES = ("squared_euclidean", "cosine")
_EPS = 1e-8


# ---------------------------------------------------------------------------------------- checks
def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")


def _check_nonnegative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")


def _check_tau_plus(tau_plus: float) -> None:
    if isinstance(tau_plus, bool) or not isinstance(tau_plus, numbers.Real) or not 0 <= tau_plus < 1:
        raise ValueError(f"tau_plus must be in [0, 1); got {tau_plus!r}")


def _check_pair(query: Tensor, key: Tensor) -> None:
    if query.dim() != 2 or key.shape != query.shape:
        raise ValueError(f"query and key must both be [B, D] with the same shape; got {tuple(query.shape)} "
                         f"and {tuple(key.shape)}")


def _check_mask(mask: Tensor | None, shape: tuple[int, ...], name: str = "positive_mask") -> None:
    if mask is None:
        return
    if mask.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor; got {mask.dtype}")
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {list(shape)}; got {list(mask.shape)}")


def pair_mask(labels: Tensor | None, positive_mask: Tensor | None, batch_size: int) -> Tensor | None:
    """Merge ``labels`` ([B] int: same label = same class) and ``positive_mask`` ([B, B] bool) into one
    ``[B, B]`` bool mask of pairs that are *not negatives* (``None`` when both are ``None``).

    Used by the modules to honour the SSL calling convention ``loss(query, key, labels, positive_mask)``.
    """
    mask = None
    if labels is not None:
        if not isinstance(labels, Tensor) or labels.dim() != 1 or labels.shape[0] != batch_size \
                or labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
            shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
            raise ValueError(f"labels must be an integer tensor of shape [{batch_size}]; got {shape} "
                             "(explicit negatives are passed as negatives=...)")
        mask = labels[:, None] == labels[None, :]
    if positive_mask is not None:
        _check_mask(positive_mask, (batch_size, batch_size))
        mask = positive_mask if mask is None else mask | positive_mask
    return mask


# ------------------------------------------------------------------------------------ similarity
def _normalize(x: Tensor) -> Tensor:
    return F.normalize(x, p=2, dim=-1, eps=_EPS)


def similarity(q: Tensor, k: Tensor, kind: str = "cosine") -> Tensor:
    """All-pairs similarity.

    * ``q [B, D]``, ``k [N, D]`` -> ``[B, N]`` with ``out[i, j] = sim(q[i], k[j])``;
    * ``q [B, D]``, ``k [B, n, D]`` -> ``[B, n]`` with ``out[i, j] = sim(q[i], k[i, j])``.

    ``kind``: ``"cosine"`` (rows L2-normalised with eps 1e-8) or ``"dot"``.
    """
    _check_choice("similarity", kind, SIMILARITIES)
    if q.dim() != 2 or k.dim() not in (2, 3) or k.shape[-1] != q.shape[-1] or (k.dim() == 3 and k.shape[0] != q.shape[0]):
        raise ValueError(f"similarity expects q [B, D] and k [N, D] or [B, n, D]; got {tuple(q.shape)}, {tuple(k.shape)}")
    if kind == "cosine":
        q, k = _normalize(q), _normalize(k)
    if k.dim() == 2:
        return q @ k.transpose(0, 1)
    return torch.einsum("bd,bnd->bn", q, k)


_similarity_matrix = similarity  # alias: the losses' ``similarity`` argument shadows the function


def paired_similarity(q: Tensor, k: Tensor, kind: str = "cosine") -> Tensor:
    """Row-wise similarity: ``q, k [B, D]`` -> ``[B]`` with ``out[i] = sim(q[i], k[i])``."""
    _check_choice("similarity", kind, SIMILARITIES)
    if kind == "cosine":
        q, k = _normalize(q), _normalize(k)
    return (q * k).sum(-1)


def _paired_distance(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """``a [..., D]``, ``b [..., D]`` (broadcast) -> distance over the last dim."""
    if kind == "cosine":
        return 1.0 - (_normalize(a) * _normalize(b)).sum(-1)
    return (a - b).pow(2).sum(-1)


def _distance_matrix(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """``a [B, D]``, ``b [N, D]`` -> ``[B, N]`` (no [B, N, D] intermediate)."""
    if kind == "cosine":
        return 1.0 - _normalize(a) @ _normalize(b).transpose(0, 1)
    sq = a.pow(2).sum(-1, keepdim=True) + b.pow(2).sum(-1)[None, :] - 2.0 * (a @ b.transpose(0, 1))
    return sq.clamp_min(0.0)


def _zero_like_graph(x: Tensor) -> Tensor:
    """A 0 that keeps ``x`` in the autograd graph (grad 0 instead of ``None``)."""
    return (x * 0.0).sum()


# ------------------------------------------------------------------------- recommendation losses
def bpr_loss(pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
    """Bayesian Personalised Ranking (Rendle et al., UAI 2009): ``mean(-log sigmoid(pos - neg))``.

    ``pos_scores [B]`` with ``neg_scores [B]`` or ``[B, n]`` (one positive against n negatives), or
    ``pos_scores`` of the same shape as ``neg_scores``. The mean is over all (positive, negative)
    pairs, i.e. the mean over anchors of each anchor's mean over its negatives.
    """
    if neg_scores.dim() == pos_scores.dim() + 1:
        pos_scores = pos_scores.unsqueeze(-1)
    elif neg_scores.shape != pos_scores.shape:
        raise ValueError(f"bpr_loss: neg_scores must be shaped like pos_scores or pos_scores + [n]; "
                         f"got {tuple(pos_scores.shape)} and {tuple(neg_scores.shape)}")
    return F.softplus(neg_scores - pos_scores).mean()


def bce_loss(pos_scores: Tensor, neg_scores: Tensor, mask: Tensor | None = None) -> Tensor:
    """Binary cross-entropy with sampled negatives, as in SASRec (Kang & McAuley, ICDM 2018).

    Per anchor (a scored position): ``-log sigmoid(pos) - sum_j log(1 - sigmoid(neg_j))``.

    * ``pos_scores``: any shape ``S`` (``[B]`` or ``[B, L]`` for sequences);
    * ``neg_scores``: ``S`` (one negative per anchor) or ``S + [n]`` (n negatives, summed);
    * ``mask``: bool of shape ``S``, True = real anchor (False = padding). The mean is over the real
      anchors; with no real anchor the loss is 0 (with a zero gradient).
    """
    per = F.softplus(-pos_scores)
    if neg_scores.shape == pos_scores.shape:
        per = per + F.softplus(neg_scores)
    elif neg_scores.dim() == pos_scores.dim() + 1 and neg_scores.shape[:-1] == pos_scores.shape:
        per = per + F.softplus(neg_scores).sum(-1)
    else:
        raise ValueError(f"bce_loss: neg_scores must be shaped like pos_scores or pos_scores + [n]; "
                         f"got {tuple(pos_scores.shape)} and {tuple(neg_scores.shape)}")
    if mask is None:
        return per.mean()
    _check_mask(mask, tuple(pos_scores.shape), "mask")
    n = mask.sum()
    if n == 0:
        return _zero_like_graph(per)
    return per.masked_fill(~mask, 0.0).sum() / n


def softmax_ce_loss(logits: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
    """Full softmax cross-entropy over all items (e.g. SASRec/BERT4Rec with the CE objective).

    ``logits [..., n_items]``, ``targets [...]`` (int64 item indices; ``ignore_index`` = no target).
    Mean over the anchors whose target is not ignored; 0 (zero gradient) when all are ignored.
    """
    if targets.is_floating_point() or logits.shape[:-1] != targets.shape:
        raise ValueError(f"softmax_ce_loss: logits [..., C] and integer targets [...] expected; got "
                         f"{tuple(logits.shape)} and {tuple(targets.shape)} ({targets.dtype})")
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_targets = targets.reshape(-1).long()
    n = (flat_targets != ignore_index).sum().clamp_min(1)  # a tensor: no host read (all ignored: the sum is 0)
    return F.cross_entropy(flat_logits, flat_targets, ignore_index=ignore_index, reduction="sum") / n


def sampled_softmax_loss(
    pos_scores: Tensor,
    neg_scores: Tensor,
    log_q_pos: Tensor | float | None = None,
    log_q_neg: Tensor | float | None = None,
    temperature: float = 1.0,
    negative_mask: Tensor | None = None,
) -> Tensor:
    """Sampled softmax with logQ correction (Yi et al., "Sampling-bias-corrected neural modeling for
    large corpus item recommendations", RecSys 2019; Bengio & Senécal 2008).

    Per anchor: ``-log softmax([s_pos/T - log q_pos, s_neg_1/T - log q_neg_1, ...])[0]``.

    * ``pos_scores [B]``; ``neg_scores [B, n]`` or ``[n]`` (negatives shared by the batch);
    * ``log_q_pos [B]`` / ``log_q_neg [B, n]`` or ``[n]`` or scalars: log sampling probabilities of
      the positive/negative items (``None`` = no correction). In-batch negatives sampled in proportion
      to popularity use ``log_q = log(popularity)``;
    * ``negative_mask [B, n]`` bool, True = keep (False removes accidental hits).
    """
    _check_positive("temperature", temperature)
    if pos_scores.dim() != 1 or neg_scores.dim() not in (1, 2) or \
            (neg_scores.dim() == 2 and neg_scores.shape[0] != pos_scores.shape[0]):
        raise ValueError(f"sampled_softmax_loss: pos_scores [B] and neg_scores [B, n] or [n] expected; got "
                         f"{tuple(pos_scores.shape)} and {tuple(neg_scores.shape)}")
    pos = pos_scores / temperature
    neg = (neg_scores / temperature).expand(pos.shape[0], neg_scores.shape[-1])
    if log_q_pos is not None:
        pos = pos - log_q_pos
    if log_q_neg is not None:
        neg = neg - log_q_neg
    if negative_mask is not None:
        _check_mask(negative_mask, tuple(neg.shape), "negative_mask")
        neg = neg.masked_fill(~negative_mask, float("-inf"))
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1)
    return (torch.logsumexp(logits, dim=1) - pos).mean()


# ------------------------------------------------------------------------------------- metric losses
def _hinge_rows(d_ap: Tensor, d_an: Tensor, margin: float, negative_mask: Tensor | None) -> Tensor:
    hinge = F.relu(d_ap.unsqueeze(1) - d_an + margin)
    if negative_mask is None:
        return hinge.mean()
    count = negative_mask.sum(1)
    per = hinge.masked_fill(~negative_mask, 0.0).sum(1) / count.clamp_min(1).to(hinge.dtype)
    return per.mean()  # anchors without negatives contribute 0


def triplet_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    distance: str = "squared_euclidean",
    negative_mask: Tensor | None = None,
) -> Tensor:
    """Triplet margin loss (Schroff et al., FaceNet, CVPR 2015; background text Eq.5):
    ``max(0, d(a, p) - d(a, n) + margin)``.

    * ``anchor, positive [B, D]``; ``negative [B, D]`` or ``[B, n, D]``;
    * ``distance``: ``"squared_euclidean"`` ``||a - b||^2`` (Eq.5) or ``"cosine"`` ``1 - cos(a, b)``;
    * ``negative_mask [B, n]`` bool, True = valid negative.

    Per anchor: the mean hinge over its (valid) negatives (0 if it has none); then mean over anchors
    (Eq.5 sums over anchors; the mean keeps λ comparable across losses).
    """
    _check_choice("distance", distance, DISTANCES)
    _check_nonnegative("margin", margin)
    if anchor.dim() != 2 or positive.shape != anchor.shape or negative.dim() not in (2, 3) \
            or negative.shape[0] != anchor.shape[0] or negative.shape[-1] != anchor.shape[-1]:
        raise ValueError(f"triplet_loss: anchor/positive [B, D] and negative [B, D] or [B, n, D] expected; got "
                         f"{tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}")
    d_ap = _paired_distance(anchor, positive, distance)
    if negative.dim() == 2:
        negative = negative.unsqueeze(1)
    d_an = _paired_distance(anchor.unsqueeze(1), negative, distance)
    _check_mask(negative_mask, tuple(d_an.shape), "negative_mask")
    return _hinge_rows(d_ap, d_an, margin, negative_mask)


def _in_batch_triplet(query: Tensor, key: Tensor, margin: float, distance: str, not_negative: Tensor | None) -> Tensor:
    """Triplet loss with every other in-batch key as a negative (mean over valid negatives per anchor)."""
    _check_choice("distance", distance, DISTANCES)
    _check_nonnegative("margin", margin)
    _check_pair(query, key)
    b = query.shape[0]
    d = _distance_matrix(query, key, distance)
    d_ap = _paired_distance(query, key, distance)
    valid = ~torch.eye(b, dtype=torch.bool, device=query.device)
    if not_negative is not None:
        valid = valid & ~not_negative
    return _hinge_rows(d_ap, d, margin, valid)


def nce_loss(
    pos_scores: Tensor,
    noise_scores: Tensor,
    log_noise_pos: Tensor | float,
    log_noise_neg: Tensor | float,
    k: int | None = None,
    noise_mask: Tensor | None = None,
) -> Tensor:
    """Noise-contrastive estimation (Gutmann & Hyvärinen, AISTATS 2010; Mnih & Teh, ICML 2012).

    Binary logistic discrimination of the data sample against k noise samples, with logits
    ``Δ(x) = s(x) - log(k · P_n(x))``. Per anchor:
    ``-log sigmoid(Δ(x_pos)) - sum_j log(1 - sigmoid(Δ(x_j)))``.

    * ``pos_scores [B]``: unnormalised log-scores ``s`` of the data samples;
    * ``noise_scores [B, k]``: scores of the noise samples;
    * ``log_noise_pos`` ([B] or scalar), ``log_noise_neg`` ([B, k], [k] or scalar): ``log P_n``;
    * ``k``: noise samples per data sample (default: ``noise_scores.shape[1]``, or per row the number
      of valid entries of ``noise_mask``);
    * ``noise_mask [B, k]`` bool, True = valid noise sample. A row with no noise sample has loss 0.
    """
    if pos_scores.dim() != 1 or noise_scores.dim() != 2 or noise_scores.shape[0] != pos_scores.shape[0]:
        raise ValueError(f"nce_loss: pos_scores [B] and noise_scores [B, k] expected; got "
                         f"{tuple(pos_scores.shape)} and {tuple(noise_scores.shape)}")
    _check_mask(noise_mask, tuple(noise_scores.shape), "noise_mask")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k <= 0):
        raise ValueError(f"k must be a positive int; got {k!r}")
    if noise_mask is None:
        has_noise = torch.full_like(pos_scores, noise_scores.shape[1] > 0, dtype=torch.bool)
        count = torch.full_like(pos_scores, float(k if k is not None else noise_scores.shape[1]))
    else:
        has_noise = noise_mask.any(1)
        count = torch.full_like(pos_scores, float(k)) if k is not None else noise_mask.sum(1).to(pos_scores.dtype)
    log_k = count.clamp_min(1.0).log()  # rows without noise are zeroed below
    d_pos = pos_scores - (log_k + log_noise_pos)
    d_neg = noise_scores - (log_k.unsqueeze(1) + log_noise_neg)
    neg_terms = F.softplus(d_neg)
    if noise_mask is not None:
        neg_terms = neg_terms.masked_fill(~noise_mask, 0.0)
    per = F.softplus(-d_pos) + neg_terms.sum(1)
    return torch.where(has_noise, per, torch.zeros_like(per)).mean()


# ----------------------------------------------------------------------------- contrastive losses
def _masked_ce_rows(logits: Tensor, removed: Tensor | None) -> Tensor:
    """Per-row ``logsumexp(row without removed entries) - row[i, i]`` for a square logit matrix
    (``F.cross_entropy`` with the diagonal as target: one fused log-softmax, about a third faster on
    CPU than ``logsumexp - diagonal`` forward and backward)."""
    if removed is not None:
        logits = logits.masked_fill(removed, float("-inf"))  # diagonal never removed: finite
    target = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, target, reduction="none")


def _clamp_correction(pos: Tensor, c: float) -> Tensor | float:
    """``pos - clamp(pos, -c, c)``: added to ``LSE - pos`` it gives ``LSE - clamp(pos)`` (0: no clamp)."""
    if not c:
        return 0.0
    return pos - pos.clamp(-c, c)


def _offdiag(mask: Tensor | None, b: int, device) -> Tensor | None:
    if mask is None:
        return None
    return mask & ~torch.eye(b, dtype=torch.bool, device=device)


def info_nce(
    query: Tensor,
    key: Tensor,
    negatives: Tensor | None = None,
    temperature: float = 0.2,
    similarity: str = "cosine",
    symmetric: bool = False,
    positive_mask: Tensor | None = None,
    pos_clamp: float = 0.0,
) -> Tensor:
    """InfoNCE / NT-Xent (van den Oord et al., CPC 2018; Chen et al., SimCLR 2020).

    Per anchor i: ``-log( e^{s(q_i,k_i)/T} / (e^{s(q_i,k_i)/T} + sum_{j in neg(i)} e^{s(q_i,n_j)/T}) )``.

    * ``query, key [B, D]``: ``(query[i], key[i])`` is the positive pair;
    * ``negatives``: ``None`` -> in-batch (the other rows of ``key``); ``[B, n, D]`` per-anchor
      negatives or ``[n, D]`` negatives shared by all anchors (then only these are negatives);
    * ``positive_mask``: in-batch ``[B, B]`` bool; True at ``[i, j]`` (j != i) removes key j from
      anchor i's denominator (known false negative; it is *not* added as a positive). With explicit
      negatives the mask is ``[B, n]`` over the negatives. The diagonal is ignored;
    * ``symmetric``: average of the query->key and key->query losses (the latter uses ``positive_mask.T``
      in-batch, and the same explicit negatives with ``key`` as anchor).

    * ``pos_clamp`` c > 0: the numerator's positive logit is clamped to ``[-c, c]`` (the denominator
      keeps it unclamped): ``-clamp(s_ii/T, -c, c) + log(sum_j e^{s_ij/T})``, LightGCL's authors' form
      (Cai et al., ICLR 2023, code HKUDS/LightGCL, c = 5); past c the positive pair gets no pull.

    One-element batch / all negatives masked: the denominator holds only the positive, loss 0.
    """
    _check_positive("temperature", temperature)
    _check_choice("similarity", similarity, SIMILARITIES)
    _check_pair(query, key)
    b = query.shape[0]
    if negatives is None:
        _check_mask(positive_mask, (b, b))
        removed = _offdiag(positive_mask, b, query.device)
        # 1/T folded into the (normalised) queries: one [B, D] scaling instead of a [B, B] division
        qs = (_normalize(query) if similarity == "cosine" else query) * (1.0 / temperature)
        logits = qs @ (_normalize(key) if similarity == "cosine" else key).t()
        clamp = _clamp_correction(logits.diagonal(), pos_clamp)
        loss = (_masked_ce_rows(logits, removed) + clamp).mean()
        if symmetric:
            loss_t = _masked_ce_rows(logits.transpose(0, 1), None if removed is None else removed.transpose(0, 1))
            loss = 0.5 * (loss + (loss_t + clamp).mean())
        return loss
    if negatives.dim() not in (2, 3) or negatives.shape[-1] != query.shape[1] or \
            (negatives.dim() == 3 and negatives.shape[0] != b):
        raise ValueError(f"negatives must be [B, n, D] or [n, D]; got {tuple(negatives.shape)} for query "
                         f"{tuple(query.shape)}")
    n = negatives.shape[-2]
    _check_mask(positive_mask, (b, n))

    cosine = similarity == "cosine"
    keys = _normalize(negatives) if cosine else negatives

    def direction(anchor: Tensor, positive: Tensor) -> Tensor:
        # 1/T folded into the anchors; log(e^pos + sum e^neg) without concatenating a [B, n+1] copy
        # (the negatives may be a whole embedding table: ssl.negatives=all)
        a = (_normalize(anchor) if cosine else anchor) * (1.0 / temperature)
        pos = (a * (_normalize(positive) if cosine else positive)).sum(-1)
        neg = a @ keys.t() if keys.dim() == 2 else torch.einsum("bd,bnd->bn", a, keys)
        if positive_mask is not None:
            neg = neg.masked_fill(positive_mask, float("-inf"))
        return (torch.logaddexp(pos, torch.logsumexp(neg, dim=1)) - pos + _clamp_correction(pos, pos_clamp)).mean()

    loss = direction(query, key)
    if symmetric:
        loss = 0.5 * (loss + direction(key, query))
    return loss


def supcon_loss(
    features: Tensor,
    labels: Tensor | None = None,
    temperature: float = 0.07,
    similarity: str = "cosine",
    positive_mask: Tensor | None = None,
) -> Tensor:
    """Supervised contrastive loss, L_out variant (Khosla et al., NeurIPS 2020, Eq.2).

    ``features [B, D]`` (one view) or ``[B, V, D]`` (V views per sample); all B·V views are anchors.
    For anchor a with positives P(a) (every *other* view whose sample has the same label, or whose
    sample j has ``positive_mask[i, j]``) and A(a) = every view except a:
    ``L_a = -1/|P(a)| sum_{p in P(a)} log( e^{s_ap/T} / sum_{c in A(a)} e^{s_ac/T} )``.

    * ``labels [B]`` int (``None``: each sample is its own class, i.e. SimCLR/NT-Xent over the views);
    * ``positive_mask [B, B]`` bool: extra same-class pairs (sample level, applied to all views).

    Mean over the anchors that have at least one positive; 0 (with a zero gradient) when none has.
    (The reference implementation's ``T / base_temperature`` factor is not applied.)
    """
    _check_positive("temperature", temperature)
    _check_choice("similarity", similarity, SIMILARITIES)
    if features.dim() == 2:
        features = features.unsqueeze(1)
    if features.dim() != 3:
        raise ValueError(f"supcon_loss: features must be [B, D] or [B, V, D]; got {tuple(features.shape)}")
    b, v, d = features.shape
    same = pair_mask(labels, positive_mask, b)
    if same is None:
        same = torch.eye(b, dtype=torch.bool, device=features.device)
    else:
        same = same | torch.eye(b, dtype=torch.bool, device=features.device)
    flat = features.transpose(0, 1).reshape(v * b, d)  # view-major: row v*B + i
    sample = torch.arange(b, device=features.device).repeat(v)
    self_mask = torch.eye(v * b, dtype=torch.bool, device=features.device)
    pos = same[sample][:, sample] & ~self_mask
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        return _zero_like_graph(features)
    logits = _similarity_matrix(flat, flat, similarity) / temperature
    log_prob = logits - torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1, keepdim=True)
    mean_log_prob_pos = log_prob.masked_fill(~pos, 0.0).sum(1) / n_pos.clamp_min(1).to(logits.dtype)
    return -mean_log_prob_pos[has_pos].mean()


def _debiased_rows(
    logits: Tensor,
    not_negative: Tensor | None,
    temperature: float,
    tau_plus: float,
    beta: float,
    clamp: bool,
) -> Tensor:
    """Per-row debiased / hard-negative InfoNCE for a square logit matrix (positive on the diagonal).

    Works in log space: ``log Ng`` from logsumexps, the clamp ``Ng >= e^{-1/T}`` as a ``where``.
    """
    b = logits.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=logits.device)
    pos = logits.diagonal()
    ninf = float("-inf")
    if not_negative is None:  # negatives: the off-diagonal entries; the only positive: the diagonal
        if b < 2:
            return pos * 0.0  # no negatives: loss 0, with a (zero) gradient
        has_neg = torch.ones_like(pos, dtype=torch.bool)
        n_neg = torch.full_like(pos, float(b - 1))
        masked = logits.masked_fill(eye, ninf)  # one [B, B] pass, shared by the logsumexps below

        def neg_logits(scale: float) -> Tensor:
            return masked if scale == 1.0 else scale * masked
    else:
        neg_valid = ~eye & ~not_negative
        has_neg = neg_valid.any(1)
        safe_valid = neg_valid | ~has_neg.unsqueeze(1)  # rows without negatives: any finite stand-in
        n_neg = safe_valid.sum(1).to(logits.dtype)

        def neg_logits(scale: float) -> Tensor:
            return (logits if scale == 1.0 else scale * logits).masked_fill(~safe_valid, ninf)
    # log of the (importance-reweighted) mean of e^{l} over negatives:
    #   mean_j w_j e^{l_j}, w_j = e^{beta l_j} / mean_k e^{beta l_k}  ==  sum e^{(1+beta) l} / sum e^{beta l}
    if beta == 0:
        log_neg_mean = torch.logsumexp(neg_logits(1.0), 1) - n_neg.log()
    else:
        log_neg_mean = torch.logsumexp(neg_logits(1.0 + beta), 1) - torch.logsumexp(neg_logits(beta), 1)
    valid = torch.ones_like(has_neg)
    log_ng = log_neg_mean
    if tau_plus > 0:
        if not_negative is None:
            log_pos_mean = pos
        else:
            pos_set = eye | not_negative
            n_pos = pos_set.sum(1).to(logits.dtype)
            log_pos_mean = torch.logsumexp(logits.masked_fill(~pos_set, ninf), 1) - n_pos.log()
        ratio = torch.exp(math.log(tau_plus) + log_pos_mean - log_neg_mean)
        valid = ratio < 1
        ratio = torch.where(valid, ratio, torch.zeros_like(ratio))
        log_ng = log_neg_mean + torch.log1p(-ratio) - math.log1p(-tau_plus)
    if clamp:
        floor = -1.0 / temperature
        use = valid & (log_ng > floor)
        log_ng = torch.where(use, log_ng, torch.full_like(log_ng, floor))
    per = F.softplus(n_neg.log() + log_ng - pos)  # -log(e^pos / (e^pos + N Ng))
    return torch.where(has_neg, per, torch.zeros_like(per))


def debiased_info_nce(
    query: Tensor,
    key: Tensor,
    temperature: float = 0.2,
    tau_plus: float = 0.1,
    similarity: str = "cosine",
    positive_mask: Tensor | None = None,
    symmetric: bool = False,
) -> Tensor:
    """Debiased contrastive loss (Chuang et al., NeurIPS 2020; background text Eq.2-4), in-batch.

    With ``l = s/T``, per anchor i, over its N negatives ``u`` and M positives ``v``:
    ``Ng = max( (mean_u e^{l(q_i,u)} - tau_plus * mean_v e^{l(q_i,v)}) / (1 - tau_plus), e^{-1/T} )``,
    ``loss_i = -log( e^{l_ii} / (e^{l_ii} + N * Ng) )``.

    * Negatives: the other rows of ``key`` except those with ``positive_mask[i, j]``;
    * Positives (for the correction term only): the diagonal key plus the masked keys (M = 1 without
      a mask). The numerator is always the diagonal pair.
    * ``tau_plus`` in [0, 1) is the class prior η+. With ``tau_plus=0`` and the clamp inactive, this
      is exactly :func:`info_nce`. Note the clamp ``e^{-1/T}`` (the smallest value of e^{cos/T}) is
      applied for every ``tau_plus``, as in the reference implementation.
    * An anchor with no negative has loss 0. ``symmetric`` averages both directions.
    """
    _check_positive("temperature", temperature)
    _check_tau_plus(tau_plus)
    _check_choice("similarity", similarity, SIMILARITIES)
    _check_pair(query, key)
    b = query.shape[0]
    _check_mask(positive_mask, (b, b))
    removed = _offdiag(positive_mask, b, query.device)
    logits = _similarity_matrix(query, key, similarity) / temperature
    loss = _debiased_rows(logits, removed, temperature, tau_plus, 0.0, True).mean()
    if symmetric:
        rt = None if removed is None else removed.transpose(0, 1)
        loss = 0.5 * (loss + _debiased_rows(logits.transpose(0, 1), rt, temperature, tau_plus, 0.0, True).mean())
    return loss


def hard_negative_info_nce(
    query: Tensor,
    key: Tensor,
    temperature: float = 0.2,
    beta: float = 1.0,
    tau_plus: float = 0.0,
    similarity: str = "cosine",
    positive_mask: Tensor | None = None,
    symmetric: bool = False,
) -> Tensor:
    """Hard-negative contrastive loss (Robinson et al., "Contrastive learning with hard negative
    samples", ICLR 2021), in-batch, optionally debiased.

    Negatives are importance-weighted with ``w_j ∝ e^{beta * l_j}`` (``l = s/T``), normalised so the
    mean weight over the anchor's negatives is 1; the reweighted mean ``mean_j w_j e^{l_j}`` replaces
    the plain mean of :func:`debiased_info_nce`. The weights are not detached (as in the reference
    code). ``beta = 0`` gives back the unweighted loss.

    * ``tau_plus = 0``: ``loss_i = -log(e^{l_ii} / (e^{l_ii} + N * mean_j w_j e^{l_ij}))``, no clamp
      (so ``beta=0, tau_plus=0`` equals :func:`info_nce`);
    * ``tau_plus > 0``: debiased as in :func:`debiased_info_nce`, same clamp ``Ng >= e^{-1/T}``
      (so ``beta=0`` equals :func:`debiased_info_nce`).

    ``positive_mask``, no-negative anchors and ``symmetric``: as in :func:`debiased_info_nce`.
    """
    _check_positive("temperature", temperature)
    _check_nonnegative("beta", beta)
    _check_tau_plus(tau_plus)
    _check_choice("similarity", similarity, SIMILARITIES)
    _check_pair(query, key)
    b = query.shape[0]
    _check_mask(positive_mask, (b, b))
    removed = _offdiag(positive_mask, b, query.device)
    logits = _similarity_matrix(query, key, similarity) / temperature
    clamp = tau_plus > 0
    loss = _debiased_rows(logits, removed, temperature, tau_plus, float(beta), clamp).mean()
    if symmetric:
        rt = None if removed is None else removed.transpose(0, 1)
        loss = 0.5 * (loss + _debiased_rows(logits.transpose(0, 1), rt, temperature, tau_plus, float(beta), clamp).mean())
    return loss


# --------------------------------------------------------------------------- alignment / uniformity
def alignment_loss(x: Tensor, y: Tensor, alpha: float = 2.0) -> Tensor:
    """Alignment (Wang & Isola, ICML 2020): ``mean_i ||x̂_i - ŷ_i||_2^alpha`` on L2-normalised rows.

    ``x, y [B, D]``. The gradient at a zero distance is 0 for every ``alpha > 0``.
    """
    _check_positive("alpha", alpha)
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(f"alignment_loss: x and y must be [B, D]; got {tuple(x.shape)}, {tuple(y.shape)}")
    sq = (_normalize(x) - _normalize(y)).pow(2).sum(1)
    if alpha == 2:
        return sq.mean()
    nonzero = sq > 0
    safe = torch.where(nonzero, sq, torch.ones_like(sq))
    return torch.where(nonzero, safe.pow(alpha / 2.0), torch.zeros_like(sq)).mean()


def uniformity_loss(x: Tensor, t: float = 2.0) -> Tensor:
    """Uniformity (Wang & Isola, ICML 2020): ``log mean_{i<j} e^{-t ||x̂_i - x̂_j||^2}`` on L2-normalised rows.

    ``x [B, D]``; computed with logsumexp (no ``pdist``, whose gradient is NaN at a zero distance).
    Fewer than two rows: 0 (zero gradient).
    """
    _check_positive("t", t)
    if x.dim() != 2:
        raise ValueError(f"uniformity_loss: x must be [B, D]; got {tuple(x.shape)}")
    b = x.shape[0]
    if b < 2:
        return _zero_like_graph(x)
    xn = _normalize(x)
    sq = _distance_matrix(xn, xn, "squared_euclidean")
    iu = torch.triu_indices(b, b, offset=1, device=x.device)
    vals = -t * sq[iu[0], iu[1]]
    return torch.logsumexp(vals, 0) - math.log(vals.numel())


def align_uniform_loss(user: Tensor, item: Tensor, gamma: float = 1.0) -> Tensor:
    """DirectAU (Wang et al., "Towards representation alignment and uniformity in collaborative
    filtering", KDD 2022): ``align(user, item) + gamma * (unif(user) + unif(item)) / 2``.

    ``user, item [B, D]``: row i is an observed (user, item) pair; alpha = 2, t = 2 as in the paper.
    """
    _check_nonnegative("gamma", gamma)
    return alignment_loss(user, item) + gamma * 0.5 * (uniformity_loss(user) + uniformity_loss(item))
