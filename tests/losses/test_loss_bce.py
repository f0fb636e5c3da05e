import pytest
import torch

from contrastrec.losses import SampledBCELoss
from contrastrec.losses import functional as LF
from tests.losses.loss_reference import log_sigmoid


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def loops(pos, neg, mask):
    total, count = 0.0, 0
    flat_pos = pos.reshape(-1).tolist()
    flat_neg = neg.reshape(len(flat_pos), -1).tolist()
    flat_mask = [True] * len(flat_pos) if mask is None else mask.reshape(-1).tolist()
    for p, ns, m in zip(flat_pos, flat_neg, flat_mask):
        if m:
            total += -log_sigmoid(p) - sum(log_sigmoid(-n) for n in ns)
            count += 1
    return total / count


@pytest.mark.parametrize("pos_shape", [(6,), (3, 5)])
@pytest.mark.parametrize("n_neg", [None, 4])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(pos_shape, n_neg, with_mask):
    pos = rand(*pos_shape, seed=1) * 3
    neg = rand(*pos_shape, *([] if n_neg is None else [n_neg]), seed=2) * 3
    mask = (torch.rand(*pos_shape, generator=torch.Generator().manual_seed(3)) < 0.6) if with_mask else None
    if mask is not None:
        mask.view(-1)[0] = True
    got = LF.bce_loss(pos, neg, mask)
    assert got.item() == pytest.approx(loops(pos, neg, mask), rel=1e-12)
    assert torch.allclose(SampledBCELoss()(pos, neg, mask), got)


def test_all_padding_is_zero_with_grad_and_errors():
    pos = torch.randn(2, 3, requires_grad=True)
    loss = LF.bce_loss(pos, torch.randn(2, 3), mask=torch.zeros(2, 3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pos.grad, torch.zeros(2, 3))
    big = LF.bce_loss(torch.tensor([-500.0]), torch.tensor([500.0]))
    assert big.item() == pytest.approx(1000.0)
    with pytest.raises(ValueError):
        LF.bce_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError):
        LF.bce_loss(torch.zeros(3), torch.zeros(3), mask=torch.ones(3))
