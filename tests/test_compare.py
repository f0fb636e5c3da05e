"""`contrastrec compare`: paired per-user tests against scipy.stats on known inputs, Holm's
correction, groups, and refusals of runs that cannot be paired (issue 24 §3)."""
import json

import numpy as np
import pytest
from scipy import stats

from contrastrec.cli import main
from contrastrec.compare import CompareError, compare_runs, holm, paired_row
from contrastrec.config import build_config
from contrastrec.training.loop import fit
from tests.conftest import make_tiny, small_overrides


def test_holm_matches_the_step_down_definition():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan"), 0.01])[0] == pytest.approx(0.5) and np.isnan(holm([0.5, float("nan"), 0.01])[1])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 2 x 0.8 capped at 1, then monotone


def test_paired_row_matches_scipy_on_known_inputs():
    rng = np.random.default_rng(3)
    a = rng.random(200)
    b = a + rng.normal(0.05, 0.1, 200)
    r = paired_row("x", "ndcg@20", "all", a, b, n_boot=2000, seed=1)
    assert r.p_t == pytest.approx(stats.ttest_rel(b, a).pvalue, rel=1e-12)
    assert r.p_wilcoxon == pytest.approx(stats.wilcoxon(b, a).pvalue, rel=1e-12)
    assert r.rel_diff == pytest.approx((b.mean() - a.mean()) / a.mean())
    assert r.ci_low < r.rel_diff < r.ci_high
    same = paired_row("x", "ndcg@20", "all", a, b, n_boot=2000, seed=1)
    assert (same.ci_low, same.ci_high) == (r.ci_low, r.ci_high)  # seeded
    tie = paired_row("x", "ndcg@20", "all", a, a.copy())
    assert tie.p_t == tie.p_wilcoxon == 1.0 and tie.rel_diff == 0.0


def _run(tmp_path, name, model, ds, **over):
    cfg = build_config(model, None, small_overrides(model, epochs=2, ks=[5, 10], metric="ndcg@10", **over))
    fit(cfg, ds, tmp_path / name, progress=False, log=lambda m: None)
    return str(tmp_path / name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    ds = make_tiny(n_users=120, sequential=False)
    return (_run(tmp, "mf", "mf", ds), _run(tmp, "lightgcn", "lightgcn", ds),
            _run(tmp, "other", "mf", make_tiny(n_users=120, seed=5, sequential=False)))


def test_compare_pairs_users_and_corrects_over_all_rows(runs):
    a, b, _ = runs
    rows = compare_runs([a, b], metrics=["ndcg@10", "recall@5"], n_boot=200)
    groups = [r.group for r in rows if r.metric == "ndcg@10"]
    assert groups == ["all", "items:head", "items:mid", "items:tail", "users:sparse", "users:mid", "users:active"]
    import pyarrow.parquet as pq

    ta = pq.read_table(f"{a}/per_user_test.parquet").to_pandas().set_index("user")
    tb = pq.read_table(f"{b}/per_user_test.parquet").to_pandas().set_index("user").loc[ta.index]
    overall = rows[0]
    assert overall.users == len(ta)
    assert overall.mean_a == pytest.approx(ta["ndcg@10"].mean()) and overall.mean_b == pytest.approx(tb["ndcg@10"].mean())
    assert overall.p_wilcoxon == pytest.approx(stats.wilcoxon(tb["ndcg@10"], ta["ndcg@10"]).pvalue)
    tail = next(r for r in rows if r.metric == "ndcg@10" and r.group == "items:tail")
    sel = ta["ndcg@10|tail"].notna()
    assert tail.users == int(sel.sum()) and tail.mean_b == pytest.approx(tb.loc[sel, "ndcg@10|tail"].mean())
    assert [r.p_wilcoxon_holm for r in rows] == pytest.approx(holm([r.p_wilcoxon for r in rows]), nan_ok=True)
    assert all(r.significant == (r.p_wilcoxon_holm < 0.05) for r in rows)


def test_compare_cli_table_json_and_refusals(runs, capsys):
    a, b, other = runs
    assert main(["compare", a, b, "--metrics", "ndcg@10", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "| lightgcn | ndcg@10 | all |" in out and "Holm" in out
    assert main(["compare", a, b, "--metrics", "ndcg@10", "--bootstrap", "200", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 7
    for argv, msg in [([a, other], "another split"), ([a, b, "--metrics", "ndcg@99"], "unknown metric"),
                      ([a], "at least two runs"), ([a, b + "-missing"], "not found")]:
        with pytest.raises(SystemExit) as e:
            main(["compare", *argv])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and msg in err and err.count("\n") == 1, err


def test_compare_refuses_other_id_maps(runs, tmp_path):
    import shutil

    a, b, _ = runs
    c = tmp_path / "c"
    shutil.copytree(b, c)
    maps = json.loads((c / "id_maps.json").read_text())
    maps["users"][0], maps["users"][1] = maps["users"][1], maps["users"][0]
    (c / "id_maps.json").write_text(json.dumps(maps))
    with pytest.raises(CompareError, match="other id maps"):
        compare_runs([a, str(c)])


def test_evaluate_per_user_makes_an_older_run_comparable(tmp_path, capsys):
    import os
    import shutil

    from tests.test_cli import _write_lists

    data = tmp_path / "seqs.txt"
    _write_lists(data)
    for model, name in (("mf", "a"), ("lightgcn", "b")):
        assert main(["train", "--model", model, "--dataset", str(data), "--output", str(tmp_path / name), "--quiet",
                     "--device", "cpu", "--set", "epochs=2 embedding_dim=16 ks=[5,10] metric=ndcg@10"]) == 0
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    old = tmp_path / "old"  # as a run from before per-user results: no per_user files, no split fingerprint
    shutil.copytree(b, old)
    for name in ("per_user_valid.parquet", "per_user_test.parquet"):
        os.unlink(old / name)
    ds_json = json.loads((old / "dataset.json").read_text())
    ds_json.pop("split_sha256")
    (old / "dataset.json").write_text(json.dumps(ds_json))
    with pytest.raises(CompareError):
        compare_runs([a, str(old)])
    capsys.readouterr()
    assert main(["evaluate", "--run", str(old), "--per-user", str(tmp_path / "ev")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "tail" in printed["groups"]["test"]["item_groups"]
    fresh = compare_runs([a, b], metrics=["ndcg@10"], n_boot=200)
    again = compare_runs([a, str(tmp_path / "ev")], metrics=["ndcg@10"], n_boot=200)
    assert [(r.group, r.mean_b, r.p_wilcoxon) for r in again] == [(r.group, r.mean_b, r.p_wilcoxon) for r in fresh]
    with pytest.raises(SystemExit):  # never over an earlier evaluation
        main(["evaluate", "--run", str(old), "--per-user", str(tmp_path / "ev")])


def test_compare_refuses_runs_with_other_groups(runs, tmp_path, capsys):
    """Same split, but item_groups 5 instead of 3: the group columns cannot be paired (was a KeyError)."""
    a, _, _ = runs
    ds = make_tiny(n_users=120, sequential=False)
    five = _run(tmp_path, "mf5", "mf", ds, item_groups=5, user_groups=2)
    with pytest.raises(SystemExit) as e:
        main(["compare", a, five, "--metrics", "ndcg@10"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "other groups" in err and "item_groups" in err, err
    out = tmp_path / "r.md"
    assert main(["report", a, five, "--output", str(out)]) == 0
    (note,) = [n for n in out.read_text().splitlines() if n.startswith("No paired comparison")]
    assert "other groups" in note
