"""Group metrics and per-user results of a run (issue 24 §1-2): results.json holds the
group and beyond-accuracy summary of the final validation and the test evaluation, and
per_user_{valid,test}.parquet hold each user's values, keyed by raw id, that average to it."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import fit
from tests.conftest import make_tiny, small_overrides


@pytest.mark.parametrize("name", ["mf", "sasrec"])
def test_results_and_per_user_files_agree(tmp_path, name):
    ds = make_tiny(n_users=90, sequential=name == "sasrec")
    cfg = build_config(name, None, small_overrides(name, epochs=2, ks=[5, 10], metric="ndcg@10",
                                                    item_groups=3, user_groups=2))
    res = fit(cfg, ds, tmp_path / "run", progress=False, log=lambda m: None)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["groups"] == json.loads(json.dumps(res["groups"]))
    for phase in ("valid", "test"):
        summary = res["groups"][phase]
        assert list(summary["item_groups"]) == ["head", "mid", "tail"]
        assert list(summary["user_groups"]) == ["sparse", "active"]
        t = pq.read_table(tmp_path / "run" / f"per_user_{phase}.parquet").to_pandas()
        assert len(t) == sum(g["users"] for g in summary["user_groups"].values())
        assert t["user"].tolist() == [ds.user_map.to_raw(u) for u in t["user_index"]]
        for key in ("ndcg@10", "recall@5"):
            assert t[key].mean() == pytest.approx(res[phase][key], rel=1e-12)
            for label, g in summary["item_groups"].items():
                col = t[f"{key}|{label}"]
                assert g["users"] == int(col.notna().sum())
                assert (g[key] is None and g["users"] == 0) or g[key] == pytest.approx(col.mean(), rel=1e-12)
            for label, g in summary["user_groups"].items():
                assert g[key] == pytest.approx(t.loc[t["user_group"] == label, key].mean(), rel=1e-12)
        assert sorted(t["user_group"].unique()) == ["active", "sparse"]
        assert (t.groupby("user_group")["train_interactions"].max()["sparse"]
                <= t.groupby("user_group")["train_interactions"].min()["active"])
        for k in (5, 10):
            assert 0 < summary[f"coverage@{k}"] <= 1 and 0 <= summary[f"gini@{k}"] <= 1 and summary[f"arp@{k}"] > 0


def test_groups_off(tmp_path):
    cfg = build_config("mf", None, small_overrides("mf", epochs=1, ks=[5], metric="ndcg@5", item_groups=0, user_groups=0))
    res = fit(cfg, make_tiny(sequential=False), tmp_path / "run", progress=False, log=lambda m: None)
    assert "groups" not in res and not list((tmp_path / "run").glob("per_user_*"))


@pytest.mark.parametrize("bad", [-1, 101])
def test_group_counts_are_checked(bad):
    with pytest.raises(ConfigError, match="item_groups"):
        build_config("mf", None, small_overrides("mf", item_groups=bad))
