"""LightGCN propagation (He et al., SIGIR 2020).

E^{(l+1)} = Â E^{(l)} with Â = D^{-1/2} A D^{-1/2} of the bipartite graph; the output is the mean
of layers 0..L. The adjacency is a torch sparse CSR built once; its backward uses the same product
(Â is symmetric), see :func:`contrastrec.graph.sym_spmm`.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from contrastrec.graph import spmm_rows, sym_spmm

Perturb = Callable[[torch.Tensor], torch.Tensor]


class LightGCNEncoder(nn.Module):
    """Shapes: ``forward(adj) -> (user_emb [n_users, D], item_emb [n_items, D])``."""

    def __init__(self, n_users: int, n_items: int, dim: int, n_layers: int, adj: torch.Tensor):
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        self.n_users, self.n_items, self.n_layers = n_users, n_items, n_layers
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        nn.init.xavier_uniform_(self.user_emb.weight)
        nn.init.xavier_uniform_(self.item_emb.weight)
        self.adj = adj  # not a buffer: rebuilt from data, never checkpointed

    def _apply(self, fn, *args, **kwargs):  # keep the adjacency on the module's device
        out = super()._apply(fn, *args, **kwargs)
        self.adj = fn(self.adj)
        return out

    def layer0(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def propagate(
        self,
        adj: torch.Tensor | list[torch.Tensor] | None = None,
        perturb: Perturb | None = None,
        skip_layer0_in_mean: bool = False,
    ) -> list[torch.Tensor]:
        """All layer outputs ``[E0, E1, ..., EL]`` (each [n_users+n_items, D]).

        ``adj`` may be one adjacency or one per layer (SGL-RW). ``perturb`` is applied to each
        layer's output (SimGCL / XSimGCL noise).
        """
        adjs = adj if isinstance(adj, list) else [adj if adj is not None else self.adj] * self.n_layers
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        layers = [x]
        for a in adjs[: self.n_layers]:
            x = sym_spmm(a, x)
            if perturb is not None:
                x = perturb(x)
            layers.append(x)
        return layers

    def propagate_rows(
        self,
        rows: torch.Tensor,
        adj: torch.Tensor | list[torch.Tensor] | None = None,
        perturb: Perturb | None = None,
    ) -> list[torch.Tensor]:
        """``[E0[rows], ..., EL[rows]]`` (each ``[R, D]``) for node ids ``rows`` ``[R]``.

        Equal to ``[E[rows] for E in propagate(adj, perturb)]``, but the last layer is computed
        on the rows' slice of the adjacency only (:func:`contrastrec.graph.spmm_rows`): a batch that
        touches R of the N nodes saves most of one product forward and backward. ``perturb`` draws
        the last layer's noise for the R rows only (same distribution, other draws).
        """
        adjs = adj if isinstance(adj, list) else [adj if adj is not None else self.adj] * self.n_layers
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        if self.n_layers == 0:
            return [x[rows]]
        layers = [x]
        for a in adjs[: self.n_layers - 1]:
            x = sym_spmm(a, x)
            if perturb is not None:
                x = perturb(x)
            layers.append(x)
        last = spmm_rows(adjs[self.n_layers - 1], rows, x)
        if perturb is not None:
            last = perturb(last)
        return [e[rows] for e in layers] + [last]

    def forward_rows(
        self,
        rows: torch.Tensor,
        adj: torch.Tensor | list[torch.Tensor] | None = None,
        perturb: Perturb | None = None,
        include_layer0: bool = True,
    ) -> torch.Tensor:
        """``[R, D]``: the rows ``rows`` (node ids; items offset by ``n_users``) of
        ``cat(forward(adj, perturb, include_layer0))``, at the cost of :meth:`propagate_rows`."""
        layers = self.propagate_rows(rows, adj, perturb)
        if not include_layer0 and len(layers) > 1:
            layers = layers[1:]
        return torch.stack(layers, 0).mean(0)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[: self.n_users], x[self.n_users :]

    def forward(
        self, adj: torch.Tensor | list[torch.Tensor] | None = None, perturb: Perturb | None = None,
        include_layer0: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        layers = self.propagate(adj, perturb)
        if not include_layer0 and len(layers) > 1:
            layers = layers[1:]
        out = torch.stack(layers, 0).mean(0)
        return self.split(out)
