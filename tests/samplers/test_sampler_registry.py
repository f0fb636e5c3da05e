import pytest
import torch

from contrastrec import samplers
from contrastrec.samplers import (
    NEGATIVE_SAMPLERS,
    HardNegativeMiner,
    PopularityNegativeSampler,
    UniformNegativeSampler,
    make_sampler,
)


def test_registry_names():
    assert set(NEGATIVE_SAMPLERS) == {"uniform", "popularity", "hard"}
    for name in samplers.__all__:
        assert hasattr(samplers, name)


def test_make_sampler(mixed_csr):
    u = make_sampler("uniform", mixed_csr, seed=1)
    assert isinstance(u, UniformNegativeSampler)
    assert torch.equal(u.sample(torch.arange(50), 3), UniformNegativeSampler(mixed_csr, seed=1).sample(torch.arange(50), 3))
    p = make_sampler("popularity", mixed_csr, alpha=0.5, exclude_positives=False, seed=0)
    assert isinstance(p, PopularityNegativeSampler) and p.alpha == 0.5 and not p.exclude_positives
    h = make_sampler("hard", mixed_csr, skip_top=3, band=7, hard_ratio=0.25, refresh_every=10, chunk_size=64, seed=0)
    assert isinstance(h, HardNegativeMiner) and (h.skip_top, h.band, h.hard_ratio, h.refresh_every) == (3, 7, 0.25, 10)


def test_make_sampler_errors(mixed_csr):
    with pytest.raises(ValueError, match="hard, popularity, uniform"):
        make_sampler("bogus", mixed_csr)
    with pytest.raises(ValueError, match="does not take alpha"):
        make_sampler("uniform", mixed_csr, alpha=1.0)
    with pytest.raises(ValueError, match="needs train_csr"):
        make_sampler("uniform")
    with pytest.raises(ValueError):
        make_sampler("hard", mixed_csr, band=10_000)
