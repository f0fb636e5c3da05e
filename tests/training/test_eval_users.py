"""``eval_users: N`` (issue 12): validation and test on a seeded sample of N users, each still ranked
against every item; the sampled metrics are the full evaluation's per-user values averaged over the
sample; a sequential model encodes only the sampled users' histories; results.json and the log say so."""
import json

import numpy as np
import pytest
import torch

from contrastrec.config import build_config
from contrastrec.evaluation import FullRankingEvaluator
from contrastrec.training.loop import build_model, evaluate_model, fit, histories_for, make_evaluator

from tests.conftest import make_tiny, small_overrides


def test_the_sample_is_seeded_per_phase_and_sorted():
    ds = make_tiny(n_users=120)
    a = FullRankingEvaluator(ds, "valid", sample_users=30, seed=1)
    b = FullRankingEvaluator(ds, "valid", sample_users=30, seed=1)
    c = FullRankingEvaluator(ds, "valid", sample_users=30, seed=2)
    t = FullRankingEvaluator(ds, "test", sample_users=30, seed=1)
    full = FullRankingEvaluator(ds, "valid")
    assert a.sampled and not full.sampled and a.n_users == 30 and a.n_candidates == full.n_users == 120
    assert np.array_equal(a.users, b.users) and np.all(np.diff(a.users) > 0)
    assert not np.array_equal(a.users, c.users) and not np.array_equal(a.users, t.users)
    assert set(a.users) <= set(full.users)
    assert not FullRankingEvaluator(ds, "valid", sample_users=500, seed=1).sampled  # more than there are: all


@pytest.mark.parametrize("name", ["sasrec", "lightgcn"])
def test_sampled_metrics_are_the_full_per_user_values_over_the_sample(name):
    ds = make_tiny(n_users=120, sequential=name == "sasrec")
    cfg = build_config(name, None, small_overrides(name, ks=[10], metric="ndcg@10", eval_users=25))
    torch.manual_seed(0)
    model = build_model(cfg, ds).eval()
    sampled = make_evaluator(ds, "valid", cfg)
    assert sampled.sampled and sampled.n_users == 25
    got = evaluate_model(model, ds, "valid", sampled, cfg.max_len)
    with torch.no_grad():
        per_user = FullRankingEvaluator(ds, "valid", ks=cfg.ks).detailed(
            model.scorer(histories_for(model, ds, "valid", cfg.max_len)))
    keep = np.isin(per_user.users, sampled.users)
    for k, v in got.items():
        assert abs(v - float(np.mean(per_user.per_user[k][keep]))) < 1e-6, k


def test_a_sequential_scorer_encodes_only_the_users_it_is_told():
    ds = make_tiny(n_users=50)
    cfg = build_config("sasrec", None, small_overrides("sasrec"))
    torch.manual_seed(0)
    model = build_model(cfg, ds).eval()
    hist = histories_for(model, ds, "valid", cfg.max_len)
    users = torch.tensor([3, 7, 20, 41])
    calls = []
    encode = model.encode_last
    model.encode_last = lambda seqs: calls.append(seqs.shape[0]) or encode(seqs)
    with torch.no_grad():
        part = model.scorer(hist, users=users)(users)
        assert sum(calls) == len(users)
        whole = model.scorer(hist)(users)
    assert sum(calls) == len(users) + ds.n_users
    torch.testing.assert_close(part, whole, rtol=1e-5, atol=1e-6)


def test_fit_states_the_sample_in_results_and_log(tmp_path):
    ds = make_tiny(n_users=120)
    lines = []
    res = fit(build_config("sasrec", None, small_overrides("sasrec", epochs=1, eval_users=40)), ds, tmp_path / "r",
              progress=False, log=lines.append)
    assert res["eval_users"]["sampled"] == 40 and res["eval_users"]["valid_users"] == 40
    assert "seeded sample" in res["eval_users"]["note"]
    assert json.loads((tmp_path / "r" / "results.json").read_text())["eval_users"]["sampled"] == 40
    assert any("a seeded sample of 40 of 120 users" in line for line in lines)


def test_histories_of_a_subset_equal_the_full_rows():
    from contrastrec.data.sequences import padded_tokens

    ds = make_tiny(n_users=80)
    rows = np.array([0, 5, 6, 41, 79])
    for width in (3, 8, 20):
        full = padded_tokens(ds.train, ds.n_users, width)
        part = padded_tokens(ds.train, ds.n_users, width, rows)
        assert np.array_equal(part[rows], full[rows])
        assert not np.delete(part, rows, axis=0).any()
