"""Cloze masking (BERT4Rec): mask_items against a plain per-position loop over the same draws."""
import pytest
import torch

from contrastrec.augment import mask_items

from ._helpers import N_ITEMS, make_batch

MASK = N_ITEMS + 1


def loop_reference(x, p, mask_token, seed, last_p):
    """The documented rule, one position at a time, from the documented draws (u [B, L], then v [B])."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(x.shape, generator=g)
    v = torch.rand((x.shape[0],), generator=g) if last_p > 0 else None
    out, sel = x.clone(), torch.zeros(x.shape, dtype=torch.bool)
    for r in range(x.shape[0]):
        real = [c for c in range(x.shape[1]) if int(x[r, c]) != 0]
        if v is not None and float(v[r]) < last_p:
            chosen = real[-1:]  # only the last item
        else:
            chosen = [c for c in real if float(u[r, c]) < p]
        for c in chosen:
            out[r, c], sel[r, c] = mask_token, True
    return out, sel


@pytest.mark.parametrize("p, last_p", [(0.2, 0.0), (0.6, 0.0), (0.3, 0.25), (0.5, 1.0), (1.0, 0.0), (0.0, 0.5)])
def test_mask_items_equals_the_loop(p, last_p):
    x = make_batch(96, 12, seed=3)
    got, sel = mask_items(x, p, MASK, generator=torch.Generator().manual_seed(5), last_p=last_p)
    want, want_sel = loop_reference(x, p, MASK, 5, last_p)
    assert torch.equal(got, want) and torch.equal(sel, want_sel)
    assert torch.equal(x[sel] != 0, torch.ones(int(sel.sum()), dtype=torch.bool))  # padding never masked
    assert torch.equal(got[~sel], x[~sel])


def test_mask_items_rates_and_inputs():
    x = make_batch(400, 20, seed=1, min_len=2)
    real = x != 0
    _, sel = mask_items(x, 0.4, MASK, generator=torch.Generator().manual_seed(0))
    rate = float(sel.sum()) / float(real.sum())
    assert abs(rate - 0.4) < 0.03
    _, sel = mask_items(x, 0.4, MASK, generator=torch.Generator().manual_seed(0), last_p=0.3)
    last_only = sel[:, -1] & (sel.sum(1) == 1)
    assert 0.2 < float(last_only.float().mean()) < 0.45  # ~0.3 + the random rows that happen to mask only the last
    before = x.clone()
    mask_items(x, 0.5, MASK, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, before)  # the input is not modified
    with pytest.raises(ValueError, match="p must be in"):
        mask_items(x, 1.5, MASK)
    with pytest.raises(ValueError, match="last_p must be in"):
        mask_items(x, 0.5, MASK, last_p=-0.1)
    with pytest.raises(ValueError):
        mask_items(x.float(), 0.5, MASK)
