import pytest
import torch

from tests.losses import loss_reference as ref
from contrastrec.losses import InfoNCELoss
from contrastrec.losses import functional as LF

B, D, N = 6, 5, 4


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def rand_mask(shape, seed=0, p=0.3):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p


@pytest.mark.parametrize("kind", ["cosine", "dot"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("neg_mode", ["in_batch", "shared", "per_anchor"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_loops(kind, symmetric, neg_mode, with_mask):
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    t = 0.2 if kind == "cosine" else 0.7
    negatives = {"in_batch": None, "shared": rand(N, D, seed=3), "per_anchor": rand(B, N, D, seed=3)}[neg_mode]
    mask = None
    if with_mask:
        mask = rand_mask((B, B) if negatives is None else (B, N), seed=4)
        if negatives is None:
            mask[0, 0] = True  # the diagonal is ignored
    got = LF.info_nce(q, k, negatives, t, kind, symmetric, mask)
    want = ref.info_nce(q, k, negatives, t, kind, symmetric, mask if mask is None or negatives is not None
                        else mask & ~torch.eye(B, dtype=torch.bool))
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=1e-10, atol=1e-10)


def test_float32_matches_float64_and_gradcheck():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    mask = rand_mask((B, B), seed=5)
    l64 = LF.info_nce(q, k, temperature=0.1, symmetric=True, positive_mask=mask)
    l32 = LF.info_nce(q.float(), k.float(), temperature=0.1, symmetric=True, positive_mask=mask)
    assert l32.dtype == torch.float32 and torch.allclose(l32.double(), l64, rtol=1e-5)
    qq, kk = q.clone().requires_grad_(), k.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: LF.info_nce(a, b, positive_mask=mask, symmetric=True), (qq, kk))
    assert torch.autograd.gradcheck(lambda a, b: LF.info_nce(a, b, rand(B, N, D, seed=9), similarity="dot"), (qq, kk))


def test_one_element_batch_is_zero():
    q, k = rand(1, D, seed=1).requires_grad_(), rand(1, D, seed=2)
    loss = LF.info_nce(q, k, symmetric=True)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(q.grad).all()


def test_all_negatives_masked_is_zero_and_finite():
    q, k = rand(B, D, seed=1).requires_grad_(), rand(B, D, seed=2)
    loss = LF.info_nce(q, k, positive_mask=torch.ones(B, B, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    loss.backward()
    assert torch.isfinite(q.grad).all()
    neg = rand(B, N, D, seed=3)
    loss = LF.info_nce(q, k, neg, positive_mask=torch.ones(B, N, dtype=torch.bool))
    assert loss.item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fill", [0.0, 1.5])
def test_all_equal_and_zero_embeddings_finite(dtype, fill):
    q = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
    k = torch.full((B, D), fill, dtype=dtype, requires_grad=True)
    for kind in ("cosine", "dot"):
        loss = LF.info_nce(q, k, similarity=kind, symmetric=True)
        assert torch.isfinite(loss)
        # all logits equal -> log(B)
        assert loss.item() == pytest.approx(torch.log(torch.tensor(float(B))).item(), rel=1e-5)
        g = torch.autograd.grad(loss, (q, k))
        assert all(torch.isfinite(x).all() for x in g)


def test_large_logits_stable_float32():
    q = rand(B, D, seed=1).float() * 100
    loss = LF.info_nce(q, q + 0.1, temperature=0.01, similarity="dot")
    assert torch.isfinite(loss)


def test_module_labels_equal_mask_and_convention():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 3])
    mask = labels[:, None] == labels[None, :]
    m = InfoNCELoss(temperature=0.3, symmetric=True)
    want = LF.info_nce(q, k, temperature=0.3, symmetric=True, positive_mask=mask)
    assert torch.allclose(m(q, k, labels), want)
    assert torch.allclose(m(q, k, None, mask), want)
    extra = rand_mask((B, B), seed=7)
    assert torch.allclose(m(q, k, labels, extra), LF.info_nce(q, k, None, 0.3, "cosine", True, mask | extra))
    neg = rand(B, N, D, seed=3)
    assert torch.allclose(m(q, k, negatives=neg), LF.info_nce(q, k, neg, 0.3, "cosine", True))


def test_errors():
    q, k = rand(B, D, seed=1), rand(B, D, seed=2)
    for kwargs in ({"temperature": 0.0}, {"temperature": -1.0}, {"temperature": float("nan")},
                   {"similarity": "l2"}):
        with pytest.raises(ValueError):
            InfoNCELoss(**kwargs)
        with pytest.raises(ValueError):
            LF.info_nce(q, k, **kwargs)
    with pytest.raises(ValueError):
        LF.info_nce(q, k[:-1])
    with pytest.raises(ValueError):
        LF.info_nce(q, k, positive_mask=torch.ones(B, B))  # not bool
    with pytest.raises(ValueError):
        LF.info_nce(q, k, rand(B, N, D), positive_mask=torch.ones(B, B, dtype=torch.bool))  # wrong shape
    with pytest.raises(ValueError, match="negatives="):
        InfoNCELoss()(q, k, rand(B, N, D))  # negatives passed positionally where labels go
    with pytest.raises(ValueError):
        InfoNCELoss()(q, k, torch.zeros(B, dtype=torch.long), negatives=rand(B, N, D))


@pytest.mark.parametrize("neg_mode", ["in_batch", "shared", "per_anchor"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_pos_clamp_matches_a_loop(neg_mode, symmetric):
    """-clamp(s_ii/T, -c, c) + log(sum_j e^{s_ij/T}), the positive unclamped in the denominator
    (LightGCL's authors' form), by a plain loop; past c the positive pair gets no gradient in the
    numerator."""
    import math

    q, k = rand(B, D, seed=1) * 3, rand(B, D, seed=2) * 3  # dot products: some positives beyond c
    t, c = 0.5, 2.0
    negatives = {"in_batch": None, "shared": rand(N, D, seed=3), "per_anchor": rand(B, N, D, seed=3)}[neg_mode]

    def one_direction(a, b):
        total = 0.0
        for i in range(B):
            pos = float(a[i] @ b[i]) / t
            if negatives is None:
                others = [float(a[i] @ b[j]) / t for j in range(B) if j != i]
            else:
                n = negatives if negatives.dim() == 2 else negatives[i]
                others = [float(a[i] @ n[j]) / t for j in range(n.shape[0])]
            lse = math.log(math.exp(pos) + sum(math.exp(o) for o in others))
            total += lse - min(max(pos, -c), c)
        return total / B

    want = one_direction(q, k)
    if symmetric:
        want = 0.5 * (want + one_direction(k, q))
    got = LF.info_nce(q, k, negatives, temperature=t, similarity="dot", symmetric=symmetric, pos_clamp=c)
    assert abs(float(got) - want) < 1e-9
    assert float(LF.info_nce(q, k, negatives, temperature=t, similarity="dot", symmetric=symmetric)) != pytest.approx(want)
    loss = InfoNCELoss(temperature=t, similarity="dot", symmetric=symmetric, pos_clamp=c)
    assert abs(float(loss(q, k, negatives=negatives)) - want) < 1e-9


def test_pos_clamp_stops_the_pull_past_c():
    q = torch.tensor([[10.0, 0.0], [0.0, 1.0]], dtype=torch.float64, requires_grad=True)
    k = torch.tensor([[10.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    LF.info_nce(q, k, temperature=1.0, similarity="dot", pos_clamp=5.0).backward()
    # anchor 0: positive logit 100 > 5, its only gradient is the softmax's (≈ k0 weight 1): the numerator
    # adds nothing, so d/dq0 = softmax-weighted keys (≈ k0), not softmax - k0 (≈ 0)
    assert torch.allclose(q.grad[0], torch.tensor([10.0, 0.0], dtype=torch.float64) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="pos_clamp"):
        InfoNCELoss(pos_clamp=-1.0)
