import json

import numpy as np
import pytest
import torch

from contrastrec.cli import main
from contrastrec.export import load_encoder, read_export
from contrastrec.serving import load_run
from contrastrec.data.sequences import padded_histories

from tests.serving.runs import trained_run


def test_graph_export_parquet(tmp_path, capsys):
    run_dir = trained_run("lightgcn")
    assert main(["export", "--run", str(run_dir), "--output", str(tmp_path / "ex")]) == 0
    assert "exported lightgcn" in capsys.readouterr().out
    ex = read_export(tmp_path / "ex")
    meta = ex.metadata
    assert meta["model"] == "lightgcn" and meta["dimension"] == 16 and meta["normalization"] == "none"
    assert "inner product" in meta["score"] and meta["run"]["id"].startswith("run-lightgcn@")
    assert meta["dataset"]["name"] == "tiny_graph" and (tmp_path / "ex" / "users.parquet").exists()
    assert not (tmp_path / "ex" / "encoder.pt").exists()
    ids = json.loads((run_dir / "id_maps.json").read_text())
    assert ex.user_ids == ids["users"] and ex.item_ids == ids["items"]
    run = load_run(run_dir)
    scores = run.model.scorer(None)(torch.arange(run.dataset.n_users))
    np.testing.assert_allclose(ex.users @ ex.items.T, scores.numpy(), rtol=1e-4, atol=1e-6)


def test_sequential_export_npy_and_encoder(tmp_path):
    run_dir = trained_run("sasrec")
    assert main(["export", "--run", str(run_dir), "--output", str(tmp_path / "ex"), "--format", "npy"]) == 0
    ex = read_export(tmp_path / "ex")
    assert ex.metadata["format"] == "npy" and "train + valid" in ex.metadata["users"]
    assert ex.users.shape == (60, 16) and ex.items.dtype == np.float32
    run = load_run(run_dir)
    # user rows = the model's encoding of the test-time history (train + valid)
    hist = padded_histories(run.dataset.history("test"), run.dataset.n_users, run.cfg.max_len)
    with torch.no_grad():
        expected = run.model.encode_histories(hist).numpy()
    np.testing.assert_allclose(ex.users, expected, rtol=1e-4, atol=1e-5)
    # the saved encoder encodes raw-id histories the same way
    enc = load_encoder(tmp_path / "ex" / "encoder.pt")
    split = run.dataset.history("test")
    raws = [run.dataset.item_map.raws(split.items[split.users == u]) for u in range(3)]
    np.testing.assert_allclose(enc(raws), expected[:3], rtol=1e-4, atol=1e-5)
    with pytest.raises(KeyError, match="unknown item 'nope'"):
        enc([["nope"]])


def test_export_missing_run(tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path), "--output", str(tmp_path / "x")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_bert4rec_export_and_history_vectors_score_like_the_model(tmp_path):
    """BERT4Rec's user vector is its output layer at an appended mask plus a bias column: the
    export writes no encoder.pt (it would hold only the encoder) and says so; the tables and
    ``encoder_of(run)`` (what the service encodes new histories with) reproduce the model's scores."""
    from contrastrec.export import encoder_of, save_encoder

    run_dir = trained_run("bert4rec")
    assert main(["export", "--run", str(run_dir), "--output", str(tmp_path / "ex"), "--format", "npy"]) == 0
    ex = read_export(tmp_path / "ex")
    assert not (tmp_path / "ex" / "encoder.pt").exists() and "No encoder.pt" in ex.metadata["users"]
    run = load_run(run_dir)
    hist = padded_histories(run.dataset.history("test"), run.dataset.n_users, run.cfg.max_len)
    with torch.no_grad():
        scores = run.model.scorer(hist)(torch.arange(run.dataset.n_users)).numpy()
    np.testing.assert_allclose(ex.users @ ex.items.T, scores, rtol=1e-4, atol=1e-4)
    split = run.dataset.history("test")
    raws = [run.dataset.item_map.raws(split.items[split.users == u]) for u in range(3)]
    vectors = encoder_of(run)(raws)
    np.testing.assert_allclose(vectors @ ex.items.T, scores[:3], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="bert4rec: its user vector is not the bare encoder"):
        save_encoder(run, tmp_path / "encoder.pt")


def _tree(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_export_into_a_used_folder_is_refused_and_overwrite_replaces_the_whole_export(tmp_path, capsys):
    ex = tmp_path / "ex"
    assert main(["export", "--run", str(trained_run("sasrec")), "--output", str(ex)]) == 0
    before = _tree(ex)
    capsys.readouterr()
    assert main(["export", "--run", str(trained_run("lightgcn")), "--output", str(ex)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(ex) in err and "--overwrite" in err
    assert _tree(ex) == before
    assert main(["export", "--run", str(trained_run("lightgcn")), "--output", str(ex), "--overwrite"]) == 0
    assert read_export(ex).metadata["model"] == "lightgcn"
    assert not (ex / "encoder.pt").exists()  # no leftover of the sasrec export
    with pytest.raises(FileNotFoundError):
        load_encoder(ex)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex"]  # no temporary folder left


@pytest.mark.parametrize("what", ["a run", "an export with the user's file"])
def test_overwrite_replaces_only_an_export(tmp_path, capsys, what):
    import shutil

    if what == "a run":
        folder = shutil.copytree(trained_run("mf"), tmp_path / "run")
    else:
        folder = tmp_path / "ex"
        assert main(["export", "--run", str(trained_run("mf")), "--output", str(folder)]) == 0
        (folder / "notes.txt").write_text("keep me")
    before = _tree(folder)
    capsys.readouterr()
    assert main(["export", "--run", str(trained_run("lightgcn")), "--output", str(folder), "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a contrastrec export" in err
    assert _tree(folder) == before


def test_a_failed_export_keeps_the_previous_one(tmp_path, monkeypatch):
    from contrastrec import export

    ex = tmp_path / "ex"
    assert main(["export", "--run", str(trained_run("mf")), "--output", str(ex)]) == 0
    before = _tree(ex)
    real = export._write_table

    def fail_on_items(path, *a, **k):
        if path.name == "items":
            raise OSError(28, "No space left on device")
        return real(path, *a, **k)

    monkeypatch.setattr(export, "_write_table", fail_on_items)
    assert main(["export", "--run", str(trained_run("lightgcn")), "--output", str(ex), "--overwrite"]) == 1
    assert _tree(ex) == before and sorted(p.name for p in tmp_path.iterdir()) == ["ex"]
