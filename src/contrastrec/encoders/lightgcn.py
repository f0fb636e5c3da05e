"""LightGCN propagation (He et al., SIGIR 2020).

E^{(l+1)} = Â E^{(l)} with Â = D^{-1/2} A D^{-1/2} of the bipartite graph; the output combines
layers 0..L (``combine``): their mean (LightGCN's ``1/(L+1)`` weights, the default) or their sum
(SSLRec's LightGCN / SGL / SimGCL / NCL, the config key ``layer_aggregate``). The adjacency is a
torch sparse CSR built once; its backward uses the same product (Â is symmetric), see
:func:`contrastrec.graph.sym_spmm`.

Optional training-time edge dropout of the default graph (:meth:`LightGCNEncoder.set_edge_dropout`):
each propagation in training mode draws a graph with each undirected edge of Â dropped with
probability p, the kept entries keeping their weights (no renormalisation, no rescaling), as
SSLRec's LightGCN does with ``keep_rate`` (where the two directions of an edge are drawn apart).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from contrastrec.augment.sparse_dropout import SparseEdgeDropout
from contrastrec.graph import spmm_rows, sym_spmm

COMBINE = ("mean", "sum")  # layer combination of the encoder output
Perturb = Callable[[torch.Tensor], torch.Tensor]  # x -> perturbed x
Noise = Callable[[torch.Tensor], torch.Tensor]  # x (detached) -> additive noise like x


class LightGCNEncoder(nn.Module):
    """Shapes: ``forward(adj) -> (user_emb [n_users, D], item_emb [n_items, D])``.

    ``combine``: ``"mean"`` (default) or ``"sum"`` of the layers the output combines
    (:meth:`combine_layers`)."""

    def __init__(self, n_users: int, n_items: int, dim: int, n_layers: int, adj: torch.Tensor,
                 combine: str = "mean"):
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {n_layers}")
        if combine not in COMBINE:
            raise ValueError(f"combine must be one of {', '.join(COMBINE)}, got {combine!r}")
        self.n_users, self.n_items, self.n_layers = n_users, n_items, n_layers
        self.combine = combine
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        nn.init.xavier_uniform_(self.user_emb.weight)
        nn.init.xavier_uniform_(self.item_emb.weight)
        self.adj = adj  # not a buffer: rebuilt from data, never checkpointed
        self.edge_dropper: SparseEdgeDropout | None = None  # training-time edge dropout (set_edge_dropout)
        self.edge_dropout = 0.0

    def _apply(self, fn, *args, **kwargs):  # keep the adjacency on the module's device
        out = super()._apply(fn, *args, **kwargs)
        self.adj = fn(self.adj)
        return out

    def layer0(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def combine_layers(self, layers: Sequence[torch.Tensor]) -> torch.Tensor:
        """The encoder output of ``layers`` (each ``[*, D]``): their mean or their sum (``combine``)."""
        out = torch.stack(list(layers), 0)
        return out.sum(0) if self.combine == "sum" else out.mean(0)

    def set_edge_dropout(self, p: float) -> None:
        """In training mode, every propagation over the default graph (``adj=None``) uses a graph
        with each undirected edge of Â dropped with probability ``p``, drawn anew at each call from
        torch's global generator (which the training loop reseeds every epoch); the kept entries keep
        their weights in Â (no renormalisation, no ``1/(1-p)`` rescaling: SSLRec's LightGCN
        ``keep_rate = 1 - p``). ``p = 0`` turns it off. Evaluation mode propagates over Â."""
        if not 0.0 <= p < 1.0:
            raise ValueError(f"edge dropout must be in [0, 1), got {p}")
        self.edge_dropout = float(p)
        self.edge_dropper = SparseEdgeDropout(self.adj) if p > 0 else None

    def default_adj(self) -> torch.Tensor:
        """The graph a propagation with ``adj=None`` uses: Â, or in training mode with
        :meth:`set_edge_dropout` a freshly edge-dropped Â."""
        if self.edge_dropper is not None and self.training:
            return self.edge_dropper(self.edge_dropout, rescale=False)
        return self.adj

    def _adjs(self, adj, depth: int) -> list[torch.Tensor]:
        if isinstance(adj, list):
            if len(adj) < depth:
                raise ValueError(f"{len(adj)} adjacencies for {depth} layers")
            return adj[:depth]
        return [adj if adj is not None else self.default_adj()] * depth

    def propagate(
        self,
        adj: torch.Tensor | list[torch.Tensor] | None = None,
        perturb: Perturb | None = None,
        skip_layer0_in_mean: bool = False,
        n_layers: int | None = None,
    ) -> list[torch.Tensor]:
        """All layer outputs ``[E0, E1, ..., EL]`` (each [n_users+n_items, D]).

        ``adj`` may be one adjacency or one per layer (SGL-RW). ``perturb`` is applied to each
        layer's output (SimGCL / XSimGCL noise). ``n_layers``: propagate that many layers instead
        of the encoder's ``n_layers`` (NCL reads a layer deeper than its output combines).
        """
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        layers = [x]
        for a in self._adjs(adj, self.n_layers if n_layers is None else n_layers):
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
        if self.n_layers == 0:
            return [torch.cat([self.user_emb.weight, self.item_emb.weight], 0)[rows]]
        adjs = self._adjs(adj, self.n_layers)
        x = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
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

    def propagate_rows_views(
        self,
        rows: torch.Tensor,
        noises: Sequence[Noise | None],
    ) -> list[list[torch.Tensor]]:
        """Several views of :meth:`propagate_rows` that differ only by additive noise, from one
        differentiable propagation.

        For each ``noise`` in ``noises`` (``None``: the clean view) returns the layers
        ``[E0[rows], ..., EL[rows]]`` of ``propagate_rows(rows, perturb=lambda x: x + noise(x))``,
        where ``noise(x)`` gets the view's layer *before* its noise (detached) and returns the
        additive perturbation ``[*, D]`` (SimGCL: ``uniform_noise``, whose sign follows ``x``).

        Propagation is linear and such noise carries no gradient, so a view's layer ``l`` is the
        clean layer plus the noise propagated to it, ``N_l = Â N_{l-1} + n_l``, computed without
        autograd; only the clean propagation is differentiated, and the backward of all views
        together costs one propagation's (SimGCL's three propagations' backward become one).
        Same values and gradients as separate perturbed propagations; same noise distribution.
        """
        x0 = torch.cat([self.user_emb.weight, self.item_emb.weight], 0)
        if self.n_layers == 0:
            return [[x0[rows]] for _ in noises]
        adj = self.default_adj()
        clean, x = [x0], x0
        for _ in range(self.n_layers - 1):
            x = sym_spmm(adj, x)
            clean.append(x)
        last = spmm_rows(adj, rows, x)
        clean_rows = [e[rows] for e in clean] + [last]
        views = []
        for noise in noises:
            if noise is None:
                views.append(list(clean_rows))
                continue
            deltas = []
            with torch.no_grad():
                acc = None  # N_{l-1} over all nodes: the noise propagated into the current layer
                for e in clean[1:]:
                    pre_noise = e.detach() if acc is None else e.detach() + sym_spmm(adj, acc)
                    n = noise(pre_noise)
                    acc = n if acc is None else pre_noise.sub_(e.detach()).add_(n)  # Â N_{l-1} + n_l
                    deltas.append(acc[rows])
                prop = spmm_rows(adj, rows, acc) if acc is not None else None
                pre_noise = last.detach() if prop is None else last.detach() + prop
                n = noise(pre_noise)
                deltas.append(n if prop is None else prop.add_(n))
            views.append([clean_rows[0]] + [c + d for c, d in zip(clean_rows[1:], deltas)])
        return views

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
        return self.combine_layers(layers)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[: self.n_users], x[self.n_users :]

    def forward(
        self, adj: torch.Tensor | list[torch.Tensor] | None = None, perturb: Perturb | None = None,
        include_layer0: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        layers = self.propagate(adj, perturb)
        if not include_layer0 and len(layers) > 1:
            layers = layers[1:]
        return self.split(self.combine_layers(layers))
