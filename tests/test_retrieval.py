import numpy as np
import pytest

from contrastrec.retrieval import build_index, default_nlist, recall_at_k, search


def clustered(n, d, n_centers=20, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_centers, d))
    return (centers[rng.integers(0, n_centers, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    items = clustered(3000, 16)
    queries = clustered(40, 16, seed=1)
    return items, queries, np.argsort(-(queries @ items.T), axis=1, kind="stable")


def test_exact_matches_brute_force(data):
    items, queries, ref = data
    scores, ids = search(build_index(items, "exact"), queries, 10)
    assert ids.shape == (40, 10) and ids.dtype == np.int64
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ids, 1), rtol=1e-5)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, ref[:, :10], 1), rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall(data, kind):
    items, queries, _ = data
    _, exact = search(build_index(items, "exact"), queries, 20)
    _, approx = search(build_index(items, kind, nprobe=16), queries, 20)
    assert recall_at_k(approx, exact) >= 0.9


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_exclude_filters_and_overfetches(data, kind):
    items, queries, ref = data
    index = build_index(items, kind)
    exclude = [ref[b, :30].tolist() for b in range(len(queries))]  # more than k: forces over-fetching
    _, ids = search(index, queries, 10, exclude=exclude)
    for b in range(len(queries)):
        assert not set(ids[b].tolist()) & set(exclude[b])
        assert (ids[b] >= 0).all()
    if kind == "exact":
        assert (ids == ref[:, 30:40]).all()


def test_fewer_eligible_than_k_are_padded():
    items = clustered(8, 4)
    scores, ids = search(build_index(items), items[:2], 5, exclude=[range(6), None])
    assert sorted(ids[0, :2].tolist()) == [6, 7] and (ids[0, 2:] == -1).all()
    assert np.isneginf(scores[0, 2:]).all() and (ids[1] >= 0).all()


def test_bad_arguments():
    items = clustered(50, 4)
    with pytest.raises(ValueError, match="unknown index kind"):
        build_index(items, "lsh")
    with pytest.raises(ValueError, match="k must be"):
        search(build_index(items), items[:1], 0)
    with pytest.raises(ValueError, match="exclude has"):
        search(build_index(items), items[:2], 3, exclude=[[1]])
    assert default_nlist(1_000_000) == 4000 and default_nlist(100) == 2
    assert default_nlist(1_000_000, train_sample=100_000) == 2564
