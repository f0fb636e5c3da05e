"""The intent-aware view (augment/intent.py, DCCF) against a plain loop over nodes and prototypes."""
import pytest
import torch

from contrastrec.augment.intent import IntentPrototypes, UserItemIntents, intent_view


def _loop(x, protos):
    """r_n = sum_k p_k c_k with p = softmax over k of (x_n . c_k), one node and one prototype at a time."""
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        logits = [float(x[n] @ protos[:, k]) for k in range(protos.shape[1])]
        top = max(logits)
        e = [torch.exp(torch.tensor(v - top, dtype=torch.float64)) for v in logits]
        total = sum(e)
        for k in range(protos.shape[1]):
            out[n] += (e[k] / total).to(x.dtype) * protos[:, k]
    return out


def test_intent_view_is_the_softmax_mixture_of_prototypes():
    g = torch.Generator().manual_seed(0)
    x, protos = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    assert torch.allclose(intent_view(x, protos), _loop(x, protos), atol=1e-12)
    one = torch.randn(5, 1, dtype=torch.float64)  # one intent: every node becomes that prototype
    assert torch.allclose(intent_view(x, one), one.t().expand(7, 5))
    with pytest.raises(ValueError, match=r"dimension 5 but the prototypes are \(4, 4\)"):
        intent_view(x, torch.randn(4, 4, dtype=torch.float64))


def test_prototype_modules_and_the_user_item_split():
    torch.manual_seed(0)
    m = IntentPrototypes(6, 3)
    assert m.weight.shape == (6, 3) and m.weight.requires_grad
    x = torch.randn(10, 6)
    assert torch.allclose(m(x), _loop(x, m.weight.detach()), atol=1e-6)
    both = UserItemIntents(6, 3)
    out = both(x, 4)
    assert torch.allclose(out[:4], _loop(x[:4], both.user.weight.detach()), atol=1e-6)
    assert torch.allclose(out[4:], _loop(x[4:], both.item.weight.detach()), atol=1e-6)
    out.sum().backward()
    assert both.user.weight.grad.abs().sum() > 0 and both.item.weight.grad.abs().sum() > 0
    assert set(both.state_dict()) == {"user.weight", "item.weight"}
    with pytest.raises(ValueError):
        IntentPrototypes(6, 0)
