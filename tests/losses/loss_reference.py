"""Plain-Python (float64, explicit loops) reference implementations of the losses, straight from the
papers' formulas, to compare contrastrec.losses.functional against. Inputs: lists of lists / floats."""
from __future__ import annotations

import math

import torch

EPS = 1e-8


def tolist(x):
    return x.detach().double().tolist() if isinstance(x, torch.Tensor) else x


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def unit(a):
    n = max(math.sqrt(dot(a, a)), EPS)
    return [x / n for x in a]


def sim(a, b, kind):
    return dot(unit(a), unit(b)) if kind == "cosine" else dot(a, b)


def sqdist(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


def dist(a, b, kind):
    return 1.0 - sim(a, b, "cosine") if kind == "cosine" else sqdist(a, b)


def lse(xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def mean(xs):
    return sum(xs) / len(xs)


def log_sigmoid(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def masked(mask, i, j):
    return mask is not None and bool(mask[i][j])


# ------------------------------------------------------------------------------------ contrastive
def info_nce(q, k, negatives=None, t=0.2, kind="cosine", symmetric=False, mask=None):
    q, k, negatives, mask = tolist(q), tolist(k), tolist(negatives), tolist(mask)
    b = len(q)

    def direction(anchors, positives, mask_fn):
        losses = []
        for i in range(b):
            pos = sim(anchors[i], positives[i], kind) / t
            if negatives is None:
                negs = [sim(anchors[i], positives[j], kind) / t for j in range(b) if j != i and not mask_fn(i, j)]
            else:
                rows = negatives[i] if isinstance(negatives[0][0], list) else negatives
                negs = [sim(anchors[i], rows[j], kind) / t for j in range(len(rows)) if not mask_fn(i, j)]
            losses.append(lse([pos] + negs) - pos)
        return mean(losses)

    loss = direction(q, k, lambda i, j: masked(mask, i, j))
    if symmetric:
        if negatives is None:
            loss = 0.5 * (loss + direction(k, q, lambda i, j: masked(mask, j, i)))
        else:
            loss = 0.5 * (loss + direction(k, q, lambda i, j: masked(mask, i, j)))
    return loss


def debiased(q, k, t=0.2, tau_plus=0.1, kind="cosine", mask=None, beta=0.0, clamp=True):
    """Chuang et al. 2020 (+ Robinson et al. 2021 reweighting when beta != 0), per anchor."""
    q, k, mask = tolist(q), tolist(k), tolist(mask)
    b = len(q)
    losses = []
    for i in range(b):
        pos = math.exp(sim(q[i], k[i], kind) / t)
        neg_l = [sim(q[i], k[j], kind) / t for j in range(b) if j != i and not masked(mask, i, j)]
        pos_e = [math.exp(sim(q[i], k[j], kind) / t) for j in range(b) if j == i or masked(mask, i, j)]
        if not neg_l:
            losses.append(0.0)
            continue
        n = len(neg_l)
        imp = [math.exp(beta * l) for l in neg_l]
        w = [x / mean(imp) for x in imp]  # mean weight 1
        neg_mean = mean([wj * math.exp(l) for wj, l in zip(w, neg_l)])
        ng = (neg_mean - tau_plus * mean(pos_e)) / (1 - tau_plus)
        if clamp:
            ng = max(ng, math.exp(-1 / t))
        losses.append(-math.log(pos / (pos + n * ng)))
    return mean(losses)


def supcon(features, labels=None, t=0.07, kind="cosine", mask=None):
    f, labels, mask = tolist(features), tolist(labels), tolist(mask)
    if not isinstance(f[0][0], list):
        f = [[row] for row in f]
    b, v = len(f), len(f[0])
    labels = list(range(b)) if labels is None else labels
    views = [(i, a) for a in range(v) for i in range(b)]
    losses = []
    for x, (i, a) in enumerate(views):
        others = [(y, j, c) for y, (j, c) in enumerate(views) if y != x]
        positives = [(y, j, c) for (y, j, c) in others if labels[j] == labels[i] or masked(mask, i, j)]
        if not positives:
            continue
        denom = lse([sim(f[i][a], f[j][c], kind) / t for (_, j, c) in others])
        losses.append(-mean([sim(f[i][a], f[j][c], kind) / t - denom for (_, j, c) in positives]))
    return mean(losses) if losses else 0.0


def nce(pos, noise, log_pn_pos, log_pn_neg, k=None, noise_mask=None):
    pos, noise, noise_mask = tolist(pos), tolist(noise), tolist(noise_mask)
    losses = []
    for i in range(len(pos)):
        cols = [j for j in range(len(noise[i])) if noise_mask is None or noise_mask[i][j]]
        if not cols:
            losses.append(0.0)
            continue
        kk = k if k is not None else len(cols)
        lp = log_pn_pos if isinstance(log_pn_pos, float) else tolist(log_pn_pos)[i]
        loss = -log_sigmoid(pos[i] - math.log(kk) - lp)
        for j in cols:
            ln = log_pn_neg if isinstance(log_pn_neg, float) else tolist(log_pn_neg)[i][j]
            loss -= log_sigmoid(-(noise[i][j] - math.log(kk) - ln))
        losses.append(loss)
    return mean(losses)


def triplet(anchor, positive, negative, margin=1.0, kind="squared_euclidean", negative_mask=None):
    a, p, n, negative_mask = tolist(anchor), tolist(positive), tolist(negative), tolist(negative_mask)
    losses = []
    for i in range(len(a)):
        negs = n[i] if isinstance(n[i][0], list) else [n[i]]
        hinges = [max(0.0, dist(a[i], p[i], kind) - dist(a[i], negs[j], kind) + margin)
                  for j in range(len(negs)) if negative_mask is None or negative_mask[i][j]]
        losses.append(mean(hinges) if hinges else 0.0)
    return mean(losses)


# ---------------------------------------------------------------------------------- recommendation
def bpr(pos, neg):
    pos, neg = tolist(pos), tolist(neg)
    terms = []
    for i in range(len(pos)):
        for nj in (neg[i] if isinstance(neg[i], list) else [neg[i]]):
            terms.append(-log_sigmoid(pos[i] - nj))
    return mean(terms)


def sampled_softmax(pos, neg, log_q_pos=None, log_q_neg=None, t=1.0, negative_mask=None):
    pos, neg = tolist(pos), tolist(neg)
    log_q_pos, log_q_neg, negative_mask = tolist(log_q_pos), tolist(log_q_neg), tolist(negative_mask)
    losses = []
    for i in range(len(pos)):
        p = pos[i] / t - (log_q_pos[i] if log_q_pos is not None else 0.0)
        row = neg[i] if isinstance(neg[0], list) else neg
        logits = [p]
        for j, s in enumerate(row):
            if negative_mask is not None and not negative_mask[i][j]:
                continue
            lq = 0.0 if log_q_neg is None else (log_q_neg[i][j] if isinstance(log_q_neg[0], list) else log_q_neg[j])
            logits.append(s / t - lq)
        losses.append(lse(logits) - p)
    return mean(losses)


# --------------------------------------------------------------------------- alignment/uniformity
def alignment(x, y, alpha=2.0):
    x, y = tolist(x), tolist(y)
    return mean([math.sqrt(sqdist(unit(a), unit(b))) ** alpha for a, b in zip(x, y)])


def uniformity(x, t=2.0):
    x = [unit(r) for r in tolist(x)]
    vals = [math.exp(-t * sqdist(x[i], x[j])) for i in range(len(x)) for j in range(i + 1, len(x))]
    return math.log(mean(vals))
