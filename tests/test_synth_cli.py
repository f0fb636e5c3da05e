"""`contrastrec synth`: the subcommand on its own parser (cli.py wires it into the main one)."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from contrastrec.data import load_dataset, read_interactions
from contrastrec.synth import _positive, add_synth_command, cmd_synth, main


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="contrastrec")
    add_synth_command(p.add_subparsers(dest="command"))
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    assert args.func is cmd_synth
    return args.func(args)


def test_synth_parquet(tmp_path, capsys):
    out = tmp_path / "g.parquet"
    assert run(["synth", "--users", "500", "--items", "300", "--interactions", "6k", "--seed", "1",
                "--format", "parquet", "--output", str(out), "--chunk-users", "100"]) == 0
    msg = capsys.readouterr().out
    assert "wrote 6,000 interactions (exact) of 500 users" in msg and "graph" in msg
    tab = pq.read_table(out)
    assert tab.column_names == ["user", "item", "timestamp"] and tab.num_rows == 6000
    key = tab["user"].to_numpy() * 300 + tab["item"].to_numpy()
    assert np.unique(key).size == 6000  # graph: distinct items per user
    ds = load_dataset(out)
    assert ds.n_users == 500 and not ds.sequential


def test_synth_lists_deterministic_and_format_from_suffix(tmp_path, capsys):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    common = ["synth", "--users", "400", "--items", "100", "--interactions", "5000", "--sequential"]
    assert run([*common, "--seed", "7", "--output", str(a)]) == 0
    assert run([*common, "--seed", "7", "--output", str(b), "--chunk-users", "1"]) == 0
    assert run([*common, "--seed", "8", "--output", str(c)]) == 0
    assert "sequences" in capsys.readouterr().out
    assert a.read_bytes() == b.read_bytes()  # same seed: same file, whatever the chunk size
    assert a.read_bytes() != c.read_bytes()
    raw = read_interactions(a)
    assert raw.format == "lists" and len(raw) == 5000
    ds = load_dataset(a)
    assert ds.sequential and ds.n_users == 400


def test_synth_errors(tmp_path, capsys):
    assert run(["synth", "--users", "100", "--items", "50", "--interactions", "200",
                "--output", str(tmp_path / "x.parquet")]) == 2
    assert "fewer than 3 per user" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["synth", "--users", "0", "--items", "5", "--interactions", "9", "--output", "x"])
    with pytest.raises(SystemExit):
        parser().parse_args(["synth", "--users", "5", "--items", "5", "--interactions", "9", "--output", "x",
                             "--format", "csv"])


def test_positive_counts():
    assert _positive("10M") == 10_000_000 and _positive("200k") == 200_000
    assert _positive("1e6") == 1_000_000 and _positive("10_000") == 10_000 and _positive("7") == 7
    for bad in ("0", "-3", "1.5", "abc"):
        with pytest.raises(argparse.ArgumentTypeError):
            _positive(bad)


def test_module_entry_point(tmp_path, capsys):
    out = tmp_path / "m.parquet"
    assert main(["--users", "50", "--items", "40", "--interactions", "500", "--output", str(out), "--quiet"]) == 0
    assert pq.read_metadata(out).num_rows == 500
    r = subprocess.run([sys.executable, "-m", "contrastrec.synth", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--interactions" in r.stdout


def test_load_scale_benchmark_smoke(tmp_path):
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "load_scale.py"
    out = tmp_path / "scale.json"
    r = subprocess.run([sys.executable, str(bench), "--data-dir", str(tmp_path / "data"), "--sizes", "3k",
                        "--kinds", "graph-parquet", "seq-lists", "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "| 3k | graph-parquet | 300 | 60 |" in r.stdout
    res = json.loads(out.read_text())["results"]
    assert [x["kind"] for x in res] == ["graph-parquet", "seq-lists"]
    for x in res:
        assert "error" not in x, x
        assert x["peak_rss_mb"] > 0 and x["total_s"] > 0 and x["phases_s"]["read"] > 0
        assert sum(x["rows"].values()) == 3000
    assert res[1]["sequential"] and not res[0]["sequential"]


SMALL = ["synth", "--users", "50", "--items", "40", "--interactions", "500", "--quiet"]


def test_synth_replaces_an_existing_file_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "mine.txt"
    out.write_text("my own data\n")
    assert run([*SMALL, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {out}") and "--overwrite" in err
    assert out.read_text() == "my own data\n"
    assert run([*SMALL, "--output", str(out), "--overwrite"]) == 0
    assert len(read_interactions(out)) == 500


def test_synth_never_writes_over_a_run_file(tmp_path, capsys):
    runs = tmp_path / "run"
    runs.mkdir()
    for name in ("config.yaml", "id_maps.json", "dataset.json"):  # the files every run writes first
        (runs / name).write_text("{}")
    assert run([*SMALL, "--output", str(runs / "dataset.json"), "--overwrite"]) == 2
    assert "a file of the run" in capsys.readouterr().err and (runs / "dataset.json").read_text() == "{}"


def test_a_failed_synth_keeps_the_previous_file(tmp_path, monkeypatch, capsys):
    from contrastrec.data.synthetic import SyntheticStream

    out = tmp_path / "d.txt"
    out.write_text("previous\n")

    def fail(self, path, *a, **k):
        Path(path).write_text("half a fi")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SyntheticStream, "write", fail)
    with pytest.raises(OSError):
        run([*SMALL, "--output", str(out), "--overwrite"])
    assert out.read_text() == "previous\n" and [p.name for p in tmp_path.iterdir()] == ["d.txt"]
