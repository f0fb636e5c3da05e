import pytest
import torch
from torch import nn

from contrastrec.heads import LinearHead, MLPHead, make_head


def test_none_is_identity():
    head = make_head("none", 8)
    assert isinstance(head, nn.Identity)
    x = torch.randn(3, 8)
    assert head(x) is x
    with pytest.raises(ValueError):
        make_head("none", 8, out_dim=4)


def test_linear_head_shapes():
    head = make_head("linear", 8, out_dim=4)
    assert isinstance(head, LinearHead)
    assert head(torch.randn(3, 8)).shape == (3, 4)
    assert head(torch.randn(2, 5, 8)).shape == (2, 5, 4)
    assert make_head("linear", 8)(torch.randn(3, 8)).shape == (3, 8)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_mlp_head_structure_and_shapes(batch_norm):
    head = make_head("mlp", 8, hidden_dim=16, out_dim=4, batch_norm=batch_norm)
    assert isinstance(head, MLPHead)
    assert head.fc1.in_features == 8 and head.fc1.out_features == 16 and head.fc2.out_features == 4
    assert (head.bn is not None) == batch_norm
    assert head(torch.randn(5, 8)).shape == (5, 4)
    assert head(torch.randn(2, 5, 8)).shape == (2, 5, 4)  # sequences: BN over all positions
    head.eval()
    assert head(torch.randn(1, 8)).shape == (1, 4)
    default = make_head("mlp", 8)
    assert default.fc1.out_features == 8 and default.fc2.out_features == 8


def test_mlp_forward_equals_composition():
    torch.manual_seed(0)
    head = MLPHead(6, 10, 3)
    x = torch.randn(4, 6)
    want = head.fc2(torch.relu(head.fc1(x)))
    assert torch.allclose(head(x), want)
    head(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters())


@pytest.mark.parametrize("kwargs", [{"kind": "transformer", "dim": 8}, {"kind": "mlp", "dim": 0},
                                    {"kind": "linear", "dim": None}, {"kind": "mlp", "dim": 8, "hidden_dim": -1},
                                    {"kind": "linear", "dim": 8, "out_dim": 2.5}])
def test_errors(kwargs):
    with pytest.raises(ValueError):
        make_head(**kwargs)
