"""Shared fixtures: small data sets generated in the test, never read from disk."""
from __future__ import annotations

import numpy as np
import pytest

from contrastrec.data.dataset import Dataset, IdMap, Split


def make_tiny(n_users: int = 60, n_items: int = 40, per_user: int = 8, seed: int = 0, sequential: bool = True) -> Dataset:
    """Users follow item 'chains' (i -> i+1 mod n) from a random start: learnable structure."""
    rng = np.random.default_rng(seed)
    tr_u, tr_i, va_u, va_i, te_u, te_i = [], [], [], [], [], []
    for u in range(n_users):
        start = rng.integers(0, n_items)
        step = 1 + (u % 3)
        seq = [(start + step * j) % n_items for j in range(per_user)]
        seq = list(dict.fromkeys(seq))
        if len(seq) < 3:
            seq = [start, (start + 1) % n_items, (start + 2) % n_items]
        tr_u += [u] * (len(seq) - 2)
        tr_i += seq[:-2]
        va_u.append(u)
        va_i.append(seq[-2])
        te_u.append(u)
        te_i.append(seq[-1])
    return Dataset(
        name="tiny", n_users=n_users, n_items=n_items,
        user_map=IdMap(str(u) for u in range(n_users)), item_map=IdMap(str(i) for i in range(n_items)),
        train=Split(tr_u, tr_i), valid=Split(va_u, va_i), test=Split(te_u, te_i), sequential=sequential,
    )


@pytest.fixture
def tiny():
    return make_tiny()
