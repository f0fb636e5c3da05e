import pytest
import torch

from contrastrec.losses import AlignUniformLoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, D = 6, 4


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5, 3.0])
def test_alignment_matches_loops(alpha):
    x, y = rand(B, D, seed=1), rand(B, D, seed=2)
    assert LF.alignment_loss(x, y, alpha).item() == pytest.approx(ref.alignment(x, y, alpha), rel=1e-12)


@pytest.mark.parametrize("t", [2.0, 0.5])
def test_uniformity_matches_loops(t):
    x = rand(B, D, seed=1)
    assert LF.uniformity_loss(x, t).item() == pytest.approx(ref.uniformity(x, t), rel=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.5])
def test_align_uniform_matches_loops_and_module(gamma):
    u, i = rand(B, D, seed=1), rand(B, D, seed=2)
    want = ref.alignment(u, i) + gamma * (ref.uniformity(u) + ref.uniformity(i)) / 2
    assert LF.align_uniform_loss(u, i, gamma).item() == pytest.approx(want, rel=1e-10)
    m = AlignUniformLoss(gamma=gamma)
    assert m(u, i).item() == pytest.approx(want, rel=1e-10)
    assert m(u, i, torch.arange(B), torch.ones(B, B, dtype=torch.bool)).item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_cases_finite(dtype):
    for fill in (0.0, 1.0):  # identical rows: zero distances everywhere
        x = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
        for alpha in (2.0, 1.0, 0.5):
            loss = LF.alignment_loss(x, x, alpha) + LF.uniformity_loss(x)
            assert torch.isfinite(loss)
            assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()
    one = torch.randn(1, D, dtype=dtype, requires_grad=True)
    loss = LF.uniformity_loss(one)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(one.grad).all()
    x = torch.randn(B, D, dtype=dtype)
    assert LF.uniformity_loss(x).item() <= 0.0


def test_gradcheck_and_errors():
    u, i = rand(B, D, seed=1).requires_grad_(), rand(B, D, seed=2)
    assert torch.autograd.gradcheck(lambda a: LF.align_uniform_loss(a, i, 0.7), (u,))
    assert torch.autograd.gradcheck(lambda a: LF.alignment_loss(a, i, 1.0), (u,))
    with pytest.raises(ValueError):
        AlignUniformLoss(gamma=-1.0)
    with pytest.raises(ValueError):
        LF.alignment_loss(u, i, alpha=0.0)
    with pytest.raises(ValueError):
        LF.uniformity_loss(u, t=-2.0)
    with pytest.raises(ValueError):
        LF.alignment_loss(u, i[:-1])
