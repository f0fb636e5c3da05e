import pytest
import torch

from contrastrec.losses import TripletLoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, D, N = 6, 4, 3


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("kind", ["squared_euclidean", "cosine"])
@pytest.mark.parametrize("neg_shape", [(B, D), (B, N, D)])
@pytest.mark.parametrize("margin", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(kind, neg_shape, margin, with_mask):
    a, p, n = rand(B, D, seed=1), rand(B, D, seed=2), rand(*neg_shape, seed=3)
    mask = None
    if with_mask:
        mask = torch.rand(B, 1 if len(neg_shape) == 2 else N, generator=torch.Generator().manual_seed(4)) < 0.6
    got = LF.triplet_loss(a, p, n, margin, kind, mask)
    want = ref.triplet(a, p, n, margin, kind, mask)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["squared_euclidean", "cosine"])
def test_module_in_batch_matches_loops(kind):
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 3])
    mask = torch.rand(B, B, generator=torch.Generator().manual_seed(5)) < 0.3
    m = TripletLoss(margin=1.5, distance=kind)
    for lab, pm in ((None, None), (labels, None), (None, mask), (labels, mask)):
        not_neg = LF.pair_mask(lab, pm, B)
        valid = ~torch.eye(B, dtype=torch.bool) if not_neg is None else ~torch.eye(B, dtype=torch.bool) & ~not_neg
        want = ref.triplet(q, k, k.unsqueeze(0).expand(B, B, D), 1.5, kind, valid)
        assert m(q, k, lab, pm).item() == pytest.approx(want, rel=1e-9, abs=1e-12)
    n = rand(B, N, D, seed=3)
    assert torch.allclose(m(q, k, negatives=n), LF.triplet_loss(q, k, n, 1.5, kind))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_cases(dtype):
    m = TripletLoss()
    one = torch.randn(1, D, dtype=dtype, requires_grad=True)
    loss = m(one, one.detach())
    assert loss.item() == 0.0  # no in-batch negative
    loss.backward()
    assert torch.isfinite(one.grad).all()
    for fill in (0.0, 1.0):
        x = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
        for kind in ("squared_euclidean", "cosine"):
            loss = TripletLoss(margin=1.0, distance=kind)(x, x)
            assert loss.item() == pytest.approx(1.0)  # all distances equal -> hinge = margin
            assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()
    x = torch.randn(B, D, dtype=dtype, requires_grad=True)
    loss = m(x, x.detach(), None, torch.ones(B, B, dtype=torch.bool))
    assert loss.item() == 0.0


def test_gradcheck_and_errors():
    a, p, n = rand(B, D, seed=1), rand(B, D, seed=2), rand(B, N, D, seed=3)
    aa = a.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: LF.triplet_loss(x, p, n, 3.0), (aa,))
    assert torch.autograd.gradcheck(lambda x: TripletLoss(margin=3.0, distance="cosine")(x, p), (aa,))
    with pytest.raises(ValueError):
        TripletLoss(margin=-1.0)
    with pytest.raises(ValueError):
        TripletLoss(distance="l1")
    with pytest.raises(ValueError):
        LF.triplet_loss(a, p, n, distance="l1")
    with pytest.raises(ValueError):
        TripletLoss()(a, p, torch.zeros(B, dtype=torch.long), negatives=n)
