import math

import pytest
import torch

from contrastrec.losses import DebiasedInfoNCELoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, D = 7, 5


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def rand_mask(shape, seed=0, p=0.3):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p


def offdiag(mask):
    return None if mask is None else mask & ~torch.eye(mask.shape[0], dtype=torch.bool)


@pytest.mark.parametrize("kind,t", [("cosine", 0.2), ("cosine", 0.5), ("dot", 0.8)])
@pytest.mark.parametrize("tau_plus", [0.0, 0.05, 0.1, 0.3, 0.9])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(kind, t, tau_plus, with_mask):
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=3) if with_mask else None
    got = LF.debiased_info_nce(q, k, t, tau_plus, kind, mask)
    want = ref.debiased(q, k, t, tau_plus, kind, offdiag(mask))
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10, atol=1e-10)


def test_clamp_active_case_matches_loops():
    # query == key: positives dominate, tau_plus large -> the estimate goes negative and is clamped
    q = rand(B, D, seed=1)
    mask = rand_mask((B, B), seed=3, p=0.5)
    for tau_plus in (0.5, 0.9):
        got = LF.debiased_info_nce(q, q, 0.2, tau_plus, "cosine", mask)
        want = ref.debiased(q, q, 0.2, tau_plus, "cosine", offdiag(mask))
        assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10)
    # fully clamped: loss = -log(e^{1/T} / (e^{1/T} + N e^{-1/T})) for every anchor
    got = LF.debiased_info_nce(q, q, 0.2, 0.99, "cosine")
    assert got.item() == pytest.approx(math.log1p((B - 1) * math.exp(-10.0)), rel=1e-9)


def test_symmetric_matches_loops():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=3)
    got = LF.debiased_info_nce(q, k, 0.3, 0.2, "cosine", mask, symmetric=True)
    want = 0.5 * (ref.debiased(q, k, 0.3, 0.2, "cosine", offdiag(mask))
                  + ref.debiased(k, q, 0.3, 0.2, "cosine", offdiag(mask).T))
    assert got.item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("with_mask", [False, True])
def test_tau_plus_zero_equals_infonce(with_mask):
    # cosine: every e^{s/T} >= e^{-1/T}, so the clamp can never be active
    q, k = rand(B, D, seed=4), rand(B, D, seed=5)
    mask = rand_mask((B, B), seed=6) if with_mask else None
    for t in (0.1, 0.5):
        assert torch.allclose(LF.debiased_info_nce(q, k, t, 0.0, "cosine", mask),
                              LF.info_nce(q, k, None, t, "cosine", False, mask), rtol=1e-12)


def test_gradcheck_and_float32():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=3)
    qq, kk = q.clone().requires_grad_(), k.clone().requires_grad_()
    for tau_plus in (0.0, 0.1, 0.6):
        assert torch.autograd.gradcheck(lambda a, b: LF.debiased_info_nce(a, b, 0.3, tau_plus, "cosine", mask), (qq, kk))
        l32 = LF.debiased_info_nce(q.float(), k.float(), 0.3, tau_plus, "cosine", mask)
        assert l32.dtype == torch.float32
        assert torch.allclose(l32.double(), LF.debiased_info_nce(q, k, 0.3, tau_plus, "cosine", mask), rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_cases_finite(dtype):
    one = torch.randn(1, D, dtype=dtype, requires_grad=True)
    loss = LF.debiased_info_nce(one, one.detach() + 1, tau_plus=0.1)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(one.grad).all()
    for fill in (0.0, 2.0):  # all-equal and all-zero embeddings
        x = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
        for kind in ("cosine", "dot"):
            loss = LF.debiased_info_nce(x, x, tau_plus=0.1, similarity=kind)
            assert torch.isfinite(loss)
            assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()
    x = torch.randn(B, D, dtype=dtype, requires_grad=True)
    loss = LF.debiased_info_nce(x, x.detach() * 2, tau_plus=0.3, positive_mask=torch.ones(B, B, dtype=torch.bool))
    assert loss.item() == 0.0  # no negative left
    loss.backward()
    assert torch.isfinite(x.grad).all()


def test_module_and_errors():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 3, 3])
    m = DebiasedInfoNCELoss(temperature=0.3, tau_plus=0.2)
    want = LF.debiased_info_nce(q, k, 0.3, 0.2, "cosine", labels[:, None] == labels[None, :])
    assert torch.allclose(m(q, k, labels), want)
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="tau_plus"):
            DebiasedInfoNCELoss(tau_plus=bad)
        with pytest.raises(ValueError, match="tau_plus"):
            LF.debiased_info_nce(q, k, tau_plus=bad)
    with pytest.raises(ValueError):
        DebiasedInfoNCELoss(temperature=0)
    with pytest.raises(ValueError):
        DebiasedInfoNCELoss(similarity="euclid")
