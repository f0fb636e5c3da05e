"""pool_logsumexp (blocked whole-pool log-sum-exp) against the plain [B, P] form: values and gradients."""
import pytest
import torch

from contrastrec.losses.pool_lse import pool_logsumexp


def plain(q, pool, own, pos):
    logits = q @ pool.t()
    if pos is not None:
        logits = logits.index_put((torch.arange(q.shape[0]), own), pos)
    return torch.logsumexp(logits, dim=1)


def inputs(b, p, d, scale, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    q = (torch.randn(b, d, generator=g, dtype=dtype) * scale).requires_grad_()
    pool = torch.randn(p, d, generator=g, dtype=dtype).requires_grad_()
    own = torch.randint(0, p, (b,), generator=g)
    pos = torch.randn(b, generator=g, dtype=dtype).requires_grad_()
    return q, pool, own, pos


@pytest.mark.parametrize("b,p,block", [(7, 11, 1), (7, 11, 22), (33, 50, 120), (5, 3, 10 ** 6), (1, 9, 4)])
@pytest.mark.parametrize("with_pos", [False, True])
@pytest.mark.parametrize("scale", [0.3, 20.0])  # 20: logit ranges past the exponent floor (e^-60)
def test_matches_plain_values_and_gradients(b, p, block, with_pos, scale):
    q, pool, own, pos = inputs(b, p, 6, scale, seed=b * p)
    w = torch.randn(b, generator=torch.Generator().manual_seed(1))  # signed incoming gradient
    got = pool_logsumexp(q, pool, own, pos if with_pos else None, block_elements=block)
    grads = torch.autograd.grad((got * w).sum(), [q, pool, pos] if with_pos else [q, pool])
    want = plain(q, pool, own, pos if with_pos else None)
    wants = torch.autograd.grad((want * w).sum(), [q, pool, pos] if with_pos else [q, pool])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    for g, h in zip(grads, wants):
        torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-5)


def test_positive_and_zero_incoming_gradients():
    """A mean (all grads > 0, the log-shifted path without a sign pass) and rows with grad 0."""
    q, pool, own, pos = inputs(9, 13, 4, 1.0, seed=3)
    for w in (torch.full((9,), 1 / 9), torch.tensor([0.0, 1, 0, 2, 0, 0, 3, 0, 1])):
        got = torch.autograd.grad((pool_logsumexp(q, pool, own, pos, block_elements=26) * w).sum(), [q, pool, pos])
        want = torch.autograd.grad((plain(q, pool, own, pos) * w).sum(), [q, pool, pos])
        for g, h in zip(got, want):
            torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)


def test_gradcheck_float64():
    q, pool, own, pos = inputs(4, 5, 3, 1.0, seed=4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b, c: pool_logsumexp(a, b, own, c, block_elements=7), (q, pool, pos))
    assert torch.autograd.gradcheck(lambda a, b: pool_logsumexp(a, b, own, None, block_elements=7), (q, pool))


def test_half_inputs_are_computed_in_float32():
    q, pool, own, _ = inputs(6, 8, 4, 1.0, seed=5)
    got = pool_logsumexp(q.detach().bfloat16(), pool.detach().bfloat16(), own)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, plain(q.detach().bfloat16().float(), pool.detach().bfloat16().float(), own, None))


def test_refuses_bad_shapes():
    q, pool, own, pos = inputs(4, 5, 3, 1.0, seed=6)
    with pytest.raises(ValueError, match="q \\[B, D\\] and pool \\[P, D\\]"):
        pool_logsumexp(q, pool[:, :2], own)
    with pytest.raises(ValueError, match="own and pos must be \\[B\\]"):
        pool_logsumexp(q, pool, own[:3])
    with pytest.raises(ValueError, match="own and pos must be \\[B\\]"):
        pool_logsumexp(q, pool, own, pos[:2])
    with pytest.raises(ValueError, match="block_elements"):
        pool_logsumexp(q, pool, own, block_elements=0)
