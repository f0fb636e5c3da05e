"""Row-wise log-sum-exp of ``q @ pool.T`` without the ``[B, P]`` matrix: the denominator of an InfoNCE
whose negatives are a whole embedding table (``ssl.negatives: all``; SGL's and SSLRec's form).

``pool_logsumexp(q [B, D], pool [P, D], own [B], pos [B] | None) -> [B]``::

    L = q @ pool.T                       # [B, P], never held whole
    L[i, own[i]] = pos[i]                # when pos is given (the positive replaces the anchor's own slot)
    out[i] = logsumexp_j L[i, j]

The plain form materialises ``L`` (``B * P * 4`` bytes: 700 MB for 4096 anchors against yelp's 42,712
users), then its log-softmax for the backward pass, and makes several passes over both; on a CPU those
passes, not the arithmetic, cost the time. Here the rows are processed in blocks of about
``block_elements`` logits: the forward pass keeps only the ``[B]`` result, the backward pass
recomputes each block's logits (one more ``[b, D] @ [D, P]`` product) and turns it into gradients
in place. The same blocked recomputation as memory-efficient attention (Rabe & Staats 2021;
FlashAttention, Dao et al. 2022), applied to a softmax over a table instead of over keys.

Exact up to float rounding (the sums are taken in a different order; terms below e^-60 of the row's
largest count as e^-60); tested against the plain
form, values and gradients, in ``tests/losses/test_pool_lse.py``.
"""
from __future__ import annotations

import torch
from torch import Tensor

BLOCK_ELEMENTS = 1 << 20  # logits per block (4 MB of float32): measured fastest on one CPU thread
# exponents are floored at FLOOR: e^-60 = 8.7e-27 stands for anything smaller. Its effect on a sum that
# holds e^0 = 1 is below 1e-20 for a million-row pool, and it keeps exp() and the products after it out
# of the denormal range (below 1.2e-38), which x86 computes up to 30x slower (measured here: dot
# similarity with large logits ran at 34 ns per exp)
FLOOR = -60.0


class _PoolLSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, pool: Tensor, own: Tensor, pos: Tensor | None, rows: int) -> Tensor:
        b = q.shape[0]
        out = q.new_empty(b)
        for s in range(0, b, rows):
            e = min(s + rows, b)
            logits = q[s:e] @ pool.t()
            if pos is not None:
                logits[torch.arange(e - s, device=q.device), own[s:e]] = pos[s:e]
            m = logits.amax(dim=1)
            out[s:e] = logits.sub_(m[:, None]).clamp_(min=FLOOR).exp_().sum(dim=1).log_().add_(m)
        ctx.rows = rows
        ctx.has_pos = pos is not None
        ctx.save_for_backward(q, pool, own, pos if pos is not None else q.new_empty(0), out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        q, pool, own, pos, out = ctx.saved_tensors
        rows, has_pos = ctx.rows, ctx.has_pos
        need_q, need_pool = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_pos = has_pos and ctx.needs_input_grad[3]
        gq = torch.zeros_like(q) if need_q else None
        gpool = torch.zeros_like(pool) if need_pool else None
        gpos = torch.zeros_like(pos) if need_pos else None
        # softmax times the incoming gradient. On a CPU as exp(L - out + log|grad|) * sign(grad), the
        # exponent floored at FLOOR: no denormal products (a sign pass only where some grad is <= 0; the
        # test is a host read, free on a CPU). Elsewhere exp(L - out) * grad, without a host read.
        cpu = q.device.type == "cpu"
        shift = out - grad.abs().log() if cpu else out
        signed = bool((grad <= 0).any()) if cpu else False
        b = q.shape[0]
        for s in range(0, b, rows):
            e = min(s + rows, b)
            r = torch.arange(e - s, device=q.device)
            w = q[s:e] @ pool.t()
            if has_pos:
                w[r, own[s:e]] = pos[s:e]
            w.sub_(shift[s:e, None]).clamp_(min=FLOOR).exp_()  # d out_i / d L_ij = softmax_ij
            if not cpu:
                w.mul_(grad[s:e, None])
            elif signed:
                w.mul_(grad[s:e, None].sign())
            if has_pos:  # the own slot holds pos, not q_i . pool_own: its weight goes to pos
                if need_pos:
                    gpos[s:e] = w[r, own[s:e]]
                w[r, own[s:e]] = 0.0
            if need_q:
                gq[s:e] = w @ pool
            if need_pool:
                gpool.addmm_(w.t(), q[s:e])
        return gq, gpool, None, gpos, None


def pool_logsumexp(q: Tensor, pool: Tensor, own: Tensor, pos: Tensor | None = None,
                   block_elements: int = BLOCK_ELEMENTS) -> Tensor:
    """``logsumexp_j (q @ pool.T)[i, j]`` per row ``i``, with the slot ``own[i]`` holding ``pos[i]``
    instead when ``pos`` is given. ``q [B, D]``, ``pool [P, D]``, ``own [B]`` long (pool rows),
    ``pos [B]`` or ``None``; returns ``[B]``, differentiable in ``q``, ``pool`` and ``pos``.
    Computed in float32 or float64 (half inputs are promoted); memory ``O(block_elements)`` beyond
    the inputs and gradients."""
    if q.dim() != 2 or pool.dim() != 2 or q.shape[1] != pool.shape[1]:
        raise ValueError(f"q [B, D] and pool [P, D] needed; got {tuple(q.shape)} and {tuple(pool.shape)}")
    if own.shape != (q.shape[0],) or (pos is not None and pos.shape != (q.shape[0],)):
        raise ValueError(f"own and pos must be [B] = [{q.shape[0]}]; got {tuple(own.shape)}"
                         f"{'' if pos is None else ' and ' + str(tuple(pos.shape))}")
    if block_elements < 1:
        raise ValueError(f"block_elements must be >= 1; got {block_elements}")
    dtype = torch.promote_types(torch.promote_types(q.dtype, pool.dtype), torch.float32)
    q, pool = q.to(dtype), pool.to(dtype)
    pos = None if pos is None else pos.to(dtype)
    rows = max(1, block_elements // max(1, pool.shape[0]))
    with torch.autocast(device_type=q.device.type, enabled=False):
        return _PoolLSE.apply(q, pool, own, pos, rows)
