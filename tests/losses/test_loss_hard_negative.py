import pytest
import torch

from contrastrec.losses import HardNegativeInfoNCELoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, D = 7, 5


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def rand_mask(shape, seed=0, p=0.3):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p


def offdiag(mask):
    return None if mask is None else mask & ~torch.eye(mask.shape[0], dtype=torch.bool)


@pytest.mark.parametrize("kind,t", [("cosine", 0.2), ("dot", 0.8)])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(kind, t, beta, tau_plus, with_mask):
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=3) if with_mask else None
    got = LF.hard_negative_info_nce(q, k, t, beta, tau_plus, kind, mask)
    want = ref.debiased(q, k, t, tau_plus, kind, offdiag(mask), beta=beta, clamp=tau_plus > 0)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10, atol=1e-10)


def test_beta_zero_equals_infonce_and_debiased():
    q, k = rand(B, D, seed=4), rand(B, D, seed=5)
    mask = rand_mask((B, B), seed=6)
    for kind in ("cosine", "dot"):
        assert torch.allclose(LF.hard_negative_info_nce(q, k, 0.5, 0.0, 0.0, kind, mask),
                              LF.info_nce(q, k, None, 0.5, kind, False, mask), rtol=1e-12)
        for tau_plus in (0.1, 0.4):
            assert torch.allclose(LF.hard_negative_info_nce(q, k, 0.5, 0.0, tau_plus, kind, mask),
                                  LF.debiased_info_nce(q, k, 0.5, tau_plus, kind, mask), rtol=1e-12)


def test_beta_increases_weight_of_hard_negatives():
    q, k = rand(B, D, seed=4), rand(B, D, seed=5)
    losses = [LF.hard_negative_info_nce(q, k, 0.5, b).item() for b in (0.0, 1.0, 4.0)]
    assert losses[0] < losses[1] < losses[2]  # reweighted mean >= plain mean (Chebyshev)


def test_symmetric_and_gradcheck():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=3)
    got = LF.hard_negative_info_nce(q, k, 0.3, 1.5, 0.1, "cosine", mask, symmetric=True)
    want = 0.5 * (ref.debiased(q, k, 0.3, 0.1, "cosine", offdiag(mask), beta=1.5)
                  + ref.debiased(k, q, 0.3, 0.1, "cosine", offdiag(mask).T, beta=1.5))
    assert got.item() == pytest.approx(want, rel=1e-10)
    qq, kk = q.clone().requires_grad_(), k.clone().requires_grad_()
    for beta, tau_plus in ((1.0, 0.0), (2.0, 0.2)):
        assert torch.autograd.gradcheck(
            lambda a, b: LF.hard_negative_info_nce(a, b, 0.3, beta, tau_plus, "cosine", mask, True), (qq, kk))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_cases_finite(dtype):
    one = torch.randn(1, D, dtype=dtype, requires_grad=True)
    loss = LF.hard_negative_info_nce(one, one.detach(), beta=2.0, tau_plus=0.1)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(one.grad).all()
    for fill in (0.0, 2.0):
        x = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
        for kind in ("cosine", "dot"):
            loss = LF.hard_negative_info_nce(x, x, beta=2.0, tau_plus=0.1, similarity=kind)
            assert torch.isfinite(loss)
            assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()
    big = torch.randn(B, D, dtype=dtype) * 50
    loss = LF.hard_negative_info_nce(big, big + 1, temperature=0.05, beta=5.0, similarity="dot")
    assert torch.isfinite(loss)


def test_module_and_errors():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=3)
    m = HardNegativeInfoNCELoss(temperature=0.4, beta=2.0, tau_plus=0.1, similarity="dot")
    assert torch.allclose(m(q, k, None, mask), LF.hard_negative_info_nce(q, k, 0.4, 2.0, 0.1, "dot", mask))
    for kwargs in ({"beta": -1.0}, {"tau_plus": 1.0}, {"temperature": 0.0}, {"similarity": "x"}):
        with pytest.raises(ValueError):
            HardNegativeInfoNCELoss(**kwargs)
        with pytest.raises(ValueError):
            LF.hard_negative_info_nce(q, k, **kwargs)
