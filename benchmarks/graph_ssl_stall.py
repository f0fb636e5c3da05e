"""Does the BPR term learn while a graph contrastive term is on? A library-independent probe.

A minimal SGL-ED written in plain PyTorch (no contrastrec code): LightGCN propagation with
``torch.sparse.mm``, xavier-initialised embeddings, Adam, BPR + a cosine InfoNCE between two
edge-dropped views (10 %), re-drawn every epoch. It prints the mean BPR loss per window of steps,
so one can see whether the recommendation loss falls, for these contrastive formulations:

* ``none``: BPR alone (LightGCN);
* ``inbatch``: InfoNCE over the batch's unique users and items, in-batch negatives, mean
  reduction (contrastrec's SSL branch, SELFRec's formulation up to users/items sharing a softmax);
* ``allnodes``: every user (item) of the second view is a negative, duplicated anchors, sum over
  anchors / batch size (the formulation of the benchmark that published ``yelp-sslrec``).

Usage (one thread; ``--steps`` are optimizer steps, an epoch of yelp-sslrec at batch 4096 is 45):

    python benchmarks/graph_ssl_stall.py --variant inbatch --weight 1.0 --temperature 0.5 --steps 225
    python benchmarks/graph_ssl_stall.py --variant none --steps 225
    python benchmarks/graph_ssl_stall.py --variant inbatch --init-std 0.1 --weight 0.1 --temperature 0.2

``--warmup-steps N`` trains BPR alone for N steps before the contrastive term starts.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F


def read_lists(path: str) -> tuple[np.ndarray, np.ndarray]:
    us, its = [], []
    with open(path) as f:
        for line in f:
            p = line.split()
            us += [int(p[0])] * (len(p) - 1)
            its += [int(i) for i in p[1:]]
    return np.array(us), np.array(its)


def norm_adj(u: np.ndarray, i: np.ndarray, nu: int, ni: int) -> torch.Tensor:
    n = nu + ni
    a = sp.coo_matrix((np.ones(len(u)), (u, i + nu)), shape=(n, n))
    a = (a + a.T).tocsr()
    d = np.asarray(a.sum(1)).ravel()
    d[d == 0] = 1
    dinv = sp.diags(d ** -0.5)
    a = (dinv @ a @ dinv).tocoo()
    idx = torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(a.data).float(), a.shape, check_invariants=False).coalesce()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default="../shared/datasets/yelp-sslrec/train.txt")
    ap.add_argument("--variant", choices=["none", "inbatch", "allnodes"], default="inbatch")
    ap.add_argument("--weight", type=float, default=1.0, help="λ")
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=225)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--init-std", type=float, default=0.0, help="0: xavier uniform (the references' init)")
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--window", type=int, default=45)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", default="")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    torch.manual_seed(a.seed)
    us, its = read_lists(a.train)
    nu, ni = int(us.max()) + 1, int(its.max()) + 1
    adj = norm_adj(us, its, nu, ni)
    emb = torch.nn.Parameter(torch.empty(nu + ni, a.dim))
    if a.init_std > 0:
        torch.nn.init.normal_(emb.data, std=a.init_std)
    else:
        torch.nn.init.xavier_uniform_(emb.data[:nu])
        torch.nn.init.xavier_uniform_(emb.data[nu:])
    opt = torch.optim.Adam([emb], lr=a.lr)

    def propagate(m: torch.Tensor) -> torch.Tensor:
        x, out = emb, [emb]
        for _ in range(a.layers):
            x = torch.sparse.mm(m, x)
            out.append(x)
        return torch.stack(out).mean(0)

    def view() -> torch.Tensor:
        keep = rng.random(len(us)) >= 0.1
        return norm_adj(us[keep], its[keep], nu, ni)

    def info_nce(q, k, pool=None):
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        if pool is None:  # in-batch, mean
            return F.cross_entropy(q @ k.T / a.temperature, torch.arange(len(q)))
        pool = F.normalize(pool, dim=-1)  # all nodes, summed
        return (-(q * k).sum(-1) / a.temperature + torch.logsumexp(q @ pool.T / a.temperature, -1)).sum()

    per_epoch = (len(us) + a.batch - 1) // a.batch
    windows, bprs, t0 = [], [], time.time()
    v1 = v2 = perm = None
    for step in range(a.steps):
        b = step % per_epoch
        if b == 0:
            perm = rng.permutation(len(us))
            if a.variant != "none":
                v1, v2 = view(), view()
        idx = perm[b * a.batch:(b + 1) * a.batch]
        u, p = torch.from_numpy(us[idx]), torch.from_numpy(its[idx])
        n = torch.from_numpy(rng.integers(0, ni, len(idx)))
        x = propagate(adj)
        xu, xi = x[:nu], x[nu:]
        bpr = F.softplus(-(xu[u] * (xi[p] - xi[n])).sum(-1)).mean()
        reg = 0.5 * (emb[u].pow(2).sum() + emb[nu + p].pow(2).sum() + emb[nu + n].pow(2).sum()) / len(idx)
        loss = bpr + 1e-5 * reg
        if a.variant != "none" and step >= a.warmup_steps:
            a1, a2 = propagate(v1), propagate(v2)
            if a.variant == "inbatch":
                uu, ii = torch.unique(u), torch.unique(p) + nu
                cl = info_nce(a1[uu], a2[uu]) + info_nce(a1[ii], a2[ii])
            else:
                cl = (info_nce(a1[u], a2[u], a2[:nu]) + info_nce(a1[nu + p], a2[nu + p], a2[nu:])) / len(idx)
            loss = loss + a.weight * cl
        opt.zero_grad()
        loss.backward()
        opt.step()
        bprs.append(float(bpr.detach()))
        if (step + 1) % a.window == 0:
            rec = {"step": step + 1, "bpr": round(float(np.mean(bprs[-a.window:])), 4),
                   "mean_row_norm": round(float(emb.data.norm(dim=1).mean()), 4), "seconds": round(time.time() - t0, 1)}
            windows.append(rec)
            print(json.dumps(rec), flush=True)
    out = {"args": vars(a), "windows": windows}
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
