import pytest
import torch

from contrastrec.losses import BPRLoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("neg_shape", [(5,), (5, 3)])
def test_matches_loops(neg_shape):
    pos, neg = rand(5, seed=1) * 4, rand(*neg_shape, seed=2) * 4
    want = torch.tensor(ref.bpr(pos, neg), dtype=torch.float64)
    assert torch.allclose(LF.bpr_loss(pos, neg), want, rtol=1e-12)
    assert torch.allclose(BPRLoss()(pos, neg), want, rtol=1e-12)
    if len(neg_shape) == 2:  # pos already expanded to neg's shape (graph models do this)
        assert torch.allclose(LF.bpr_loss(pos.unsqueeze(1).expand_as(neg), neg), want, rtol=1e-12)


def test_stable_and_grad():
    pos = torch.tensor([-1000.0, 1000.0, 0.0], requires_grad=True)
    neg = torch.tensor([1000.0, -1000.0, 0.0])
    loss = LF.bpr_loss(pos, neg)
    assert torch.isfinite(loss) and loss.item() == pytest.approx((2000.0 + 0.0 + 0.6931471805599453) / 3)
    loss.backward()
    assert torch.isfinite(pos.grad).all()
    assert torch.autograd.gradcheck(lambda p: LF.bpr_loss(p, rand(4, 2, seed=3)), (rand(4, seed=4).requires_grad_(),))


def test_shape_error():
    with pytest.raises(ValueError):
        LF.bpr_loss(torch.zeros(4), torch.zeros(3))
