"""Data a run is given or reads back, at the command line (issue 23): refused in one line before
training, or read from the same file from any folder."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.data.test_silent_misreads import no_hang
from tests.test_cli_faults import TRAIN, assert_one_line_error, cli, fast_config, write_lists  # noqa: F401


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(data file, run dir)`` of a finished two-epoch run (tests copy what they change)."""
    root = tmp_path_factory.mktemp("cli-data")
    data = write_lists(root / "data.txt")
    run = root / "run"
    from contrastrec.cli import main

    assert main(["train", *TRAIN, "--dataset", os.path.relpath(data), "--output", str(run)]) == 0
    return data, run


def test_a_test_file_of_training_pairs_stops_before_training(tmp_path, capsys):
    d = tmp_path / "data"
    d.mkdir()
    train = [(u, (u + k) % 15) for u in range(20) for k in range(6)]
    (d / "train.txt").write_text("".join(f"{u}\t{i}\n" for u, i in train))
    (d / "test.txt").write_text("".join(f"{u}\t{i}\n" for u, i in train[::6]))
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", d, "--output", out)
    assert rc == 2
    assert_one_line_error(err, f"{d / 'test.txt'}: all 20 test pairs were training pairs")
    assert not (out / "results.json").exists() and not (out / "best.pt").exists()


def test_an_empty_test_split_stops_before_training(tmp_path, capsys):
    p = tmp_path / "one.tsv"  # one interaction per user: the random split leaves nothing to test
    p.write_text("".join(f"u{u}\ti{u % 7}\n" for u in range(40)))
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", p, "--output", out)
    assert rc == 2
    assert_one_line_error(err, f"{p}: the validation and the test splits are empty")
    assert not (out / "results.json").exists()


def test_a_fifo_dataset_is_one_line(tmp_path, capsys):
    f = tmp_path / "pipe"
    os.mkfifo(f)
    with no_hang():
        rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", f, "--output", tmp_path / "run")
    assert rc == 2
    assert_one_line_error(err, f"{f}: not a regular file (a FIFO)")


def test_datasets_root_file_is_one_line(tmp_path, capsys):
    f = write_lists(tmp_path / "x.txt")
    rc, _, err = cli(capsys, "datasets", "--root", f)
    assert rc == 2
    assert_one_line_error(err, f"{f}: is a file, not a folder")


def test_the_run_records_an_absolute_path_and_a_fingerprint(trained):
    data, run = trained
    rec = json.loads((run / "dataset.json").read_text())
    assert rec["path"] == str(data.absolute())
    assert rec["fingerprint"]["files"]["data.txt"]["size"] == data.stat().st_size
    assert json.loads((run / "results.json").read_text())["unseen_items"] == {"valid": 0, "test": 0}


def test_evaluate_from_another_folder_reads_the_run_data(trained, tmp_path, capsys, monkeypatch):
    _, run = trained
    other = tmp_path / "elsewhere"
    other.mkdir()
    write_lists(other / "data.txt", seed=5)  # another file of the same name, here
    monkeypatch.chdir(other)
    rc, out, err = cli(capsys, "evaluate", "--run", run)
    assert rc == 0, err
    assert "test" in json.loads(out)


@pytest.mark.parametrize("change", ["append", "same_size"])
def test_a_changed_data_file_is_refused_when_the_run_is_loaded(trained, tmp_path, capsys, change):
    data, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    moved = tmp_path / "data.txt"
    text = data.read_text()
    moved.write_text(text + "\n" if change == "append" else _same_size_edit(text))
    rec = json.loads((copy / "dataset.json").read_text())
    for command in (["evaluate", "--run", copy, "--dataset", moved],
                    ["recommend", "--run", copy, "--user", "1", "--dataset", moved]):
        rc, _, err = cli(capsys, *command)
        assert rc == 2
        line = assert_one_line_error(err, f"{moved}: not the data this run was trained on")
        assert ("bytes" in line) == (change == "append") and str(copy / "dataset.json") in line
    assert rec == json.loads((copy / "dataset.json").read_text())  # nothing written


def _same_size_edit(text: str) -> str:
    """``text`` with the last item of the last line replaced by an item of the same length seen
    before: the same ids in the same order of appearance, the same size, another content."""
    lines = text.splitlines()
    last = lines[-1].split()
    seen = [x for x in " ".join(lines[:-1]).split()[1:] if len(x) == len(last[-1]) and x != last[-1]]
    last[-1] = seen[0]
    return "\n".join([*lines[:-1], " ".join(last)]) + "\n"


def test_an_old_run_without_a_fingerprint_loads_with_a_note(trained, tmp_path, capsys):
    data, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    rec = json.loads((copy / "dataset.json").read_text())
    del rec["fingerprint"]
    (copy / "dataset.json").write_text(json.dumps(rec))
    rc, out, err = cli(capsys, "evaluate", "--run", copy)
    assert rc == 0
    assert "records no data fingerprint" in err and "test" in json.loads(out)
