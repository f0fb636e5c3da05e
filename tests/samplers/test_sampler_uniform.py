import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import chisquare

from contrastrec.samplers import UniformNegativeSampler


def test_never_returns_a_positive(mixed_csr):
    dense = mixed_csr.toarray() > 0
    s = UniformNegativeSampler(mixed_csr, seed=0)
    users = torch.arange(600).repeat(5)
    out = s.sample(users, 40)
    assert out.shape == (3000, 40) and out.dtype == torch.int64
    assert out.min() >= 0 and out.max() < 200
    assert not dense[users.numpy()[:, None], out.numpy()].any()


def test_frequencies_uniform_over_non_positives(make_csr):
    csr = make_csr(3, 40, np.array([0, 10, 38]), seed=2)
    s = UniformNegativeSampler(csr, seed=1)
    for u in (0, 1, 2):
        out = s.sample(torch.full((20000,), u), 2).numpy().ravel()
        counts = np.bincount(out, minlength=40)
        pos = csr[u].indices
        assert counts[pos].sum() == 0
        neg = np.setdiff1d(np.arange(40), pos)
        assert chisquare(counts[neg]).pvalue > 1e-3


def test_dense_user_fallback_is_exact(make_csr):
    # user 0 has 98 of 100 items: most entries go through the exact fallback after rejection rounds
    csr = make_csr(2, 100, np.array([98, 3]), seed=3)
    s = UniformNegativeSampler(csr, seed=0)
    out = s.sample(torch.tensor([0, 1, 0]), 5000).numpy()
    neg0 = np.setdiff1d(np.arange(100), csr[0].indices)
    assert set(np.unique(out[[0, 2]])) == set(neg0)
    assert chisquare(np.bincount(out[[0, 2]].ravel(), minlength=100)[neg0]).pvalue > 1e-3
    assert not np.isin(out[1], csr[1].indices).any()


def test_user_with_all_items_raises_naming_the_user(make_csr):
    csr = make_csr(5, 20, np.array([2, 20, 0, 5, 19]), seed=4)
    s = UniformNegativeSampler(csr, seed=0)
    with pytest.raises(ValueError, match=r"user 1 has interacted with all 20 items"):
        s.sample(torch.tensor([0, 1, 2]), 3)
    s.sample(torch.tensor([0, 2, 3, 4]), 3)  # the others are fine


def test_seeded_repeatability(mixed_csr):
    users = torch.arange(600)
    a = UniformNegativeSampler(mixed_csr, seed=7).sample(users, 10)
    b = UniformNegativeSampler(mixed_csr, seed=7).sample(users, 10)
    c = UniformNegativeSampler(mixed_csr, seed=8).sample(users, 10)
    d = UniformNegativeSampler(mixed_csr, generator=torch.Generator().manual_seed(7)).sample(users, 10)
    assert torch.equal(a, b) and torch.equal(a, d) and not torch.equal(a, c)


def test_shapes_and_inputs(mixed_csr):
    s = UniformNegativeSampler(mixed_csr, seed=0)
    assert s.sample_one(torch.tensor([3, 4, 5], dtype=torch.int32)).shape == (3,)
    assert s.sample(torch.empty(0, dtype=torch.long), 4).shape == (0, 4)
    assert s.sample(np.array([1, 2]), 2).shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs",
    [dict(seed=1, generator=torch.Generator()), dict(seed="1"), dict(generator=1)],
)
def test_constructor_errors(mixed_csr, kwargs):
    with pytest.raises(ValueError):
        UniformNegativeSampler(mixed_csr, **kwargs)


def test_bad_arguments(mixed_csr):
    with pytest.raises(ValueError):
        UniformNegativeSampler(mixed_csr.toarray())
    with pytest.raises(ValueError):
        UniformNegativeSampler(sp.csr_matrix((0, 5)))
    s = UniformNegativeSampler(mixed_csr, seed=0)
    for users, n in [(torch.tensor([0]), 0), (torch.tensor([0.0]), 1), (torch.tensor([600]), 1),
                     (torch.tensor([-1]), 1), (torch.zeros(2, 2, dtype=torch.long), 1), (torch.tensor([0]), 1.5)]:
        with pytest.raises(ValueError):
            s.sample(users, n)


def test_duplicates_and_explicit_zeros_in_csr():
    m = sp.csr_matrix((np.array([1.0, 1.0, 0.0]), (np.array([0, 0, 0]), np.array([1, 1, 2]))), shape=(1, 3))
    s = UniformNegativeSampler(m, seed=0)  # item 1 (duplicated) is positive, explicit 0 at item 2 is not
    assert set(s.sample(torch.zeros(1000, dtype=torch.long), 1).unique().tolist()) == {0, 2}


def test_speed_200k_negatives():
    rng = np.random.default_rng(0)
    n_users, n_items = 40_000, 27_000
    rows = np.repeat(np.arange(n_users), 5)
    csr = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, rng.integers(0, n_items, rows.size))),
                        shape=(n_users, n_items))
    s = UniformNegativeSampler(csr, seed=0)
    for users, n in [(torch.randint(0, n_users, (200_000,)), 1), (torch.arange(n_users), 5)]:
        s.sample(users, n)  # warm-up
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            s.sample(users, n)
            best = min(best, time.perf_counter() - t)
        assert best < 0.1, f"{best * 1e3:.1f} ms for {users.numel() * n} negatives"
