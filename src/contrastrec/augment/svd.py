"""SVD view of the user-item graph (LightGCL, Cai et al., "LightGCL: Simple Yet Effective Graph
Contrastive Learning for Recommendation", ICLR 2023).

The normalised interaction matrix ``R̃ = D_u^-1/2 R D_i^-1/2`` (``[n_users, n_items]``, the
user-item block of :func:`contrastrec.graph.normalized_adjacency`) is approximated by a rank-q
truncated SVD ``R̃ ≈ U_q S_q V_q^T`` (``torch.svd_lowrank``, as the authors' code does), computed once.
The low-rank graph ``Â_svd = [[0, U S V^T], [V S U^T, 0]]`` is dense, so it is never formed: a
propagation ``Â_svd x`` is ``[U S (V^T x_items); V S (U^T x_users)]``, O((n_users + n_items) q D).

* :func:`svd_factors`: the factors ``(U [n_users, q], S [q], V [n_items, q])``;
* :class:`SVDView`: ``view(x)`` = ``Â_svd x`` for ``x [n_users + n_items, D]`` (node numbering of
  :mod:`contrastrec.graph`); ``view.propagate(x0, n_layers)``: LightGCN layers through the low-rank
  graph (``G_l = Â_svd G_{l-1}``), usable as any model's view (e.g. an SGL-style second view:
  ``encoder.split(torch.stack(view.propagate(x0, L)).mean(0))``); ``view.from_layers(layers)``:
  LightGCL's global view, whose layer ``l`` is ``Â_svd`` applied to the *main* view's layer
  ``l-1`` (``G_l = Â_svd E_{l-1}``, ``G_0 = E_0``; the authors' ``G_u_list`` / ``G_i_list``).

The factors are non-persistent buffers: they follow ``.to(device)`` but are derived from the data
(like the adjacency of :class:`~contrastrec.encoders.lightgcn.LightGCNEncoder`) and never checkpointed.
``torch.svd_lowrank`` is randomised; it draws from its own generator seeded by ``seed`` (the global
random stream is left as it was), so the same data and seed give the same factors.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from contrastrec.augment._common import check_int
from contrastrec.graph import bipartite_adjacency, sym_normalize

__all__ = ["normalized_interactions", "svd_factors", "SVDView"]


def normalized_interactions(users, items, n_users: int, n_items: int) -> torch.Tensor:
    """``D_u^-1/2 R D_i^-1/2`` as a sparse COO float32 tensor ``[n_users, n_items]`` (duplicate
    interactions collapse to one edge): the user-item block of the normalised adjacency."""
    full = sym_normalize(bipartite_adjacency(np.asarray(users), np.asarray(items), n_users, n_items))
    block = full[:n_users, n_users:].tocoo()
    idx = torch.from_numpy(np.vstack([block.row, block.col]).astype(np.int64))
    return torch.sparse_coo_tensor(idx, torch.from_numpy(block.data.astype(np.float32)),
                                   (n_users, n_items), check_invariants=False).coalesce()


def svd_factors(users, items, n_users: int, n_items: int, q: int, niter: int = 2,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rank-``q`` truncated SVD of the normalised interaction matrix (:func:`normalized_interactions`):
    ``(U [n_users, q], S [q], V [n_items, q])`` with ``R̃ ≈ U diag(S) V^T``, by ``torch.svd_lowrank``
    (``niter`` subspace iterations; 2 is torch's and the LightGCL authors' default).

    Raises ValueError when ``q`` exceeds ``min(n_users, n_items)``."""
    q = check_int("q", q, minimum=1)
    if q > min(n_users, n_items):
        raise ValueError(f"the SVD rank q={q} exceeds min(n_users, n_items) = {min(n_users, n_items)}")
    r = normalized_interactions(users, items, n_users, n_items)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        u, s, v = torch.svd_lowrank(r, q=q, niter=niter)
    return u.contiguous(), s.contiguous(), v.contiguous()


class SVDView(nn.Module):
    """The low-rank graph ``Â_svd`` of LightGCL (see the module docstring).

    ``SVDView(users, items, n_users, n_items, q=5)``; ``view(x)`` -> ``Â_svd x`` (``[N, D]``,
    ``N = n_users + n_items``); differentiable in ``x``, the factors are constants."""

    def __init__(self, users, items, n_users: int, n_items: int, q: int = 5, niter: int = 2, seed: int = 0):
        super().__init__()
        self.n_users = check_int("n_users", n_users, minimum=1)
        self.n_items = check_int("n_items", n_items, minimum=1)
        self.q = q
        u, s, v = svd_factors(users, items, self.n_users, self.n_items, q, niter=niter, seed=seed)
        self.register_buffer("u", u, persistent=False)  # [n_users, q]
        self.register_buffer("s", s, persistent=False)  # [q]
        self.register_buffer("v", v, persistent=False)  # [n_items, q]
        self.register_buffer("us", u * s, persistent=False)  # U S, precomputed as in the authors' code
        self.register_buffer("vs", v * s, persistent=False)  # V S

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``Â_svd x``: users get ``U S (V^T x_items)``, items get ``V S (U^T x_users)``."""
        xu, xi = x[: self.n_users], x[self.n_users :]
        return torch.cat([self.us @ (self.v.t() @ xi), self.vs @ (self.u.t() @ xu)], 0)

    def propagate(self, x0: torch.Tensor, n_layers: int) -> list[torch.Tensor]:
        """LightGCN layers through the low-rank graph: ``[x0, Â_svd x0, Â_svd² x0, ...]``."""
        layers = [x0]
        for _ in range(n_layers):
            layers.append(self(layers[-1]))
        return layers

    def from_layers(self, layers: list[torch.Tensor]) -> list[torch.Tensor]:
        """LightGCL's global view of the main view's layers ``[E_0, ..., E_L]``:
        ``[E_0, Â_svd E_0, ..., Â_svd E_{L-1}]``."""
        return [layers[0]] + [self(e) for e in layers[:-1]]

    def extra_repr(self) -> str:
        return f"n_users={self.n_users}, n_items={self.n_items}, q={self.q}"
