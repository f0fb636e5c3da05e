import numpy as np
import pytest
import torch

from contrastrec.samplers import HardNegativeMiner

N_USERS, N_ITEMS, D, SKIP, BAND = 60, 120, 8, 5, 10


@pytest.fixture
def setup(make_csr):
    rng = np.random.default_rng(0)
    degrees = rng.integers(0, 30, N_USERS)
    degrees[0] = N_ITEMS - 3  # only 3 non-positives, all inside the skipped top: empty band
    degrees[1] = N_ITEMS - 9  # 9 non-positives: band holds ranks 5..8 only
    csr = make_csr(N_USERS, N_ITEMS, degrees, seed=5)
    g = torch.Generator().manual_seed(0)
    U, V = torch.randn(N_USERS, D, generator=g), torch.randn(N_ITEMS, D, generator=g)
    return csr, U, V


def brute_force(csr, U, V):
    """Per user: (set of skipped top items, list of band items) by explicit ranking."""
    scores = (U @ V.T).numpy().astype(np.float64)
    top, band = [], []
    for u in range(N_USERS):
        pos = set(csr[u].indices.tolist())
        ranked = [i for i in np.argsort(-scores[u], kind="stable") if i not in pos]
        top.append(set(ranked[:SKIP]))
        band.append(ranked[SKIP : SKIP + BAND])
    return top, band


def test_refresh_band_matches_brute_force(setup):
    csr, U, V = setup
    m = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, chunk_size=7, seed=0)
    m.refresh(U, V)
    _, band = brute_force(csr, U, V)
    for u in range(N_USERS):
        k = int(m.band_size[u])
        assert k == len(band[u])
        assert m.band_items[u, :k].tolist() == band[u]
    assert m.band_size[0] == 0 and m.band_size[1] == 4


def test_score_fn_refresh_equals_embedding_refresh(setup):
    csr, U, V = setup
    a = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, seed=0)
    a.refresh(U, V)
    b = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, chunk_size=16, seed=0)
    b.refresh(lambda users: U[users] @ V.T)
    assert torch.equal(a.band_items, b.band_items) and torch.equal(a.band_size, b.band_size)
    with pytest.raises(ValueError):
        b.refresh(lambda users: U[users] @ V.T, V)
    with pytest.raises(ValueError):
        b.refresh(lambda users: (U[users] @ V.T)[:, :5])
    with pytest.raises(ValueError):
        b.refresh(U[:5], V)


@pytest.mark.parametrize("n,ratio", [(7, 0.5), (8, 0.25), (5, 1.0), (6, 0.0)])
def test_sample_hard_from_band_easy_non_positive(setup, n, ratio):
    csr, U, V = setup
    m = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, hard_ratio=ratio, seed=1)
    m.refresh(U, V)
    top, band = brute_force(csr, U, V)
    h = round(n * ratio)
    assert m.n_hard(n) == h
    dense = csr.toarray() > 0
    users = torch.arange(N_USERS).repeat(20)
    out = m.sample(users, n)
    assert out.shape == (users.numel(), n)
    assert not dense[users.numpy()[:, None], out.numpy()].any()
    for r, u in enumerate(users.tolist()):
        if band[u]:  # users with an empty band get easy negatives everywhere
            assert set(out[r, :h].tolist()) <= set(band[u])
            assert not set(out[r, :h].tolist()) & top[u]
    # easy columns are uniform non-positives: mostly outside the band (10 of >= 90 items)
    if n - h:
        easy = out[:, h:].numpy()
        in_band = np.mean([e in band[u] for r, u in enumerate(users.tolist()) for e in easy[r]])
        assert in_band < 0.3


def test_hard_negatives_cover_the_band_uniformly(setup):
    csr, U, V = setup
    m = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, hard_ratio=1.0, seed=2)
    m.refresh(U, V)
    _, band = brute_force(csr, U, V)
    out = m.sample(torch.full((5000,), 7), 2).numpy().ravel()
    counts = np.bincount(out, minlength=N_ITEMS)
    assert set(np.flatnonzero(counts)) == set(band[7])
    assert counts[band[7]].min() > 0.7 * out.size / BAND


def test_refresh_cadence_and_errors(setup):
    csr, U, V = setup
    m = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, refresh_every=3, seed=0)
    assert m.needs_refresh
    with pytest.raises(RuntimeError, match="refresh"):
        m.sample(torch.tensor([0]), 2)
    m.refresh(U, V)
    assert not m.needs_refresh
    assert [m.step() for _ in range(4)] == [False, False, True, True]
    assert m.steps == 4
    m.refresh(U, V)
    assert not m.needs_refresh and m.steps_since_refresh == 0
    never = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, refresh_every=None, seed=0)
    never.refresh(U, V)
    assert not any(never.step() for _ in range(10))


@pytest.mark.parametrize("kwargs", [dict(skip_top=100, band=21), dict(band=0), dict(skip_top=-1),
                                    dict(hard_ratio=1.5), dict(refresh_every=0), dict(chunk_size=0)])
def test_constructor_errors(setup, kwargs):
    with pytest.raises(ValueError):
        HardNegativeMiner(setup[0], **kwargs)


def test_seeded_repeatability(setup):
    csr, U, V = setup
    outs = []
    for seed in (3, 3, 4):
        m = HardNegativeMiner(csr, skip_top=SKIP, band=BAND, seed=seed)
        m.refresh(U, V)
        outs.append(m.sample(torch.arange(N_USERS), 6))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
