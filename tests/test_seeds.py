"""`train --seeds N` (issue 24 §4): N seeds on one split in one folder, their mean, standard
deviation and t interval; resumable; `compare` reads the folder as per-user means over seeds."""
import json
import shutil

import numpy as np
import pytest
from scipy import stats

from contrastrec.cli import main
from contrastrec.compare import compare_runs
from tests.test_cli import _write_lists

COMMON = ["--quiet", "--device", "cpu", "--set",
          "epochs=2 embedding_dim=16 max_len=10 n_layers=1 ks=[5,10] metric=ndcg@10 batch_size=32 seed=7"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seeds")
    data = tmp / "seqs.txt"
    _write_lists(data)
    assert main(["train", "--model", "sasrec", "--dataset", str(data), "--output", str(tmp / "s"),
                 "--seeds", "3", *COMMON]) == 0
    return tmp, data


def test_seeds_share_one_split_and_summarize(seeds_run, capsys):
    tmp, _ = seeds_run
    plan = json.loads((tmp / "s" / "seeds.json").read_text())
    assert plan["seeds"] == [7, 8, 9]
    res = [json.loads((tmp / "s" / f"seed-{s}" / "results.json").read_text()) for s in plan["seeds"]]
    assert [r["config"]["seed"] for r in res] == [7, 8, 9] and {r["config"]["split_seed"] for r in res} == {7}
    shas = {json.loads((tmp / "s" / f"seed-{s}" / "dataset.json").read_text())["split_sha256"] for s in plan["seeds"]}
    assert len(shas) == 1
    v = np.array([r["test"]["ndcg@10"] for r in res])
    got = plan["summary"]["test"]["ndcg@10"]
    assert got["mean"] == pytest.approx(v.mean()) and got["std"] == pytest.approx(v.std(ddof=1))
    lo, hi = stats.t.interval(0.95, 2, loc=v.mean(), scale=v.std(ddof=1) / np.sqrt(3))
    assert got["ci"] == pytest.approx([lo, hi])
    assert "tail" in plan["summary"]["test_groups"]["item_groups"]


def test_seeds_resume_finishes_what_was_interrupted(seeds_run, tmp_path):
    tmp, _ = seeds_run
    copy = tmp_path / "s"
    shutil.copytree(tmp / "s", copy)
    before = json.loads((copy / "seeds.json").read_text())["summary"]
    shutil.rmtree(copy / "seed-9")  # never started
    (copy / "seed-8" / "results.json").unlink()  # killed in its test evaluation
    assert main(["train", "--resume", str(copy), "--quiet"]) == 0
    after = json.loads((copy / "seeds.json").read_text())["summary"]
    assert after["test"]["ndcg@10"]["values"] == pytest.approx(before["test"]["ndcg@10"]["values"], abs=1e-9)
    with pytest.raises(SystemExit):
        main(["train", "--resume", str(copy), "--model", "mf"])


def test_compare_reads_a_seeds_folder_as_per_user_means(seeds_run, tmp_path):
    tmp, data = seeds_run
    assert main(["train", "--model", "mf", "--dataset", str(data), "--output", str(tmp_path / "mf"),
                 "--quiet", "--device", "cpu", "--set", "epochs=2 embedding_dim=16 ks=[5,10] metric=ndcg@10 seed=7"]) == 0
    rows = compare_runs([str(tmp_path / "mf"), str(tmp / "s")], metrics=["ndcg@10"], n_boot=200)
    import pyarrow.parquet as pq

    per = [pq.read_table(tmp / "s" / f"seed-{s}" / "per_user_test.parquet").to_pandas().set_index("user")["ndcg@10"]
           for s in (7, 8, 9)]
    assert rows[0].group == "all" and rows[0].mean_b == pytest.approx(float(sum(per).mean() / 3))
