"""The `contrastrec` command end to end on small generated files."""
import json
import subprocess
import sys

import pytest

from contrastrec.cli import build_parser, main
from contrastrec.data import make_synthetic


def _write_lists(path, n_users=80, n_items=50, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for u in range(1, n_users + 1):
            start = int(rng.integers(1, n_items))
            items = [(start + j) % n_items + 1 for j in range(6)]
            f.write(" ".join(map(str, [u] + items)) + "\n")


def test_help_on_every_command(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage:" in out and len(out) > 100, name


def test_models_lists_everything(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for m in ("lightgcn", "sasrec", "sgl", "simgcl", "xsimgcl", "ncl", "directau", "cl4srec", "coserec",
              "iclrec", "duorec", "simcse", "s3rec"):
        assert m in out


def test_train_evaluate_and_resume(tmp_path, capsys):
    data = tmp_path / "seqs.txt"
    _write_lists(data)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: sasrec\nepochs: 2\nembedding_dim: 16\nmax_len: 10\nn_layers: 1\nks: [5, 10]\nmetric: ndcg@10\n")
    out = tmp_path / "run"
    rc = main(["train", "--config", str(cfg), "--dataset", str(data), "--output", str(out), "--quiet",
               "--set", "lr=0.01 batch_size=32", "--set", "seed=1", "--device", "cpu"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["lr"] == 0.01 and res["config"]["batch_size"] == 32 and res["config"]["seed"] == 1
    assert res["config"]["n_layers"] == 1  # from the file
    assert (out / "id_maps.json").exists() and (out / "log.jsonl").exists()
    capsys.readouterr()
    assert main(["evaluate", "--run", str(out)]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["test"]["ndcg@10"] == pytest.approx(res["test"]["ndcg@10"], abs=1e-6)
    # resume of a finished run continues nowhere and re-tests the same checkpoint
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    # a finished (or budget-stopped) run can be given more epochs / time; the experiment cannot change
    assert main(["train", "--resume", str(out), "--quiet", "--set", "epochs=3 max_train_seconds=600"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["epochs"] == 3 and res["config"]["max_train_seconds"] == 600
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet", "--set", "lr=1"]) == 2
    assert "cannot change lr when resuming" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("u1\ti1\t5\nu2\n")
    rc = main(["train", "--model", "mf", "--dataset", str(bad), "--output", str(tmp_path / "o"), "--format", "triples"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "bad.tsv:2" in err and len(err.splitlines()) == 1
    rc = main(["train", "--model", "mf", "--dataset", str(bad), "--output", str(tmp_path / "o"), "--set", "learning_rate=1"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown config key 'learning_rate'" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    rc = main(["train", "--model", "mf", "--dataset", str(empty), "--output", str(tmp_path / "o")])
    assert rc == 2 and "empty" in capsys.readouterr().err


def test_datasets_command(tmp_path, capsys):
    d = tmp_path / "root" / "toy"
    d.mkdir(parents=True)
    _write_lists(d / "toy.txt")
    assert main(["datasets", "--root", str(tmp_path / "root")]) == 0
    assert "toy" in capsys.readouterr().out


def test_demo_quick(tmp_path, capsys):
    from contrastrec.demo import run_demo

    lines = []
    rows = run_demo(output=str(tmp_path), quick=True, models=["pop", "mf", "sasrec"], print_fn=lines.append)
    assert [r["model"] for r in rows] == ["pop", "mf", "sasrec"]
    assert any("Popularity is the floor" in l for l in lines)


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "contrastrec", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "contrastrec" in r.stdout


def _graph_run(tmp_path, epochs: int):
    """A LightGCN run on the lists file treated as leave-one-out graph CF; returns (dir, results)."""
    data = tmp_path / "seqs.txt"
    _write_lists(data)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(data), "--output", str(out), "--quiet", "--device", "cpu",
                 "--set", f"model=lightgcn sequential=false split=loo epochs={epochs} embedding_dim=8 ks=[5,10] "
                          "metric=ndcg@10 batch_size=32"]) == 0
    return out, json.loads((out / "results.json").read_text())


def test_evaluate_with_the_history_graph(tmp_path, capsys):
    out, res = _graph_run(tmp_path, 2)
    capsys.readouterr()
    assert main(["evaluate", "--run", str(out), "--eval-graph", "history"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["eval_graph"] == "history"
    assert ev["valid"]["ndcg@10"] == pytest.approx(res["valid"]["ndcg@10"], abs=1e-9)
    assert ev["test"] != res["test"]


def test_refit_trains_on_train_plus_valid_for_the_selected_epochs(tmp_path, capsys):
    sel, chosen = _graph_run(tmp_path, 4)
    capsys.readouterr()
    out = tmp_path / "refit"
    assert main(["refit", "--run", str(sel), "--output", str(out), "--quiet"]) == 0
    res = json.loads((out / "results.json").read_text())
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == chosen["best_epoch"] + 1 and all("valid" not in r for r in log)  # no validation
    assert res["config"]["refit"] is True and res["valid"] is None and set(res["test"]) == set(chosen["test"])
    assert res["refit_of"]["best_epoch"] == chosen["best_epoch"]
    ds = json.loads((out / "dataset.json").read_text())
    first = json.loads((sel / "dataset.json").read_text())
    assert ds["train"] == first["train"] + first["valid"] and ds["valid"] == 0 and ds["test"] == first["test"]
    with pytest.raises(SystemExit, match="is itself a refit"):
        main(["refit", "--run", str(out), "--output", str(tmp_path / "again"), "--quiet"])
    with pytest.raises(SystemExit, match="only threads"):
        main(["refit", "--run", str(sel), "--output", str(tmp_path / "x"), "--set", "lr=0.5"])


def test_train_prints_a_short_summary_and_json_on_request(tmp_path, capsys):
    data = tmp_path / "seqs.txt"
    _write_lists(data)
    common = ["train", "--model", "sasrec", "--dataset", str(data), "--quiet", "--device", "cpu",
              "--set", "epochs=2 embedding_dim=16 max_len=10 n_layers=1 ks=[5,10] metric=ndcg@10 batch_size=32"]
    assert main(common + ["--output", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    tail = out[out.index("sasrec on "):].splitlines()
    assert len(tail) <= 10  # not the JSON dump
    assert f"selected epoch {res['best_epoch']} of {res['epochs']}" in tail[0]
    assert tail[0].endswith("(cut by the epoch cap)") and res["stopped"] == "epochs"
    assert any(line.strip().startswith("test") and f"{res['test']['ndcg@10']:.4f}" in line for line in tail)
    assert any("by item popularity: head" in line for line in tail)
    assert any("by user activity: sparse" in line for line in tail)
    assert str(tmp_path / "a") in tail[-1]
    assert main(common + ["--output", str(tmp_path / "b"), "--json"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{"):])
    assert printed == json.loads((tmp_path / "b" / "results.json").read_text())


@pytest.mark.parametrize("model", ["sasrec", "mf"])
def test_evaluate_refuses_eval_graph_where_it_does_nothing(capsys, model):
    from tests.serving.runs import trained_run

    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--run", str(trained_run(model)), "--eval-graph", "history"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: --eval-graph: does nothing for model {model}: ")
