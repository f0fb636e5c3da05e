import pytest
import torch

from contrastrec.augment import EmbeddingNoise, perturb, uniform_noise


def test_noise_norm_and_signs():
    torch.manual_seed(0)
    emb = torch.randn(500, 32)
    noise = uniform_noise(emb, 0.1, generator=torch.Generator().manual_seed(1))
    assert noise.shape == emb.shape
    assert torch.allclose(noise.norm(dim=1), torch.full((500,), 0.1), atol=1e-6)
    nz = noise != 0
    assert bool((torch.sign(noise[nz]) == torch.sign(emb[nz])).all())
    assert bool(nz.all())  # randn has no zeros: every component is perturbed


def test_zero_entries_get_no_noise():
    emb = torch.tensor([[1.0, 0.0, -2.0], [0.0, 0.0, 0.0]])
    noise = uniform_noise(emb, 0.5, generator=torch.Generator().manual_seed(0))
    assert noise[0, 1] == 0 and bool((noise[1] == 0).all())
    assert noise[0, 0] > 0 and noise[0, 2] < 0


def test_eval_is_noop_and_seeded():
    emb = torch.randn(10, 4)
    assert bool((uniform_noise(emb, 0.2, training=False) == 0).all())
    assert torch.equal(perturb(emb, 0.2, training=False), emb)
    a = perturb(emb, 0.2, generator=torch.Generator().manual_seed(3))
    b = perturb(emb, 0.2, generator=torch.Generator().manual_seed(3))
    c = perturb(emb, 0.2, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.allclose((a - emb).norm(dim=1), torch.full((10,), 0.2), atol=1e-6)


def test_module_and_gradient():
    m = EmbeddingNoise(0.1)
    emb = torch.randn(6, 3, requires_grad=True)
    out = m(emb, generator=torch.Generator().manual_seed(0))
    out.sum().backward()
    assert torch.equal(emb.grad, torch.ones_like(emb))  # noise is a constant offset
    m.eval()
    assert torch.equal(m(emb), emb)
    assert bool((m.noise(emb) == 0).all())
    assert "eps=0.1" in repr(m)
    for bad in (-0.1, float("nan"), float("inf"), "x", True):
        with pytest.raises(ValueError):
            EmbeddingNoise(bad)


def test_noise_equals_the_reference_formula():
    """sign(e) * normalize(U(0,1)) * eps, as in the SimGCL authors' code, for the same random draw."""
    import torch.nn.functional as F

    emb = torch.randn(50, 8)
    emb[3, 2] = 0.0  # sign(0) = 0: no noise on that component
    got = uniform_noise(emb, 0.3, generator=torch.Generator().manual_seed(5))
    u = torch.rand(emb.shape, generator=torch.Generator().manual_seed(5))
    want = torch.sign(emb) * F.normalize(u, dim=-1) * 0.3
    assert torch.allclose(got, want, atol=1e-7) and got[3, 2] == 0


def test_rand_bulk_is_seeded_uniform_and_falls_back_for_small_draws():
    from contrastrec.augment._common import BULK_MIN, rand_bulk

    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a, b = rand_bulk((300, 400), g1, "cpu"), rand_bulk((300, 400), g2, "cpu")
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.shape == (300, 400)
    assert not torch.equal(a, rand_bulk((300, 400), g1, "cpu"))  # the generator advanced
    assert 0 <= float(a.min()) and float(a.max()) < 1
    hist = torch.histc(a, bins=10, min=0, max=1) / a.numel()
    assert torch.allclose(hist, torch.full((10,), 0.1), atol=0.005)
    torch.manual_seed(3)
    c = rand_bulk((BULK_MIN,), None, "cpu")
    torch.manual_seed(3)
    assert torch.equal(c, rand_bulk((BULK_MIN,), None, "cpu"))
    torch.manual_seed(3)
    small = rand_bulk((10,), None, "cpu")
    torch.manual_seed(3)
    assert torch.equal(small, torch.rand(10))
