import pytest
import torch

from contrastrec.samplers import InBatchSampler, in_batch_negatives


def test_mask_matches_brute_force():
    items = torch.tensor([3, 7, 3, 1, 7, 7, 9])
    mask = in_batch_negatives(items)
    B = items.numel()
    expected = torch.tensor([[i != j and items[i] != items[j] for j in range(B)] for i in range(B)])
    assert mask.dtype == torch.bool and torch.equal(mask, expected)
    assert not mask.diagonal().any() and torch.equal(mask, mask.T)


def test_sampler_indices_valid_and_pairs():
    g = torch.Generator().manual_seed(0)
    items = torch.randint(0, 6, (12,), generator=g)
    s = InBatchSampler()
    idx = s.sample(items)
    assert idx.shape == (12, 11) and idx.dtype == torch.int64
    for i in range(12):
        assert idx[i].tolist() == [j for j in range(12) if j != i]
    valid = s.valid(items)
    assert torch.equal(valid, items[idx] != items[:, None])
    mask = in_batch_negatives(items)
    assert torch.equal(valid, torch.gather(mask, 1, idx))
    a, n = s.pairs(items)
    assert torch.equal(torch.stack([a, n], 1), mask.nonzero())
    assert torch.equal(s(items), idx)


def test_degenerate_batches():
    s = InBatchSampler()
    assert s.sample(torch.tensor([5])).shape == (1, 0)
    assert s.sample(torch.empty(0, dtype=torch.long)).shape == (0, 0)
    assert not in_batch_negatives(torch.tensor([2, 2, 2])).any()


@pytest.mark.parametrize("bad", [torch.zeros(2, 2, dtype=torch.long), torch.tensor([1.0, 2.0])])
def test_bad_items(bad):
    with pytest.raises(ValueError):
        in_batch_negatives(bad)
    with pytest.raises(ValueError):
        InBatchSampler().sample(bad)
