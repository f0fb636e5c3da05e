import pytest
import torch

from contrastrec.losses import SupConLoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, D = 6, 4


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("kind,t", [("cosine", 0.1), ("dot", 0.7)])
@pytest.mark.parametrize("views", [None, 1, 2, 3])
@pytest.mark.parametrize("labels", [None, [0, 1, 0, 2, 1, 3]])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(kind, t, views, labels, with_mask):
    f = rand(B, D, seed=1) if views is None else rand(B, views, D, seed=1)
    labels = None if labels is None else torch.tensor(labels)
    mask = (torch.rand(B, B, generator=torch.Generator().manual_seed(2)) < 0.3) if with_mask else None
    got = LF.supcon_loss(f, labels, t, kind, mask)
    want = ref.supcon(f, labels, t, kind, mask)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10, atol=1e-12)


def test_anchors_without_positive_are_excluded():
    f = rand(4, D, seed=1)
    labels = torch.tensor([0, 0, 1, 2])  # only anchors 0 and 1 have positives
    got = LF.supcon_loss(f, labels, 0.5)
    want = ref.supcon(f, labels, 0.5)
    assert got.item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_positive_returns_zero_with_grad(dtype):
    f = torch.randn(B, D, dtype=dtype, requires_grad=True)
    loss = LF.supcon_loss(f, torch.arange(B))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(f.grad, torch.zeros_like(f))
    one = torch.randn(1, D, dtype=dtype, requires_grad=True)
    assert LF.supcon_loss(one).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_all_equal_and_zero_finite(dtype):
    for fill in (0.0, 1.0):
        f = torch.full((B, 2, D), fill, dtype=dtype, requires_grad=True)
        loss = LF.supcon_loss(f, torch.tensor([0, 0, 1, 1, 2, 2]))
        assert torch.isfinite(loss)
        assert torch.isfinite(torch.autograd.grad(loss, f)[0]).all()


def test_gradcheck_and_module_convention():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 3])
    qq, kk = q.clone().requires_grad_(), k.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: LF.supcon_loss(torch.stack([a, b], 1), labels, 0.3), (qq, kk))
    m = SupConLoss(temperature=0.3)
    # SSL convention: (query, key) are two views; labels None -> each pair is its own class
    assert torch.allclose(m(q, k), LF.supcon_loss(torch.stack([q, k], 1), torch.arange(B), 0.3))
    assert torch.allclose(m(q, k, labels), LF.supcon_loss(torch.stack([q, k], 1), labels, 0.3))
    assert torch.allclose(m(q, labels=labels), LF.supcon_loss(q, labels, 0.3))
    with pytest.raises(ValueError):
        SupConLoss(temperature=-0.1)
    with pytest.raises(ValueError):
        SupConLoss(similarity="manhattan")
    with pytest.raises(ValueError):
        LF.supcon_loss(q, torch.arange(B - 1))
    with pytest.raises(ValueError):
        LF.supcon_loss(q, torch.ones(B))  # float labels
