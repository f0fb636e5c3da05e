import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from contrastrec.data.dataset import Dataset, IdMap, Split
from contrastrec.evaluation import FullRankingEvaluator, METRICS, evaluate, evaluate_detailed

ALL = METRICS


def brute_eval(scores, users, targets, exclude, ks):
    """Reference with plain Python loops, float64: per-user dict of metric values."""
    T = targets.tolil().rows
    E = exclude.tolil().rows
    res = {}
    for u in users:
        u = int(u)
        tset = set(T[u])
        if not tset:
            continue
        ex = set(E[u]) - tset  # targets win over exclusion
        cand = [i for i in range(scores.shape[1]) if i not in ex]
        cand.sort(key=lambda i: -float(scores[u, i]))
        ranking = cand + sorted(ex)  # excluded last
        vals = {}
        for k in ks:
            top = ranking[:k]
            h = [i in tset for i in top]
            nh = sum(h)
            dcg = sum(1.0 / math.log2(r + 2) for r, x in enumerate(h) if x)
            idcg = sum(1.0 / math.log2(r + 2) for r in range(min(len(tset), k)))
            first = next((r for r, x in enumerate(h) if x), None)
            vals[f"recall@{k}"] = nh / len(tset)
            vals[f"ndcg@{k}"] = dcg / idcg
            vals[f"hit@{k}"] = float(nh > 0)
            vals[f"precision@{k}"] = nh / k
            vals[f"mrr@{k}"] = 0.0 if first is None else 1.0 / (first + 1)
        res[u] = vals
    return res


def random_problem(seed, n_users=37, n_items=50, p_target=0.06, p_ex=0.15):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)  # continuous: no ties
    targets = sp.csr_matrix((rng.random((n_users, n_items)) < p_target).astype(np.float32))
    exclude = sp.csr_matrix((rng.random((n_users, n_items)) < p_ex).astype(np.float32))
    return scores, targets, exclude


def table_score_fn(scores):
    S = torch.from_numpy(scores)
    return lambda u: S[u]  # advanced indexing: a fresh copy


@pytest.mark.parametrize("seed,chunk", [(0, 7), (1, 10), (2, 1000)])
def test_evaluate_matches_brute_force(seed, chunk):
    scores, targets, exclude = random_problem(seed)
    ks = (1, 5, 10, 20)
    users = np.arange(scores.shape[0])
    ref = brute_eval(scores, users, targets, exclude, ks)
    det = evaluate_detailed(table_score_fn(scores), users, targets, exclude, ks=ks, metrics=ALL, chunk_size=chunk)
    assert det.n_users == len(ref)
    assert det.n_skipped == len(users) - len(ref)
    assert list(det.users) == sorted(ref)
    for key, arr in det.per_user.items():
        assert arr.dtype == np.float64 and arr.shape == (det.n_users,)
        for j, u in enumerate(det.users):
            assert arr[j] == pytest.approx(ref[int(u)][key], abs=1e-9), (key, u)
    means = evaluate(table_score_fn(scores), users, targets, exclude, ks=ks, metrics=ALL, chunk_size=chunk)
    assert set(means) == {f"{m}@{k}" for m in ALL for k in ks}
    for key, v in means.items():
        assert isinstance(v, float)
        assert v == pytest.approx(np.mean([ref[u][key] for u in ref]), abs=1e-9)


def test_users_subset_order_and_tensor_input():
    scores, targets, exclude = random_problem(3)
    users = torch.tensor([30, 2, 17, 5, 2])
    ref = brute_eval(scores, users.numpy(), targets, exclude, (10,))
    det = evaluate_detailed(table_score_fn(scores), users, targets, exclude, ks=10, metrics=("ndcg", "HR"), chunk_size=2)
    expected_users = [u for u in users.tolist() if u in ref]
    assert det.users.tolist() == expected_users
    assert set(det.per_user) == {"ndcg@10", "hit@10"}
    for j, u in enumerate(det.users):
        assert det.per_user["ndcg@10"][j] == pytest.approx(ref[int(u)]["ndcg@10"])


def test_users_without_targets_are_skipped():
    targets = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=np.float32))
    S = torch.tensor([[0.0, 1.0, 0.5, 0.2], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.2]])
    seen = []

    def fn(u):
        seen.extend(u.tolist())
        return S[u]

    det = evaluate_detailed(fn, np.array([0, 1, 2]), targets, None, ks=(1,), metrics=("hit",))
    assert det.n_users == 2 and det.n_skipped == 1
    assert 1 not in seen
    assert det.per_user["hit@1"].tolist() == [1.0, 0.0]
    with pytest.warns(RuntimeWarning):
        out = evaluate(fn, np.array([1]), targets, None, ks=(1,), metrics=("hit",))
    assert math.isnan(out["hit@1"])


def test_excluded_rank_last_even_when_all_scores_negative():
    rng = np.random.default_rng(0)
    n_users, n_items = 9, 30
    exclude = sp.csr_matrix((rng.random((n_users, n_items)) < 0.4).astype(np.float32))
    ex_dense = exclude.toarray() > 0
    # excluded items score 0, everything else strictly negative
    scores = np.where(ex_dense, 0.0, -1.0 - rng.random((n_users, n_items))).astype(np.float32)
    # every non-excluded item is a target: with a correct mask the top-k is all hits
    targets = sp.csr_matrix((~ex_dense).astype(np.float32))
    k = 5
    out = evaluate(table_score_fn(scores), np.arange(n_users), targets, exclude, ks=(k,), metrics=("precision", "ndcg"), chunk_size=4)
    assert out[f"precision@{k}"] == pytest.approx(1.0)
    assert out[f"ndcg@{k}"] == pytest.approx(1.0)


def test_excluded_items_never_in_topk():
    scores, targets, exclude = random_problem(5, n_users=20, n_items=40, p_ex=0.3)
    ex_dense = exclude.toarray() > 0
    # huge scores on excluded items, and targets only among the excluded items' complement
    scores = np.where(ex_dense, 100.0, scores).astype(np.float32)
    t = targets.toarray() > 0
    targets = sp.csr_matrix((t & ~ex_dense).astype(np.float32))
    captured = {}

    def fn(u):
        s = torch.from_numpy(scores)[u]
        captured[tuple(u.tolist())] = s
        return s

    evaluate(fn, np.arange(20), targets, exclude, ks=(10,), metrics=("hit",), chunk_size=6)
    for users, s in captured.items():  # scores were masked in place
        top = torch.topk(s, 10, dim=1).indices.numpy()
        for row, u in enumerate(users):
            assert not ex_dense[u, top[row]].any()
            assert torch.isneginf(s[row, ex_dense[u]]).all()


def test_target_in_exclude_still_counts():
    # item 3 is both history and target for user 0; it has the best score
    targets = sp.csr_matrix(np.array([[0, 0, 0, 1, 0]], dtype=np.float32))
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 1, 0]], dtype=np.float32))
    S = torch.tensor([[5.0, 0.1, 0.2, 9.0, 0.3]])
    out = evaluate(lambda u: S[u], [0], targets, exclude, ks=(1,), metrics=("hit", "mrr"))
    assert out == {"hit@1": 1.0, "mrr@1": 1.0}


def test_explicit_zeros_ignored_and_k_above_n_items():
    targets = sp.csr_matrix((np.array([1.0, 0.0]), (np.array([0, 0]), np.array([2, 1]))), shape=(1, 3))
    assert targets.nnz == 2  # explicit zero for item 1
    S = torch.tensor([[0.0, 5.0, 1.0]])
    out = evaluate(lambda u: S[u], [0], targets, None, ks=(1, 10), metrics=("recall", "precision"))
    assert out["recall@1"] == 0.0 and out["recall@10"] == 1.0
    assert out["precision@10"] == pytest.approx(0.1)


def test_view_returned_by_score_fn_is_not_mutated():
    S = torch.tensor([[0.0, 5.0, 1.0], [1.0, 2.0, 3.0]])
    before = S.clone()
    targets = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 0]], dtype=np.float32))
    exclude = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32))
    out = evaluate(lambda u: S[: len(u)], [0, 1], targets, exclude, ks=(1,), metrics=("hit",))
    assert torch.equal(S, before)
    assert out["hit@1"] == 1.0


def test_bad_inputs():
    targets = sp.csr_matrix(np.eye(3, dtype=np.float32))
    S = torch.zeros(3, 3)
    with pytest.raises(ValueError):
        evaluate(lambda u: S[u][:, :2], [0], targets, None)
    with pytest.raises(ValueError):
        evaluate(lambda u: S[u], [3], targets, None)
    with pytest.raises(ValueError):
        evaluate(lambda u: S[u], [0], targets, sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError):
        evaluate(lambda u: S[u], [0], targets, None, metrics=("map",))
    with pytest.raises(TypeError):
        evaluate(lambda u: S[u], [0], targets.toarray(), None)


def small_dataset():
    # 4 users, 6 items. train / valid / test grouped by user
    train = Split([0, 0, 1, 1, 2, 3], [0, 1, 2, 3, 4, 5])
    valid = Split([0, 1, 3], [2, 4, 0])
    test = Split([0, 1, 2], [3, 0, 5])
    return Dataset(
        name="toy", n_users=4, n_items=6,
        user_map=IdMap(str(i) for i in range(4)), item_map=IdMap(str(i) for i in range(6)),
        train=train, valid=valid, test=test,
    )


def test_full_ranking_evaluator_on_small_dataset():
    ds = small_dataset()
    # scores: item index descending preference 5 > 4 > ... > 0 for all users
    S = torch.arange(6, dtype=torch.float32).repeat(4, 1)
    score_fn = lambda u: S[u]

    ev = FullRankingEvaluator(ds, "valid", ks=(1, 2), metrics=("hit", "recall"), chunk_size=3)
    assert ev.users.tolist() == [0, 1, 3]
    # valid: user0 hist {0,1} target 2 -> ranking 5,4,3,2 : rank 4 -> miss@2
    #        user1 hist {2,3} target 4 -> ranking 5,4 -> hit@2, miss@1
    #        user3 hist {5}   target 0 -> ranking 4,3,2,1,0 -> miss
    out = ev(score_fn)
    assert out == pytest.approx({"hit@1": 0.0, "hit@2": 1 / 3, "recall@1": 0.0, "recall@2": 1 / 3})

    ev_t = FullRankingEvaluator(ds, "test", ks=(1, 2), metrics=("hit",))
    assert ev_t.users.tolist() == [0, 1, 2]
    # test: user0 hist {0,1,2} target 3 -> ranking 5,4,3 -> miss@2
    #       user1 hist {2,3,4} target 0 -> ranking 5,1,0 -> miss@2
    #       user2 hist {4}     target 5 -> ranking 5 -> hit@1
    out_t = ev_t(score_fn)
    assert out_t == pytest.approx({"hit@1": 1 / 3, "hit@2": 1 / 3})
    det = ev_t.detailed(score_fn)
    assert det.per_user["hit@1"].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(ValueError):
        FullRankingEvaluator(ds, "train")


def test_resolve_chunk_size_and_nan_scores():
    from contrastrec.evaluation.evaluator import resolve_chunk_size

    assert resolve_chunk_size(77, 10) == 77
    assert 8 <= resolve_chunk_size(None, 26_822) * 26_822 * 4 <= 32 * 2**20
    assert resolve_chunk_size(None, 10) == 16384
    with pytest.raises(ValueError):
        resolve_chunk_size(0, 10)
    targets = sp.csr_matrix(np.eye(3, dtype=np.float32))
    S = torch.tensor([[float("nan"), 0.0, 1.0]] * 3)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(lambda u: S[u], [0, 1], targets, None, ks=(2,))
