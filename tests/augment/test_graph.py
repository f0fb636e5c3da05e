import math
import time

import numpy as np
import pytest
import torch

from contrastrec.augment import (
    EdgeDropout, NodeDropout, RandomWalk, augmented_adjacency, dropout_edge, dropout_node,
)
from contrastrec.graph import normalized_adjacency


def random_graph(n_users, n_items, n_edges, seed=0, dupes=False):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n_users, n_edges)
    i = rng.integers(0, n_items, n_edges)
    if not dupes:
        key = np.unique(u * n_items + i)
        u, i = key // n_items, key % n_items
    return u.astype(np.int64), i.astype(np.int64)


def dense_norm(users, items, n_users, n_items, keep=None):
    """Brute force D^-1/2 A D^-1/2 on a dense matrix."""
    n = n_users + n_items
    a = np.zeros((n, n))
    for k, (u, i) in enumerate(zip(users, items)):
        if keep is None or keep[k]:
            a[u, n_users + i] = a[n_users + i, u] = 1.0
    deg = a.sum(1)
    d = np.where(deg > 0, 1 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    return d[:, None] * a * d[None, :]


def dense(t):
    return t.to_dense().numpy()


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- functions
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_edge_keep_rate(p):
    u, i = random_graph(1000, 1000, 200_000, dupes=True)
    keep = dropout_edge(u, i, p, generator=gen(1))
    assert keep.dtype == torch.bool and keep.shape == (len(u),)
    assert abs(keep.float().mean().item() - (1 - p)) < 0.005
    exact = dropout_edge(u, i, p, generator=gen(1), exact=True)
    assert int(exact.sum()) == int(len(u) * (1 - p))


def test_dropout_edge_eval_and_seed():
    u, i = random_graph(50, 40, 300)
    assert bool(dropout_edge(u, i, 0.5, training=False).all())
    assert bool(dropout_edge(u, i, 0.0, generator=gen()).all())
    assert not bool(dropout_edge(u, i, 1.0, generator=gen()).any())
    assert torch.equal(dropout_edge(u, i, 0.3, generator=gen(2)), dropout_edge(u, i, 0.3, generator=gen(2)))
    assert not torch.equal(dropout_edge(u, i, 0.3, generator=gen(2)), dropout_edge(u, i, 0.3, generator=gen(3)))
    with pytest.raises(ValueError):
        dropout_edge(u, i, 1.5)
    with pytest.raises(ValueError):
        dropout_edge(u, i[:-1], 0.1)


def test_dropout_node_rates_and_edges():
    u, i = random_graph(20_000, 20_000, 100_000)
    ek, uk, ik = dropout_node(u, i, 20_000, 20_000, 0.2, generator=gen(4))
    assert abs(uk.float().mean().item() - 0.8) < 0.01 and abs(ik.float().mean().item() - 0.8) < 0.01
    assert torch.equal(ek, uk[torch.from_numpy(u)] & ik[torch.from_numpy(i)])
    assert abs(ek.float().mean().item() - 0.64) < 0.01
    ek2, uk2, ik2 = dropout_node(u, i, 20_000, 20_000, 0.2, training=False)
    assert bool(ek2.all() and uk2.all() and ik2.all())
    _, uk3, ik3 = dropout_node(u, i, 20_000, 20_000, 0.2, generator=gen(4), exact=True)
    assert int((~uk3).sum()) == 4000 and int((~ik3).sum()) == 4000


def test_node_dropout_removes_all_edges_of_dropped_nodes():
    nu, ni = 30, 25
    u, i = random_graph(nu, ni, 200, seed=5)
    ek, uk, ik = dropout_node(u, i, nu, ni, 0.3, generator=gen(5))
    adj = dense(augmented_adjacency(u, i, nu, ni, ek))
    dropped = np.concatenate([~uk.numpy(), ~ik.numpy()])
    assert dropped.any()
    assert np.all(adj[dropped] == 0) and np.all(adj[:, dropped] == 0)
    np.testing.assert_allclose(adj, dense_norm(u, i, nu, ni, ek.numpy()), atol=1e-6)


def test_augmented_adjacency_matches_bruteforce_and_is_symmetric():
    nu, ni = 15, 12
    u, i = random_graph(nu, ni, 80, seed=6)
    keep = dropout_edge(u, i, 0.4, generator=gen(6))
    adj = augmented_adjacency(u, i, nu, ni, keep)
    assert adj.layout == torch.sparse_csr and adj.shape == (nu + ni, nu + ni)
    a = dense(adj)
    np.testing.assert_allclose(a, dense_norm(u, i, nu, ni, keep.numpy()), atol=1e-6)
    np.testing.assert_array_equal(a, a.T)
    full = augmented_adjacency(u, i, nu, ni, None)
    np.testing.assert_allclose(dense(full), dense_norm(u, i, nu, ni), atol=1e-6)


# --------------------------------------------------------------------------- modules
@pytest.mark.parametrize("cls", [EdgeDropout, NodeDropout, RandomWalk])
def test_modules_symmetric_normalized_and_match_function(cls):
    nu, ni = 20, 15
    u, i = random_graph(nu, ni, 120, seed=7, dupes=True)
    aug = cls(u, i, nu, ni, p=0.3)
    layers = aug(3, generator=gen(7))
    assert len(layers) == 3
    for adj in layers:
        a = dense(adj)
        np.testing.assert_array_equal(a, a.T)
        # the graph it represents: keep = edges present in the layer
        kept = a[aug.users, nu + aug.items] > 0
        np.testing.assert_allclose(a, dense_norm(aug.users, aug.items, nu, ni, kept), atol=1e-6)
        np.testing.assert_allclose(a, dense(augmented_adjacency(aug.users, aug.items, nu, ni, kept)), atol=1e-6)
    if cls is RandomWalk:
        assert not np.array_equal(dense(layers[0]), dense(layers[1]))
    else:
        assert all(layer is layers[0] for layer in layers)
    # fast path == reference path for an explicit mask
    mask = aug.sample_mask(gen(8))
    np.testing.assert_allclose(dense(aug.adjacency(mask)),
                               dense(augmented_adjacency(aug.users, aug.items, nu, ni, mask)), atol=1e-6)


@pytest.mark.parametrize("cls", [EdgeDropout, NodeDropout, RandomWalk])
def test_eval_returns_full_normalized_graph(cls):
    nu, ni = 25, 18
    u, i = random_graph(nu, ni, 150, seed=9)
    aug = cls(u, i, nu, ni, p=0.5).eval()
    full = normalized_adjacency(u, i, nu, ni)
    for adj in aug(2, generator=gen()):
        assert torch.equal(adj.crow_indices(), full.crow_indices())
        assert torch.equal(adj.col_indices(), full.col_indices())
        assert torch.equal(adj.values(), full.values())
    aug.train()
    assert not np.array_equal(dense(aug(1, generator=gen())[0]), dense(full))


def test_module_keep_rate_and_seed():
    nu, ni = 3000, 2000
    u, i = random_graph(nu, ni, 60_000, seed=10)
    aug = EdgeDropout(u, i, nu, ni, p=0.2)
    adj = aug(1, generator=gen(1))[0]
    assert abs(adj.values().numel() / (2 * len(u)) - 0.8) < 0.01
    again = aug(1, generator=gen(1))[0]
    assert torch.equal(adj.col_indices(), again.col_indices())
    with pytest.raises(ValueError):
        aug(0)
    with pytest.raises(ValueError):
        EdgeDropout(u, i, nu, ni, p=-0.1)
    with pytest.raises(ValueError):
        EdgeDropout(u + nu, i, nu, ni)


def test_duplicates_collapse():
    u = np.array([0, 0, 1])
    i = np.array([1, 1, 0])
    aug = EdgeDropout(u, i, 2, 2, p=0.0)
    assert len(aug.users) == 2
    np.testing.assert_allclose(dense(aug(1)[0]), dense_norm(u, i, 2, 2), atol=1e-6)


def test_beauty_size_speed():
    nu, ni = 22_363, 12_101
    u, i = random_graph(nu, ni, 185_000, seed=11)
    for cls in (EdgeDropout, NodeDropout):
        aug = cls(u, i, nu, ni, p=0.1)
        g = gen(0)
        aug(1, generator=g)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            aug(1, generator=g)
            times.append(time.perf_counter() - t)
        assert min(times) < 0.05, f"{cls.__name__}: {min(times) * 1e3:.1f} ms per dropped graph"
