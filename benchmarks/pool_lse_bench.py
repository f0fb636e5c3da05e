"""Time the whole-table InfoNCE (``ssl.negatives: all``): the plain ``[B, P]`` cross-entropy against
``losses.pool_lse.pool_logsumexp`` (blocked, recomputing backward), forward + backward, one thread.

    python benchmarks/pool_lse_bench.py [--anchors 4096] [--pool 42712] [--dim 32] [--temperature 0.2]
        [--blocks 524288 1048576 2097152] [--repeat 3]

Defaults: one SGL / SimGCL term of configs/yelp-sslrec/*_ref.yaml (4096 anchors against the 42,712-row
user table, cosine / 0.2). Prints the best of ``--repeat`` times per variant, the loss and the gradient
norms (which must agree), and the peak extra memory the plain form needs for its logits.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from contrastrec.losses.pool_lse import pool_logsumexp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--anchors", type=int, default=4096)
    ap.add_argument("--pool", type=int, default=42712)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--blocks", type=int, nargs="+", default=[1 << 19, 1 << 20, 1 << 21])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(a.anchors, a.dim, generator=g)).requires_grad_()
    pool = F.normalize(torch.randn(a.pool, a.dim, generator=g)).requires_grad_()
    own = torch.randint(0, a.pool, (a.anchors,), generator=g)
    scale = 1.0 / a.temperature

    def plain() -> torch.Tensor:
        return F.cross_entropy((q * scale) @ pool.t(), own)

    def blocked(block: int) -> torch.Tensor:
        qs = q * scale
        return (pool_logsumexp(qs, pool, own, None, block_elements=block) - (qs * pool[own]).sum(-1)).mean()

    variants = [("plain [B, P]", plain)] + [(f"blocked {b}", (lambda b=b: blocked(b))) for b in a.blocks]
    print(f"{a.anchors} anchors x {a.pool} pool rows x dim {a.dim}, {a.threads} thread(s); "
          f"the plain form holds {a.anchors * a.pool * 4 / 2 ** 20:.0f} MB of logits (and as much again "
          f"for its log-softmax)")
    base = None
    for name, fn in variants:
        times = []
        for _ in range(a.repeat):
            q.grad = pool.grad = None
            t = time.perf_counter()
            loss = fn()
            loss.backward()
            times.append(time.perf_counter() - t)
        best = min(times)
        base = base or best
        print(f"{name:>18}: {best:6.3f} s  (x{base / best:4.2f})  loss {loss.item():.6f}  "
              f"|dq| {q.grad.norm().item():.6f}  |dpool| {pool.grad.norm().item():.6f}")


if __name__ == "__main__":
    main()
