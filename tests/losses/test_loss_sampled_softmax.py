import pytest
import torch

from contrastrec.losses import SampledSoftmaxLoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, N = 5, 4


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("logq", [False, True])
@pytest.mark.parametrize("t", [1.0, 0.3])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(shared, logq, t, with_mask):
    pos = rand(B, seed=1) * 2
    neg = rand(N, seed=2) * 2 if shared else rand(B, N, seed=2) * 2
    lqp = torch.rand(B, dtype=torch.float64).log() if logq else None
    lqn = (torch.rand(N, dtype=torch.float64) if shared else torch.rand(B, N, dtype=torch.float64)).log() if logq else None
    mask = (torch.rand(B, N, generator=torch.Generator().manual_seed(3)) < 0.7) if with_mask else None
    got = LF.sampled_softmax_loss(pos, neg, lqp, lqn, t, mask)
    want = ref.sampled_softmax(pos, neg, lqp, lqn, t, mask)
    assert got.item() == pytest.approx(want, rel=1e-12)
    assert torch.allclose(SampledSoftmaxLoss(t)(pos, neg, lqp, lqn, mask), got)


def test_logq_correction_and_edge_cases():
    pos, neg = rand(B, seed=1), rand(B, N, seed=2)
    # a constant log q shared by all items changes nothing
    assert torch.allclose(LF.sampled_softmax_loss(pos, neg, -2.0, -2.0), LF.sampled_softmax_loss(pos, neg))
    # one negative, as the sequential models call it
    assert torch.isfinite(LF.sampled_softmax_loss(pos, neg[:, :1]))
    p = pos.clone().requires_grad_()
    loss = LF.sampled_softmax_loss(p, neg, negative_mask=torch.zeros(B, N, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(p.grad).all()
    assert torch.isfinite(LF.sampled_softmax_loss(pos.float() * 1e4, neg.float() * 1e4, temperature=0.01))
    assert torch.autograd.gradcheck(lambda x: LF.sampled_softmax_loss(x, neg, temperature=0.5), (pos.clone().requires_grad_(),))
    with pytest.raises(ValueError):
        SampledSoftmaxLoss(temperature=0.0)
    with pytest.raises(ValueError):
        LF.sampled_softmax_loss(pos, rand(B + 1, N))
