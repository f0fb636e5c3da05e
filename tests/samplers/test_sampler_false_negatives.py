import pytest
import torch

from contrastrec.samplers import combine_masks, same_label_mask


@pytest.mark.parametrize("include_diagonal", [False, True])
def test_same_label_mask_brute_force(include_diagonal):
    labels = torch.tensor([4, 1, 4, 4, 0, 1, 9])
    mask = same_label_mask(labels, include_diagonal=include_diagonal)
    B = labels.numel()
    for i in range(B):
        for j in range(B):
            expected = bool(labels[i] == labels[j]) and (include_diagonal or i != j)
            assert bool(mask[i, j]) == expected


def test_rectangular_and_two_views():
    labels = torch.tensor([2, 5, 2])
    keys = torch.tensor([2, 2, 5, 7, 5])
    mask = same_label_mask(labels, keys)
    for i in range(3):
        for j in range(5):
            assert bool(mask[i, j]) == (bool(labels[i] == keys[j]) and i != j)
    two = same_label_mask(labels.repeat(2))  # two views of a batch of 3
    assert two.shape == (6, 6) and bool(two[0, 3]) and bool(two[0, 2]) and not two[0, 0]


def test_combine_masks_is_or():
    g = torch.Generator().manual_seed(0)
    ms = [torch.rand(5, 6, generator=g) < 0.3 for _ in range(3)]
    out = combine_masks(*ms)
    for i in range(5):
        for j in range(6):
            assert bool(out[i, j]) == any(bool(m[i, j]) for m in ms)
    assert out is not ms[0] and torch.equal(combine_masks(ms[0]), ms[0])


def test_errors():
    with pytest.raises(ValueError):
        combine_masks()
    with pytest.raises(ValueError):
        combine_masks(torch.zeros(2, 2, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError):
        combine_masks(torch.zeros(2, 2))
    with pytest.raises(ValueError):
        same_label_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError):
        same_label_mask(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError):
        same_label_mask(torch.tensor([1, 2]), include_diagonal=1)
