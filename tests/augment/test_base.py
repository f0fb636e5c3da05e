import pytest
import torch

from contrastrec.augment import CL4SRecAugment, Compose, MultiView, RandomChoice, crop, mask, select_rows

from ._helpers import make_batch


def add(c):
    def f(seqs, generator=None):
        return torch.where(seqs != 0, seqs + c, seqs)
    return f


def test_compose_applies_in_order():
    x = make_batch(8, 6, seed=0, min_len=1)
    times2 = lambda s, generator=None: s * 2  # noqa: E731
    assert torch.equal(Compose([add(1), times2])(x), torch.where(x != 0, (x + 1) * 2, x))
    assert torch.equal(Compose([times2, add(1)])(x), torch.where(x != 0, x * 2 + 1, x))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    c = Compose([lambda s, generator=None: crop(s, 0.5, generator), lambda s, generator=None: mask(s, 0.5, 99, generator)])
    assert torch.equal(c(x, g1), mask(crop(x, 0.5, g2), 0.5, 99, g2))
    ident = Compose([lambda s, generator=None: s])
    before = x.clone()
    out = ident(x)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr() and torch.equal(x, before)
    with pytest.raises(ValueError):
        Compose([])
    with pytest.raises(ValueError):
        Compose([1])


def test_random_choice_per_row_and_probabilities():
    x = make_batch(4000, 4, seed=1, min_len=1)
    rc = RandomChoice([add(100), add(200), add(300)], p=[0.2, 0.3, 0.5])
    out = rc(x, torch.Generator().manual_seed(0))
    delta = (out - x)[:, -1]  # last position is always real
    assert set(delta.tolist()) <= {100, 200, 300}
    # the whole row used the same transform
    assert bool(((out - x)[x != 0].view(-1) > 0).all())
    frac = torch.tensor([(delta == v).float().mean().item() for v in (100, 200, 300)])
    assert torch.allclose(frac, torch.tensor([0.2, 0.3, 0.5]), atol=0.03)
    only_first = RandomChoice([add(1), add(2)], p=[1, 0])
    assert torch.equal(only_first(x), add(1)(x))
    for bad in ([add(1)], [-1]), ([add(1), add(2)], [0, 0]), ([add(1)], [1, 2]), ([], None):
        with pytest.raises(ValueError):
            RandomChoice(*bad)


def test_random_choice_seeded_and_no_mutation():
    x = make_batch(64, 10, seed=2)
    before = x.clone()
    rc = CL4SRecAugment(mask_token=99)
    a = rc(x, torch.Generator().manual_seed(5))
    b = rc(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and torch.equal(x, before)


def test_select_rows():
    outs = [torch.full((4, 3), i) for i in range(3)]
    choice = torch.tensor([2, 0, 1, 2])
    got = select_rows(outs, choice)
    assert got[:, 0].tolist() == [2, 0, 1, 2]
    single = select_rows([outs[0]], torch.zeros(4, dtype=torch.long))
    assert single.data_ptr() != outs[0].data_ptr()


def test_multiview():
    x = make_batch(32, 10, seed=3, min_len=2)
    mv = MultiView(lambda s, generator=None: mask(s, 0.5, 99, generator), n_views=3)
    views = mv(x, torch.Generator().manual_seed(0))
    assert len(views) == 3 and all(v.shape == x.shape for v in views)
    assert not torch.equal(views[0], views[1])
    again = mv(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(views, again))
    with pytest.raises(ValueError):
        MultiView(lambda s, generator=None: s, n_views=0)
    with pytest.raises(ValueError):
        MultiView("nope")
