import math

import pytest
import torch

from contrastrec.losses import NCELoss
from contrastrec.losses import functional as LF
from tests.losses import loss_reference as ref

B, K, D = 6, 4, 5


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("noise_kind", ["scalar", "tensor"])
@pytest.mark.parametrize("k", [None, 10])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(noise_kind, k, with_mask):
    pos, noise = rand(B, seed=1) * 3, rand(B, K, seed=2) * 3
    if noise_kind == "scalar":
        lpp, lpn = math.log(0.01), math.log(0.02)
    else:
        lpp, lpn = torch.rand(B, dtype=torch.float64).log(), torch.rand(B, K, dtype=torch.float64).log()
    mask = (torch.rand(B, K, generator=torch.Generator().manual_seed(3)) < 0.6) if with_mask else None
    if mask is not None:
        mask[0] = False  # a row without noise: loss 0
    got = LF.nce_loss(pos, noise, lpp, lpn, k, mask)
    want = ref.nce(pos, noise, lpp, lpn, k, mask)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10)


@pytest.mark.parametrize("kind,t", [("cosine", 0.2), ("dot", 1.0)])
def test_module_matches_loops(kind, t):
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 3])
    m = NCELoss(temperature=t, similarity=kind)
    for lab in (None, labels):
        s = [[ref.sim(a, b, kind) / t for b in k.tolist()] for a in q.tolist()]
        valid = [[j != i and (lab is None or lab[i] != lab[j]) for j in range(B)] for i in range(B)]
        want = ref.nce([s[i][i] for i in range(B)], s, -math.log(B), -math.log(B), None, valid)
        assert m(q, k, lab).item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_edge_cases(dtype):
    m = NCELoss()
    one = torch.randn(1, D, dtype=dtype, requires_grad=True)
    loss = m(one, one.detach())
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(one.grad).all()
    for fill in (0.0, 1.0):
        x = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
        loss = m(x, x)
        assert torch.isfinite(loss) and torch.isfinite(torch.autograd.grad(loss, x)[0]).all()
    x = torch.randn(B, D, dtype=dtype, requires_grad=True)
    assert m(x, x, None, torch.ones(B, B, dtype=torch.bool)).item() == 0.0
    big = torch.randn(B, D, dtype=dtype) * 100
    assert torch.isfinite(NCELoss(0.01, "dot")(big, big))


def test_gradcheck_and_errors():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    qq = q.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: NCELoss(0.5)(a, k), (qq,))
    with pytest.raises(ValueError):
        NCELoss(temperature=0)
    with pytest.raises(ValueError):
        NCELoss(similarity="cos")
    with pytest.raises(ValueError):
        LF.nce_loss(q[:, 0], q, 0.0, 0.0, k=0)
    with pytest.raises(ValueError):
        LF.nce_loss(q, q, 0.0, 0.0)
