"""A learnable hypergraph view of one node type (HCCF: Xia et al., "Hypergraph Contrastive
Collaborative Filtering", SIGIR 2022; authors' code akaxlh/HCCF ``torchVersion/Model.py``, also
SSLRec ``models/general_cf/hccf.py``).

The hypergraph has ``K`` hyperedges shared by all ``n`` nodes of one type (users, or items). Its
incidence matrix is not read from data but parameterised by the nodes' embeddings and a learnable
projection ``W [D, K]`` (the paper's low-rank "parameterized hypergraph structure learning"):

    Λ = s · E W                                   [n, K]   (s: ``scale``, the reference codes' ``mult``)

and one round of hypergraph message passing (node -> hyperedge -> node) of features ``X [n, D]`` is

    HGNN(Λ, X) = σ(Λ σ(Λᵀ X))                      [n, D]

with σ a LeakyReLU of slope ``negative_slope`` (1.0, the identity, reproduces the authors' torch code,
where the activations are commented out, and SSLRec's ``leaky: 1.0``). The ``n × n`` matrix ``Λ Λᵀ`` is
never formed: the product costs O(n K D).

While training, the entries of Λ may be dropped (inverted dropout, kept entries × 1/(1-p), the
reference codes' ``F.dropout(Λ, 1 - keep_rate)``), a fresh mask per call; draws come from
``generator`` (default: torch's global generator), so a model that seeds it per epoch resumes exactly.

* :class:`LearnableHypergraph`: ``hg(emb, x=None, p=0.0, generator=None)`` -> ``HGNN(drop(Λ(emb)), x)``;
  the pieces are :meth:`~LearnableHypergraph.incidence`, :func:`drop_entries` and
  :meth:`~LearnableHypergraph.propagate`, so a model can compute Λ once per step and propagate
  several layers through it with a new dropout mask each (as HCCF does).

The paper's version has, besides, ``c`` residual fully-connected layers across the hyperedge
dimension between the two halves of the message passing (the authors' TensorFlow code); the
authors' torch code and SSLRec omit them, and so does this module.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from contrastrec.augment._common import check_int, check_ratio, rand_bulk

__all__ = ["LearnableHypergraph", "drop_entries"]


def drop_entries(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout of the entries of ``x`` (any shape): each entry is zeroed with probability
    ``p`` and the kept ones are multiplied by ``1/(1-p)``. ``p = 0`` returns ``x`` itself; ``p = 1``
    zeros. Draws from ``generator`` (or torch's global generator; large CPU draws through
    :func:`~contrastrec.augment._common.rand_bulk`, seeded by one draw from it)."""
    p = check_ratio("p", p)
    if p == 0.0:
        return x
    if p == 1.0:
        return torch.zeros_like(x)
    keep = rand_bulk(x.shape, generator, x.device) >= p
    return x * keep.to(x.dtype) * (1.0 / (1.0 - p))


class LearnableHypergraph(nn.Module):
    """``K`` learnable hyperedges over ``n`` nodes of one type, embeddings of size ``D``.

    ``LearnableHypergraph(dim=D, n_hyperedges=K, negative_slope=1.0, scale=1.0)``; parameter
    ``weight [D, K]`` (xavier-uniform, as the reference codes).

    * ``incidence(emb [n, D]) -> Λ [n, K]`` = ``scale · emb @ weight``;
    * ``propagate(lam [n, K], x [n, D]) -> [n, D]`` = ``σ(Λ σ(Λᵀ x))``;
    * ``forward(emb, x=None, p=0.0, generator=None)``: ``propagate(drop_entries(incidence(emb), p), x)``
      with ``x = emb`` by default; the dropout acts in training mode only.
    """

    def __init__(self, dim: int, n_hyperedges: int = 128, negative_slope: float = 1.0, scale: float = 1.0):
        super().__init__()
        self.dim = check_int("dim", dim, minimum=1)
        self.n_hyperedges = check_int("n_hyperedges", n_hyperedges, minimum=1)
        self.negative_slope = float(negative_slope)
        self.scale = float(scale)
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.dim, self.n_hyperedges)))

    def act(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.negative_slope == 1.0 else F.leaky_relu(x, self.negative_slope)

    def incidence(self, emb: torch.Tensor) -> torch.Tensor:
        """``Λ = scale · emb @ weight``: ``[n, K]``, each node's membership of each hyperedge."""
        lam = emb @ self.weight
        return lam if self.scale == 1.0 else lam * self.scale

    def propagate(self, lam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``σ(Λ σ(Λᵀ x))``: nodes -> hyperedges (``[K, D]``) -> nodes (``[n, D]``)."""
        return self.act(lam @ self.act(lam.t() @ x))

    def forward(self, emb: torch.Tensor, x: torch.Tensor | None = None, p: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        lam = self.incidence(emb)
        if self.training:
            lam = drop_entries(lam, p, generator)
        return self.propagate(lam, emb if x is None else x)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, n_hyperedges={self.n_hyperedges}, negative_slope={self.negative_slope}, "
                f"scale={self.scale}")
