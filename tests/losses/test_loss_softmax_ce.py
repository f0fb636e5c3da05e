import math

import pytest
import torch

from contrastrec.losses import SoftmaxCELoss
from contrastrec.losses import functional as LF
from tests.losses.loss_reference import lse


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def loops(logits, targets, ignore_index):
    rows = logits.reshape(-1, logits.shape[-1]).tolist()
    losses = [lse(r) - r[t] for r, t in zip(rows, targets.reshape(-1).tolist()) if t != ignore_index]
    return sum(losses) / len(losses)


@pytest.mark.parametrize("shape", [(5,), (2, 4)])
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_matches_loops(shape, ignore_index):
    logits = rand(*shape, 7, seed=1) * 3
    targets = torch.randint(0, 7, shape, generator=torch.Generator().manual_seed(2))
    targets.view(-1)[0] = ignore_index
    targets.view(-1)[1] = 3
    got = LF.softmax_ce_loss(logits, targets, ignore_index)
    assert got.item() == pytest.approx(loops(logits, targets, ignore_index), rel=1e-12)
    assert torch.allclose(SoftmaxCELoss(ignore_index)(logits, targets), got)


def test_all_ignored_zero_and_errors():
    logits = torch.randn(3, 5, requires_grad=True)
    loss = LF.softmax_ce_loss(logits, torch.full((3,), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros(3, 5))
    assert LF.softmax_ce_loss(torch.zeros(2, 4), torch.tensor([1, 2])).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError):
        LF.softmax_ce_loss(torch.zeros(2, 4), torch.zeros(2))
    with pytest.raises(ValueError):
        LF.softmax_ce_loss(torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError):
        SoftmaxCELoss(ignore_index=1.5)
