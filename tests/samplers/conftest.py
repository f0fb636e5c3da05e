"""Shared fixtures for the sampler tests: small random interaction matrices."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp


def random_csr(n_users: int, n_items: int, degrees: np.ndarray, seed: int) -> sp.csr_matrix:
    """Binary CSR where user u has exactly degrees[u] distinct items."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u, d in enumerate(degrees):
        rows.append(np.full(d, u))
        cols.append(rng.choice(n_items, size=d, replace=False))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(n_users, n_items))


@pytest.fixture
def make_csr():
    return random_csr


@pytest.fixture
def mixed_csr() -> sp.csr_matrix:
    """600 users x 200 items; degrees from 0 to 199 (some users have a single negative)."""
    rng = np.random.default_rng(0)
    degrees = rng.integers(0, 60, 600)
    degrees[:10] = [0, 1, 100, 150, 190, 195, 198, 199, 199, 199]
    return random_csr(600, 200, degrees, seed=1)
