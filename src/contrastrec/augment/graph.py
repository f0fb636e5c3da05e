"""Graph augmentations of the user-item bipartite graph (SGL, Wu et al., "Self-supervised Graph
Learning for Recommendation", SIGIR 2021).

Functions first (PyTorch Geometric style: they return masks), then thin ``nn.Module`` wrappers:

* :func:`dropout_edge` (SGL-ED edge dropout), :func:`dropout_node` (SGL-ND node dropout),
* :func:`augmented_adjacency`: the re-normalized ``D^-1/2 A D^-1/2`` of the kept edges,
* :class:`EdgeDropout`, :class:`NodeDropout`, :class:`RandomWalk` (SGL-RW):
  ``module(n_layers, generator) -> list of n_layers adjacencies``.

Node numbering follows :mod:`contrastrec.graph`: users ``0..n_users-1``, items
``n_users..n_users+n_items-1``. Adjacencies are symmetric ``torch.sparse_csr`` float32 tensors of
shape ``[n_users+n_items, n_users+n_items]``; use :func:`contrastrec.graph.sym_spmm` to propagate.

Dropout here is Bernoulli per edge / node (probability ``p``), as in PyG. The SGL reference code
(wujcan/SGL-Torch) instead drops an exact number (``int(|E| (1-p))`` kept edges, ``n p`` dropped
nodes), available with ``exact=True``. SGL's default ratio is ``p = 0.1`` (``ssl_ratio`` in
``conf/SGL.ini``), the default here. SGL regenerates the two views once per epoch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from contrastrec.augment._common import check_int, check_ratio, rand, randperm
from contrastrec.graph import bipartite_adjacency, normalized_adjacency, sym_normalize, to_torch_csr

__all__ = [
    "dropout_edge", "dropout_node", "augmented_adjacency",
    "EdgeDropout", "NodeDropout", "RandomWalk",
]


def _n_edges(users, items) -> int:
    nu, ni = len(users), len(items)
    if nu != ni:
        raise ValueError(f"users and items must have the same length, got {nu} and {ni}")
    return nu


def _device_of(x) -> torch.device:
    return x.device if isinstance(x, torch.Tensor) else torch.device("cpu")


# On CPU the element-wise work is done in numpy: torch's intra-op thread pool makes these
# 100k-element ops several times slower on a busy machine, and numpy is as fast when idle.
def _keep(n: int, p: float, generator, device, exact: bool, n_drop: int | None = None) -> torch.Tensor:
    """BoolTensor[n]: Bernoulli(1 - p) keeps, or exactly ``n_drop`` (default int(n * p)) uniformly
    chosen drops when ``exact``."""
    cpu = device.type == "cpu"
    if exact:
        drop = randperm(n, generator, device)[: int(n * p) if n_drop is None else n_drop]
        if cpu:
            keep = np.ones(n, dtype=bool)
            keep[drop.numpy()] = False
            return torch.from_numpy(keep)
        keep = torch.ones(n, dtype=torch.bool, device=device)
        keep[drop] = False
        return keep
    r = rand((n,), generator, device)
    return torch.from_numpy(r.numpy() >= p) if cpu else r >= p


def dropout_edge(
    users, items, p: float = 0.1, training: bool = True, generator: torch.Generator | None = None,
    exact: bool = False,
) -> torch.Tensor:
    """SGL edge dropout (SGL-ED): each interaction edge is dropped with probability ``p``.

    Args:
        users, items: ``[n_edges]`` int arrays/tensors (0-based indices) of the interactions.
        p: drop probability in [0, 1].
        training: ``False`` returns an all-True mask (no-op).
        exact: drop exactly ``|E| - int(|E| (1 - p))`` edges chosen uniformly (SGL reference)
            instead of independent Bernoulli draws.
    Returns:
        ``BoolTensor[n_edges]``: True = keep (on the device of ``users`` if it is a tensor).
    """
    p = check_ratio("p", p)
    n = _n_edges(users, items)
    dev = _device_of(users)
    if not training or p == 0.0:
        return torch.ones(n, dtype=torch.bool, device=dev)
    if exact:  # SGL keeps int(|E| (1 - p)) edges
        return _keep(n, p, generator, dev, True, n_drop=n - int(n * (1 - p)))
    return _keep(n, p, generator, dev, False)


def dropout_node(
    users, items, n_users: int, n_items: int, p: float = 0.1, training: bool = True,
    generator: torch.Generator | None = None, exact: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SGL node dropout (SGL-ND): each user and each item node is dropped with probability ``p``
    together with all its edges.

    Args:
        users, items: ``[n_edges]`` interactions (0-based indices).
        n_users, n_items: node counts.
        p: drop probability in [0, 1].
        training: ``False`` keeps everything.
        exact: drop exactly ``int(n_users p)`` users and ``int(n_items p)`` items (SGL reference).
    Returns:
        ``(edge_keep [n_edges], user_keep [n_users], item_keep [n_items])`` BoolTensors; an edge is
        kept iff both its endpoints are kept.
    """
    p = check_ratio("p", p)
    n_users = check_int("n_users", n_users, minimum=0)
    n_items = check_int("n_items", n_items, minimum=0)
    n = _n_edges(users, items)
    dev = _device_of(users)
    if not training or p == 0.0:
        return (torch.ones(n, dtype=torch.bool, device=dev), torch.ones(n_users, dtype=torch.bool, device=dev),
                torch.ones(n_items, dtype=torch.bool, device=dev))
    uk = _keep(n_users, p, generator, dev, exact)
    ik = _keep(n_items, p, generator, dev, exact)
    if dev.type == "cpu":
        edge = uk.numpy()[_as_numpy(users).astype(np.int64)] & ik.numpy()[_as_numpy(items).astype(np.int64)]
        return torch.from_numpy(edge), uk, ik
    u = torch.as_tensor(users, device=dev).long()
    i = torch.as_tensor(items, device=dev).long()
    return uk[u] & ik[i], uk, ik


def augmented_adjacency(
    users, items, n_users: int, n_items: int, keep_mask=None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Re-normalized symmetric adjacency ``D^-1/2 A D^-1/2`` of the kept edges.

    Degrees are recomputed on the kept graph (nodes left without edges get zero rows); duplicate
    interactions collapse to one edge (:func:`contrastrec.graph.bipartite_adjacency`).

    Args:
        users, items: ``[n_edges]`` interactions (0-based).
        keep_mask: ``BoolTensor[n_edges]`` from :func:`dropout_edge` / :func:`dropout_node`;
            ``None`` keeps all edges.
    Returns:
        symmetric ``torch.sparse_csr`` float32 tensor ``[n_users+n_items, n_users+n_items]``.
    """
    u = _as_numpy(users)
    i = _as_numpy(items)
    _n_edges(u, i)
    if keep_mask is not None:
        k = _as_numpy(keep_mask).astype(bool)
        if k.shape != u.shape:
            raise ValueError(f"keep_mask has shape {k.shape}, expected {u.shape}")
        u, i = u[k], i[k]
    return to_torch_csr(sym_normalize(bipartite_adjacency(u, i, n_users, n_items)), device)


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


class _Bipartite:
    """Pre-sorted CSR layout of the full symmetric graph, so that a dropped graph is a few
    vectorized numpy ops (mask the entries, recount degrees, rescale) with no sorting or sparse
    products: a few ms for ~200k edges."""

    def __init__(self, users, items, n_users: int, n_items: int):
        u = _as_numpy(users).astype(np.int64).ravel()
        i = _as_numpy(items).astype(np.int64).ravel()
        _n_edges(u, i)
        if u.size and (u.min() < 0 or u.max() >= n_users or i.min() < 0 or i.max() >= n_items):
            raise ValueError("user / item indices out of range")
        key = np.unique(u * n_items + i)  # unique edges sorted by (user, item)
        self.users, self.items = key // n_items, key % n_items
        self.n_users, self.n_items = n_users, n_items
        self.n_edges = int(key.size)
        by_item = np.lexsort((self.users, self.items))
        self.entry_edge = np.concatenate([np.arange(self.n_edges), by_item])
        self.entry_row = np.concatenate([self.users, self.items[by_item] + n_users])
        self.entry_col = np.concatenate([self.items + n_users, self.users[by_item]])

    def adjacency(self, keep: np.ndarray, device) -> torch.Tensor:
        n = self.n_users + self.n_items
        ke = keep[self.entry_edge]
        deg = np.concatenate([
            np.bincount(self.users[keep], minlength=self.n_users),
            np.bincount(self.items[keep], minlength=self.n_items),
        ])
        with np.errstate(divide="ignore"):
            d = np.where(deg > 0, deg.astype(np.float32) ** -0.5, 0.0).astype(np.float32)
        rows, cols = self.entry_row[ke], self.entry_col[ke]
        vals = d[rows] * d[cols]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(deg, out=indptr[1:])
        return torch.sparse_csr_tensor(
            torch.from_numpy(indptr), torch.from_numpy(cols), torch.from_numpy(vals),
            size=(n, n), check_invariants=False,
        ).to(device)


class _GraphAugment(nn.Module):
    def __init__(self, users, items, n_users: int, n_items: int, p: float = 0.1,
                 device: torch.device | str = "cpu", exact: bool = False):
        super().__init__()
        self.n_users = check_int("n_users", n_users, minimum=1)
        self.n_items = check_int("n_items", n_items, minimum=1)
        self.p = check_ratio("p", p)
        self.exact = bool(exact)
        self.device = torch.device(device)
        self.graph = _Bipartite(users, items, self.n_users, self.n_items)
        self._full: dict[str, torch.Tensor] = {}

    @property
    def users(self) -> np.ndarray:
        """Unique edges' users (the edges that masks refer to)."""
        return self.graph.users

    @property
    def items(self) -> np.ndarray:
        return self.graph.items

    def full_adjacency(self) -> torch.Tensor:
        """The un-dropped normalized graph (:func:`contrastrec.graph.normalized_adjacency`), cached."""
        key = str(self.device)
        if key not in self._full:
            self._full = {key: normalized_adjacency(self.graph.users, self.graph.items, self.n_users,
                                                    self.n_items, self.device)}
        return self._full[key]

    def sample_mask(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``BoolTensor[n_unique_edges]`` keep mask of one dropped graph."""
        raise NotImplementedError

    def adjacency(self, keep_mask) -> torch.Tensor:
        """Normalized adjacency of the unique edges where ``keep_mask`` is True (fast path of
        :func:`augmented_adjacency`)."""
        k = _as_numpy(keep_mask).astype(bool)
        if k.shape != (self.graph.n_edges,):
            raise ValueError(f"keep_mask must have shape ({self.graph.n_edges},), got {k.shape}")
        return self.graph.adjacency(k, self.device)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One dropped, re-normalized graph (the full graph when not training)."""
        if not self.training or self.p == 0.0:
            return self.full_adjacency()
        return self.adjacency(self.sample_mask(generator))

    def forward(self, n_layers: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"n_users={self.n_users}, n_items={self.n_items}, n_edges={self.graph.n_edges}, "
                f"p={self.p}, exact={self.exact}")


class EdgeDropout(_GraphAugment):
    """SGL-ED (Wu et al. SIGIR 2021): one edge-dropped graph shared by all layers.

    ``EdgeDropout(users, items, n_users, n_items, p=0.1)(n_layers, generator)`` returns a list of
    ``n_layers`` references to the same ``[N, N]`` sparse CSR adjacency (``N = n_users+n_items``);
    in eval mode (``.eval()``) the full normalized graph. Duplicate interactions collapse to one
    edge before dropout.
    """

    def sample_mask(self, generator=None):
        g = self.graph
        return dropout_edge(g.users, g.items, self.p, training=True, generator=generator, exact=self.exact)

    def forward(self, n_layers: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        n_layers = check_int("n_layers", n_layers, minimum=1)
        return [self.sample(generator)] * n_layers


class NodeDropout(_GraphAugment):
    """SGL-ND (Wu et al. SIGIR 2021): one node-dropped graph shared by all layers (each user and
    item node dropped with probability ``p`` with all its edges). Same call as :class:`EdgeDropout`."""

    def sample_mask(self, generator=None):
        g = self.graph
        return dropout_node(g.users, g.items, self.n_users, self.n_items, self.p, training=True,
                            generator=generator, exact=self.exact)[0]

    def forward(self, n_layers: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        n_layers = check_int("n_layers", n_layers, minimum=1)
        return [self.sample(generator)] * n_layers


class RandomWalk(_GraphAugment):
    """SGL-RW (Wu et al. SIGIR 2021): an independently edge-dropped graph for EACH layer
    (layer-wise edge dropout, i.e. random-walk-like subgraphs). In eval mode every layer gets the
    full normalized graph."""

    def sample_mask(self, generator=None):
        g = self.graph
        return dropout_edge(g.users, g.items, self.p, training=True, generator=generator, exact=self.exact)

    def forward(self, n_layers: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        n_layers = check_int("n_layers", n_layers, minimum=1)
        return [self.sample(generator) for _ in range(n_layers)]
