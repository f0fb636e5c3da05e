import math

import numpy as np
import pytest
import torch

from contrastrec.evaluation import alignment, embedding_diagnostics, uniformity


def _norm(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def brute_alignment(x, y, alpha):
    tot = 0.0
    for a, b in zip(x.tolist(), y.tolist()):
        a, b = _norm(a), _norm(b)
        d = math.sqrt(sum((p - q) ** 2 for p, q in zip(a, b)))
        tot += d**alpha
    return tot / len(x)


def brute_uniformity(x, t):
    rows = [_norm(r) for r in x.tolist()]
    vals = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            d2 = sum((p - q) ** 2 for p, q in zip(rows[i], rows[j]))
            vals.append(math.exp(-t * d2))
    return math.log(sum(vals) / len(vals))


def test_alignment_and_uniformity_match_brute_force():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 8, generator=g, dtype=torch.float64)
    y = x + 0.3 * torch.randn(30, 8, generator=g, dtype=torch.float64)
    for alpha in (1.0, 2.0):
        assert alignment(x, y, alpha=alpha).item() == pytest.approx(brute_alignment(x, y, alpha), rel=1e-9)
    for t in (1.0, 2.0):
        assert uniformity(x, t=t).item() == pytest.approx(brute_uniformity(x, t), rel=1e-9)


def test_uniformity_subsample_is_seeded_and_differentiable():
    x = torch.randn(50, 4, requires_grad=True)
    a = uniformity(x, max_points=20, seed=3)
    b = uniformity(x, max_points=20, seed=3)
    assert a.item() == b.item()
    a.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # full set when max_points >= n
    assert uniformity(x, max_points=50).item() == pytest.approx(uniformity(x).item())


def test_embedding_diagnostics():
    rng = np.random.default_rng(0)
    U = rng.standard_normal((12, 5))
    I = rng.standard_normal((9, 5))
    tu = rng.integers(0, 12, size=40)
    ti = rng.integers(0, 9, size=40)
    d = embedding_diagnostics(torch.from_numpy(U), torch.from_numpy(I), tu, ti, max_points=5000, seed=0)
    assert set(d) == {"alignment", "uniformity_user", "uniformity_item", "uniformity"}
    assert all(isinstance(v, float) for v in d.values())
    assert d["alignment"] == pytest.approx(brute_alignment(U[tu], I[ti], 2.0), rel=1e-9)
    assert d["uniformity_user"] == pytest.approx(brute_uniformity(U, 2.0), rel=1e-9)
    assert d["uniformity_item"] == pytest.approx(brute_uniformity(I, 2.0), rel=1e-9)
    assert d["uniformity"] == pytest.approx((d["uniformity_user"] + d["uniformity_item"]) / 2)
    # subsampling: bounded and deterministic
    d1 = embedding_diagnostics(U, I, tu, ti, max_points=5, seed=1, max_pairs=10)
    d2 = embedding_diagnostics(U, I, tu, ti, max_points=5, seed=1, max_pairs=10)
    assert d1 == d2
