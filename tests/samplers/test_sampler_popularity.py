import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.stats import chisquare

from contrastrec.samplers import PopularityNegativeSampler


@pytest.fixture
def skewed_csr() -> sp.csr_matrix:
    """60 users x 30 items; item i is held by the first c_i users, c = [0, 0, 1, 2, ..., 28]."""
    counts = np.concatenate([[0, 0], np.arange(1, 29)])
    rows = np.concatenate([np.arange(c) for c in counts])
    cols = np.repeat(np.arange(30), counts)
    return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(60, 30))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_frequencies_follow_count_power_alpha(skewed_csr, alpha):
    s = PopularityNegativeSampler(skewed_csr, alpha=alpha, exclude_positives=False, seed=0)
    counts = np.asarray((skewed_csr > 0).sum(0)).ravel().astype(float)
    p = counts**alpha / (counts**alpha).sum()
    np.testing.assert_allclose(s.probs.numpy(), p, rtol=1e-12)
    out = s.sample(torch.zeros(100_000, dtype=torch.long), 2).numpy().ravel()
    freq = np.bincount(out, minlength=30)
    support = p > 0
    assert freq[~support].sum() == 0  # never seen items are never drawn when alpha > 0
    assert chisquare(freq[support], p[support] * out.size).pvalue > 1e-3
    np.testing.assert_allclose(freq / out.size, p, atol=0.005)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_log_q(skewed_csr, alpha):
    s = PopularityNegativeSampler(skewed_csr, alpha=alpha, seed=0)
    assert s.log_q.shape == (30,) and s.log_q.dtype == torch.float32
    assert abs(float(s.log_q.double().exp().sum()) - 1.0) < 1e-5
    if alpha > 0:
        assert torch.isinf(s.log_q[:2]).all()
    else:
        np.testing.assert_allclose(s.log_q.numpy(), np.log(1 / 30), rtol=1e-6)


def test_excludes_positives_and_renormalizes(skewed_csr):
    s = PopularityNegativeSampler(skewed_csr, alpha=1.0, exclude_positives=True, seed=1)
    dense = skewed_csr.toarray() > 0
    users = torch.arange(1, 60).repeat(50)  # user 0 holds every item with count > 0
    out = s.sample(users, 20)
    assert not dense[users.numpy()[:, None], out.numpy()].any()
    # user 3 holds items 5..29 (counts >= 4): negatives are items 2..4 with weights 1, 2, 3
    out3 = s.sample(torch.full((30_000,), 3), 1).numpy().ravel()
    assert set(np.unique(out3)) <= {2, 3, 4}
    np.testing.assert_allclose(np.bincount(out3, minlength=5)[2:] / out3.size, [1 / 6, 2 / 6, 3 / 6], atol=0.01)


def test_user_without_sampleable_negative_raises(skewed_csr):
    # user 0 holds every item with count > 0: with alpha > 0 nothing is left
    s = PopularityNegativeSampler(skewed_csr, alpha=1.0, seed=0)
    with pytest.raises(ValueError, match=r"user 0 "):
        s.sample(torch.tensor([5, 0]), 1)
    # with alpha = 0 the never-seen items 0 and 1 are valid negatives
    s0 = PopularityNegativeSampler(skewed_csr, alpha=0.0, seed=0)
    assert set(s0.sample(torch.zeros(500, dtype=torch.long), 1).unique().tolist()) == {0, 1}
    # without exclusion anything goes
    PopularityNegativeSampler(skewed_csr, alpha=1.0, exclude_positives=False, seed=0).sample(torch.tensor([0]), 3)


def test_seeded_repeatability(skewed_csr):
    users = torch.arange(1, 60)
    a = PopularityNegativeSampler(skewed_csr, alpha=0.5, seed=3).sample(users, 8)
    b = PopularityNegativeSampler(skewed_csr, alpha=0.5, seed=3).sample(users, 8)
    c = PopularityNegativeSampler(skewed_csr, alpha=0.5, seed=4).sample(users, 8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_no_positive_on_mixed_data(mixed_csr):
    dense = mixed_csr.toarray() > 0
    s = PopularityNegativeSampler(mixed_csr, alpha=0.75, seed=0)
    ok = dense.sum(1) < 195  # the densest users may have no negative with q > 0
    users = torch.from_numpy(np.flatnonzero(ok)).repeat(5)
    out = s.sample(users, 30)
    assert not dense[users.numpy()[:, None], out.numpy()].any()


@pytest.mark.parametrize("kwargs", [dict(alpha=-0.5), dict(alpha=float("nan")), dict(alpha="1"),
                                    dict(exclude_positives=1), dict(seed=1.5)])
def test_constructor_errors(skewed_csr, kwargs):
    with pytest.raises(ValueError):
        PopularityNegativeSampler(skewed_csr, **kwargs)


def test_empty_matrix():
    empty = sp.csr_matrix((3, 4))
    with pytest.raises(ValueError, match="no interactions"):
        PopularityNegativeSampler(empty, alpha=1.0)
    s = PopularityNegativeSampler(empty, alpha=0.0, seed=0)
    assert s.sample(torch.tensor([0, 1]), 3).shape == (2, 3)
