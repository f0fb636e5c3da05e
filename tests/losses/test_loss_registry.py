import pytest
import torch

from contrastrec.config import CHOICES
from contrastrec.losses import (
    SSL_LOSSES,
    AlignUniformLoss,
    DebiasedInfoNCELoss,
    HardNegativeInfoNCELoss,
    InfoNCELoss,
    NCELoss,
    SupConLoss,
    TripletLoss,
    make_ssl_loss,
)

B, D = 6, 8


def test_registry_names_match_config():
    assert tuple(SSL_LOSSES) == CHOICES["ssl.loss"]


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError) as e:
        make_ssl_loss("simclr")
    for name in SSL_LOSSES:
        assert name in str(e.value)


def test_parameters_forwarded():
    m = make_ssl_loss("infonce", temperature=0.3, similarity="dot", symmetric=True)
    assert isinstance(m, InfoNCELoss) and (m.temperature, m.similarity, m.symmetric) == (0.3, "dot", True)
    m = make_ssl_loss("debiased", temperature=0.3, tau_plus=0.2)
    assert isinstance(m, DebiasedInfoNCELoss) and (m.temperature, m.tau_plus) == (0.3, 0.2)
    m = make_ssl_loss("hard_negative", beta=2.0, tau_plus=0.2)
    assert isinstance(m, HardNegativeInfoNCELoss) and (m.beta, m.tau_plus) == (2.0, 0.2)
    m = make_ssl_loss("supcon", temperature=0.3)
    assert isinstance(m, SupConLoss) and m.temperature == 0.3
    m = make_ssl_loss("triplet", margin=0.5, distance="cosine")
    assert isinstance(m, TripletLoss) and (m.margin, m.distance) == (0.5, "cosine")
    m = make_ssl_loss("nce", similarity="dot")
    assert isinstance(m, NCELoss) and m.similarity == "dot"
    m = make_ssl_loss("align_uniform", gamma=0.5)
    assert isinstance(m, AlignUniformLoss) and m.gamma == 0.5
    assert make_ssl_loss("infonce").temperature == InfoNCELoss().temperature  # None -> class default


@pytest.mark.parametrize("name, kwargs", [("triplet", {"temperature": 0.3}), ("align_uniform", {"gamma": 0.5, "temperature": 0.2}),
                                          ("infonce", {"tau_plus": 0.1}), ("supcon", {"margin": 1.0})])
def test_parameters_a_loss_does_not_take_are_refused(name, kwargs):
    """Issue 13 defect 4: these were silently dropped."""
    with pytest.raises(ValueError, match="does not take"):
        make_ssl_loss(name, **kwargs)


@pytest.mark.parametrize("kwargs", [{"temperature": 0.0}, {"temperature": -0.5}, {"tau_plus": 1.0},
                                    {"tau_plus": -0.2}, {"beta": -1.0}, {"similarity": "euclidean"},
                                    {"margin": -1.0}])
def test_constructor_errors_through_factory(kwargs):
    name = {"tau_plus": "debiased", "beta": "hard_negative", "margin": "triplet"}.get(next(iter(kwargs)), "infonce")
    with pytest.raises(ValueError):
        make_ssl_loss(name, **kwargs)


@pytest.mark.parametrize("name", list(SSL_LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_calling_convention(name, dtype):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(B, D, generator=g, dtype=dtype, requires_grad=True)
    k = torch.randn(B, D, generator=g, dtype=dtype, requires_grad=True)
    labels = torch.tensor([0, 1, 0, 2, 1, 3])
    mask = torch.rand(B, B, generator=g) < 0.3
    loss_fn = make_ssl_loss(name)
    for args in ((), (labels,), (None, mask), (labels, mask)):
        loss = loss_fn(q, k, *args)
        assert loss.dim() == 0 and loss.dtype == dtype and torch.isfinite(loss)
        grads = torch.autograd.grad(loss, (q, k))
        assert all(torch.isfinite(x).all() for x in grads)
    assert torch.allclose(loss_fn(q, k, labels=labels, positive_mask=mask), loss_fn(q, k, labels, mask))


@pytest.mark.parametrize("name", list(SSL_LOSSES))
def test_convention_edge_cases(name):
    loss_fn = make_ssl_loss(name)
    one = torch.randn(1, D, requires_grad=True)
    loss = loss_fn(one, one.detach() + 0.5)
    assert torch.isfinite(loss)
    assert torch.isfinite(torch.autograd.grad(loss, one)[0]).all()
    for fill in (0.0, 1.0):
        x = torch.full((B, D), fill, requires_grad=True)
        loss = loss_fn(x, x)
        assert torch.isfinite(loss)
        assert torch.isfinite(torch.autograd.grad(loss, x)[0]).all()
    with pytest.raises(ValueError):
        loss_fn(torch.randn(B, D), torch.randn(B, D), torch.ones(B + 1, dtype=torch.long))
