"""Bad files and bad values at the command line (issue 14, "Reliability, proven").

Each fault is met with one line on stderr, ``error: <file>: <cause>``, exit status 2 (bad input)
or 1 (a failed write), and never a traceback: ``main`` is called in this process, so an exception
escaping it (what a user would see as a traceback) fails the test. The runs are tiny (an MF model,
two epochs, on a generated lists file) and trained once per module."""
from __future__ import annotations

import errno
import json
import os
import shutil
import sys

import numpy as np
import pytest
import torch

from contrastrec.cli import main

EPOCHS = 2
TRAIN = ["--model", "mf", "--quiet", "--device", "cpu", "--set",
         f"epochs={EPOCHS} embedding_dim=8 batch_size=32 ks=[5] metric=ndcg@5 seed=3 threads=1"]


def write_lists(path, n_users=40, n_items=30, per_user=6, seed=0, extra=()):
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, n_users + 1):
        start = int(rng.integers(1, n_items))
        lines.append(" ".join(map(str, [u] + [(start + j) % n_items + 1 for j in range(per_user)])))
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def cli(capsys, *argv):
    """``(status, stdout, stderr)`` of ``contrastrec ARGV`` run in this process."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse, _fail()
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_one_line_error(err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and len(lines[0]) < 400, err
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module", autouse=True)
def fast_config():
    """``config._field_types`` (typing.get_type_hints) is recomputed for every key of every saved
    config: 2-3 s per command that reads a run. Cached here (a pure function of the class) so that
    this module stays fast; the same one-line fix belongs in config.py (see docs/reliability.md)."""
    import functools

    from contrastrec import config

    with pytest.MonkeyPatch.context() as mp:
        if not hasattr(config._field_types, "cache_info"):
            mp.setattr(config, "_field_types", functools.lru_cache(maxsize=None)(config._field_types))
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(data file, run dir)``: a finished two-epoch run, never modified (tests copy it)."""
    root = tmp_path_factory.mktemp("cli-faults")
    data = write_lists(root / "data.txt")
    run = root / "run"
    assert main(["train", *TRAIN, "--dataset", str(data), "--output", str(run)]) == 0
    return data, run


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the trained run, to damage."""
    dst = tmp_path / "run"
    shutil.copytree(trained[1], dst)
    return dst


@pytest.fixture(autouse=True)
def no_server(monkeypatch):
    """`serve` must fail while loading the run; should it get further, fail instead of serving."""
    try:
        import uvicorn
    except ImportError:
        return

    def refuse(*a, **k):
        raise AssertionError("the server would have started on a damaged run")

    monkeypatch.setattr(uvicorn, "run", refuse)


def commands(run, tmp_path):
    """Every command that reads a run's best.pt, by name."""
    return {
        "evaluate": ["evaluate", "--run", run],
        "recommend": ["recommend", "--run", run, "--user", "1"],
        "export": ["export", "--run", run, "--output", tmp_path / "export"],
        "serve": ["serve", "--run", run],
        "resume": ["train", "--resume", run, "--quiet"],
    }


def needs_serve(name):
    if name == "serve":
        pytest.importorskip("fastapi")
        pytest.importorskip("uvicorn")
        pytest.importorskip("faiss")


# --------------------------------------------------------------------------- damaged checkpoints
DAMAGE = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "garbage": lambda b: bytes(range(256)) * 8,
}


@pytest.mark.parametrize("command, damage", [
    *[(c, "truncated") for c in ("evaluate", "recommend", "export", "serve", "resume")],
    ("evaluate", "empty"), ("recommend", "garbage"),
])
def test_a_corrupt_best_pt_is_one_line(run, tmp_path, capsys, command, damage):
    needs_serve(command)
    best = run / "best.pt"
    best.write_bytes(DAMAGE[damage](best.read_bytes()))
    rc, _, err = cli(capsys, *commands(run, tmp_path)[command])
    assert rc == 2
    assert_one_line_error(err, best, "truncated or corrupt checkpoint")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupt_last_pt_on_resume_is_one_line(run, capsys, damage):
    last = run / "last.pt"
    last.write_bytes(DAMAGE[damage](last.read_bytes()))
    rc, _, err = cli(capsys, "train", "--resume", run, "--quiet")
    assert rc == 2
    assert_one_line_error(err, last, "truncated or corrupt checkpoint")


def _edit_checkpoint(path, edit):
    ck = torch.load(path, weights_only=True)
    edit(ck)
    torch.save(ck, path)


@pytest.mark.parametrize("command", ["evaluate", "recommend", "export", "serve"])
def test_a_checkpoint_whose_weights_do_not_fit_its_config_is_one_line(run, tmp_path, capsys, command):
    """A config edited after training (or weights from other code): load_state_dict's several
    paragraphs of size mismatches become one line naming the file and the first mismatch."""
    needs_serve(command)
    _edit_checkpoint(run / "best.pt", lambda ck: ck["config"].update(embedding_dim=16))
    rc, _, err = cli(capsys, *commands(run, tmp_path)[command])
    assert rc == 2
    assert_one_line_error(err, run / "best.pt", "do not fit", "[40, 8] in the file but [40, 16] in the model")


def test_resume_from_a_last_pt_whose_weights_do_not_fit_is_one_line_before_training(run, capsys):
    _edit_checkpoint(run / "last.pt", lambda ck: ck["config"].update(embedding_dim=16))
    before = (run / "log.jsonl").read_text()
    rc, _, err = cli(capsys, "train", "--resume", run, "--quiet", "--set", f"epochs={EPOCHS + 1}")
    assert rc == 2
    assert_one_line_error(err, run / "last.pt", "do not fit")
    assert (run / "log.jsonl").read_text() == before  # refused before any epoch ran


@pytest.mark.parametrize("edit, needle", [
    (lambda ck: ck.pop("config"), "not a contrastrec checkpoint (no config)"),
    (lambda ck: ck.pop("model"), "no model weights"),
    (lambda ck: ck["model"].pop(next(iter(ck["model"]))), "missing"),
    (lambda ck: ck["model"].update(extra=torch.zeros(2)), "unexpected tensor"),
    (lambda ck: ck["config"].update(no_such_key=1), "its saved config is not valid here"),
], ids=["no-config", "no-model", "missing-tensor", "extra-tensor", "bad-config"])
def test_a_checkpoint_missing_its_parts_is_one_line(run, capsys, edit, needle):
    _edit_checkpoint(run / "best.pt", edit)
    rc, _, err = cli(capsys, "evaluate", "--run", run)
    assert rc == 2
    assert_one_line_error(err, run / "best.pt", needle)


# --------------------------------------------------------------------------- id maps
ID_MAPS_DAMAGE = {
    "truncated": ('{"users": ["1", "2"', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "list": ('["1", "2"]', "got a list"),
    "not-a-list": ('{"users": 5, "items": []}', "'users' must be a list"),
    "duplicates": ('{"users": ["1", "1"], "items": []}', "duplicate ids"),
    "binary": ("\udcff", "not valid JSON"),
}


@pytest.mark.parametrize("command", ["evaluate", "recommend", "export", "serve", "resume"])
def test_a_corrupt_id_maps_json_is_one_line(run, tmp_path, capsys, command):
    needs_serve(command)
    (run / "id_maps.json").write_text(ID_MAPS_DAMAGE["truncated"][0])
    rc, _, err = cli(capsys, *commands(run, tmp_path)[command])
    assert rc == 2
    assert_one_line_error(err, run / "id_maps.json", "corrupt id maps: not valid JSON")


@pytest.mark.parametrize("case", sorted(ID_MAPS_DAMAGE))
def test_every_kind_of_corrupt_id_maps_is_a_data_error_naming_the_file(tmp_path, case):
    from contrastrec.data import DataError
    from contrastrec.data.dataset import Dataset

    text, needle = ID_MAPS_DAMAGE[case]
    p = tmp_path / "id_maps.json"
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(DataError) as e:
        Dataset.load_id_maps(p)
    assert str(e.value).startswith(f"{p}: corrupt id maps") and needle in str(e.value)
    assert "\n" not in str(e.value) and e.value.__cause__ is None


def rotated_copy(data, path):
    """The same file with every line's user id moved to the next line: same items, same users,
    but each user now owns another user's history."""
    lines = data.read_text().splitlines()
    ids = [line.split()[0] for line in lines]
    ids = ids[1:] + ids[:1]
    path.write_text("".join(" ".join([u, *line.split()[1:]]) + "\n" for u, line in zip(ids, lines)))
    return path


@pytest.mark.parametrize("command", ["evaluate", "recommend", "export", "refit"])
def test_data_whose_ids_differ_from_the_run_is_refused(trained, run, tmp_path, capsys, command):
    """`--dataset OTHER` with a user-rotated copy: the metrics (or recommendations) would be
    those of other users, silently; the run's id_maps.json refuses it."""
    other = rotated_copy(trained[0], tmp_path / "rotated.txt")
    argv = {**commands(run, tmp_path), "refit": ["refit", "--run", run, "--output", tmp_path / "refit", "--quiet"]}
    rc, _, err = cli(capsys, *argv[command], "--dataset", other)
    assert rc == 2
    assert_one_line_error(err, run / "id_maps.json", "does not match the run's id_maps.json")
    assert not (tmp_path / "refit" / "results.json").exists()


def test_evaluate_with_the_run_own_data_still_works(trained, run, capsys):
    rc, out, _ = cli(capsys, "evaluate", "--run", run, "--dataset", trained[0])
    assert rc == 0
    res = json.loads((run / "results.json").read_text())
    assert json.loads(out)["test"]["ndcg@5"] == pytest.approx(res["test"]["ndcg@5"], abs=1e-6)


def test_a_corrupt_results_json_is_one_line(run, tmp_path, capsys):
    (run / "results.json").write_text('{"model": "mf", "test": {')
    rc, _, err = cli(capsys, "refit", "--run", run, "--output", tmp_path / "refit", "--quiet")
    assert rc == 2
    assert_one_line_error(err, run / "results.json", "not valid JSON")
    rc, _, err = cli(capsys, "recommend", "--run", run, "--user", "1")  # serving reads it for the commit
    assert rc == 2
    assert_one_line_error(err, run / "results.json", "not valid JSON")


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", ".nan", ".inf", "1e999"])
def test_a_non_finite_learning_rate_is_refused_at_config_time(tmp_path, capsys, value):
    """`lr=nan` passed every `<= 0` check and failed later inside torch.optim (a traceback) or,
    for inf, trained to NaN scores."""
    out = tmp_path / "o"
    rc, _, err = cli(capsys, "train", "--model", "mf", "--dataset", tmp_path / "missing.txt", "--output", out,
                     "--set", f"lr={value}")
    assert rc == 2
    assert_one_line_error(err, "lr", "finite")
    assert not out.exists()  # refused before the folder or the data were touched


def _float_keys():
    """``(model, key)`` for every float key: the shared ones and each model's own section."""
    import dataclasses
    import typing

    from contrastrec import config
    from contrastrec.models.registry import registered

    keys = []
    for model in sorted(registered()):
        cls = config.params_class(model) if hasattr(config, "params_class") else None
        if cls is None:
            continue
        hints = typing.get_type_hints(cls)
        keys += [(model, f"{model}.{f.name}") for f in dataclasses.fields(cls) if hints[f.name] is float]
    for key in config.valid_keys():
        obj, hints = config.Config, typing.get_type_hints(config.Config)
        for part in key.split(".")[:-1]:
            obj = hints[part]
            hints = typing.get_type_hints(obj)
        if hints[key.split(".")[-1]] is float:
            keys.append(("lightgcn", key))
    return keys


def test_nan_and_inf_are_refused_for_every_float_key():
    from contrastrec import config
    from contrastrec.config import ConfigError, apply_overrides

    new_config = getattr(config, "new_config", lambda model: config.Config(model=model))
    keys = _float_keys()
    assert len(keys) >= 20
    for model, key in keys:
        for bad in (float("nan"), "nan", "inf", float("-inf")):
            with pytest.raises(ConfigError, match="finite"):
                apply_overrides(new_config(model), {key: bad}, source="--set")
        apply_overrides(new_config(model), {key: 0.5})  # a finite value still passes coercion


def test_a_yaml_nan_is_refused_too(tmp_path):
    from contrastrec.config import ConfigError, build_config

    f = tmp_path / "c.yaml"
    f.write_text("model: mf\nlr: .nan\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: lr: expected a finite number"):
        build_config(None, f, {})


@pytest.mark.parametrize("wrong, right", [
    ("learning_rate", "lr"), ("lr_rate", "lr"), ("Learning-Rate", "lr"), ("learning_rat", "lr"),
    ("batchsize", "batch_size"), ("emb_size", "embedding_dim"), ("embedding_size", "embedding_dim"),
    ("hidden_size", "embedding_dim"), ("num_layers", "n_layers"), ("num_heads", "n_heads"),
    ("temperature", "ssl.temperature"), ("tau", "ssl.temperature"), ("ssl.tau", "ssl.temperature"),
    ("num_epochs", "epochs"), ("max_seq_length", "max_len"), ("l2", "weight_decay"),
    ("ssl_weight", "ssl.weight"), ("topk", "ks"), ("num_negatives", "n_negatives"),
    ("epohcs", "epochs"), ("embeding_dim", "embedding_dim"),  # typos: still spelling similarity
])
def test_unknown_keys_suggest_the_key_people_mean(wrong, right):
    from contrastrec.config import ConfigError, build_config

    with pytest.raises(ConfigError) as e:
        build_config("sgl", None, {wrong: 1})
    assert f"unknown config key {wrong!r} (did you mean {right!r}?)" in str(e.value)


def test_the_cli_suggests_lr_for_learning_rate(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "--model", "mf", "--dataset", tmp_path / "d.txt", "--output", tmp_path / "o",
                     "--set", "learning_rate=0.01")
    assert rc == 2
    assert_one_line_error(err, "unknown config key 'learning_rate' (did you mean 'lr'?)")


# --------------------------------------------------------------------------- data
def test_a_user_who_interacted_with_every_item_is_named_before_training(tmp_path, capsys):
    n_items = 30
    everything = " ".join(map(str, range(1, n_items + 1)))
    data = write_lists(tmp_path / "d.txt", n_items=n_items, extra=[f"alice {everything} 1 2"])
    out = tmp_path / "o"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", data, "--output", out)
    assert rc == 2
    assert_one_line_error(err, "user 'alice'", "interacted with every item")
    assert not (out / "log.jsonl").exists() and not (out / "last.pt").exists()
    rc, _, err = cli(capsys, "train", *TRAIN, "neg_sampler=popularity", "--dataset", data, "--output",
                     tmp_path / "o2")
    assert rc == 2
    assert_one_line_error(err, "user 'alice'", "interacted with every item")


def test_a_heavy_user_with_repeats_is_not_mistaken_for_one_who_saw_every_item():
    """The check counted interactions, not distinct items: a user with as many interactions as
    there are items (repeats included) was refused although most items are negatives for them."""
    from contrastrec.data.dataset import IdMap, Split
    from contrastrec.training.batches import UniformNegatives

    n_items = 10
    users = np.array([0] * 12 + [1] * 3)
    items = np.array([0, 1, 2] * 4 + [3, 4, 5])  # user 0: 12 interactions, 3 distinct items
    neg = UniformNegatives(Split(users, items), 2, n_items)
    drawn = neg.sample(np.array([0, 0, 1]), 50, np.random.default_rng(0))
    assert not np.isin(drawn[:2], [0, 1, 2]).any() and not np.isin(drawn[2], [3, 4, 5]).any()
    with pytest.raises(ValueError, match="user 'b' interacted with every item"):  # a DataError
        UniformNegatives(Split([0] + [1] * n_items, [0, *range(n_items)]), 2, n_items, IdMap(["a", "b"]))


# --------------------------------------------------------------------------- output folders and disks
def test_an_unwritable_output_folder_is_reported_before_the_data_is_read(tmp_path, capsys):
    """A path under a regular file (fails for root too, unlike chmod 555); the data file does not
    exist, so an error about the data would mean the data was read first."""
    blocker = tmp_path / "runs"
    blocker.write_text("a file, not a folder")
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", tmp_path / "no-such-data.txt", "--output",
                     blocker / "run")
    assert rc == 1
    assert_one_line_error(err, blocker / "run", "cannot write the run folder (not a directory)")


def test_a_full_disk_during_training_is_one_line_and_keeps_the_last_good_checkpoint(trained, tmp_path, capsys,
                                                                                     monkeypatch):
    """torch.save raises ENOSPC while writing the second last.pt (end of epoch 1): the run stops
    with one line naming the file, last.pt still holds epoch 0, no temp file is left, and a resume
    once there is room finishes with the uninterrupted run's results."""
    from contrastrec.training.checkpoint import load_checkpoint

    data, reference = trained
    real_save, calls = torch.save, []

    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and "state" in obj:  # a last.pt
            calls.append(obj["state"]["epoch"])
            if len(calls) == 2:
                f.write(b"PK\x03\x04 partial")  # some bytes reached the disk, then it filled up
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", data, "--output", out)
    monkeypatch.undo()
    assert rc == 1
    assert_one_line_error(err, out / "last.pt", "no space left on device")
    assert load_checkpoint(out / "last.pt")["state"]["epoch"] == 1  # epoch 0 done: resume from epoch 1
    assert load_checkpoint(out / "best.pt")["config"]["model"] == "mf"
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")] and not (out / ".lock").exists()
    rc, _, err = cli(capsys, "train", "--resume", out, "--quiet")
    assert rc == 0, err
    got, want = (json.loads((d / "results.json").read_text()) for d in (out, reference))
    assert got["test"] == want["test"] and got["best_epoch"] == want["best_epoch"]
    epochs = [json.loads(line)["epoch"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert epochs == list(range(EPOCHS))


def test_a_full_disk_when_writing_the_id_maps_leaves_no_half_file(tmp_path):
    from contrastrec.training.checkpoint import WriteError
    from tests.conftest import make_tiny

    ds = make_tiny()
    target = tmp_path / "id_maps.json"
    ds.save_id_maps(target)
    before = target.read_text()
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    os.fsync = full
    try:
        with pytest.raises(WriteError) as e:
            ds.save_id_maps(target)
    finally:
        os.fsync = real_fsync
    assert str(e.value) == f"{target}: cannot write (no space left on device)"
    assert target.read_text() == before and sorted(os.listdir(tmp_path)) == ["id_maps.json"]


def test_a_full_disk_when_appending_to_the_log_names_the_log(trained, tmp_path, capsys, monkeypatch):
    from contrastrec.training import rundir

    class Full:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(rundir, "open", Full, raising=False)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", trained[0], "--output", out)
    monkeypatch.undo()
    assert rc == 1
    assert_one_line_error(err, out / "log.jsonl", "no space left on device")


def test_a_diverging_loss_stops_with_one_line_and_keeps_the_best_checkpoint(trained, tmp_path, capsys,
                                                                            monkeypatch):
    """training/loop.py's DivergenceGuard from the command line: the loss grows a million-fold in
    epoch 1; the run stops at that epoch's check, exit 1, the line names best.pt, which loads."""
    from contrastrec.models.mf import MF
    from contrastrec.training.checkpoint import load_checkpoint

    real, steps = MF.loss_terms, []

    def exploding(self, batch):
        terms = real(self, batch)
        steps.append(1)
        return {k: v * 1e6 for k, v in terms.items()} if len(steps) > 5 else terms  # epoch 0 has 5 batches

    monkeypatch.setattr(MF, "loss_terms", exploding)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", trained[0], "--output", out)
    assert rc == 1
    assert_one_line_error(err, "epoch 1", "diverging", f"the best checkpoint so far ({out / 'best.pt'}) is kept")
    assert load_checkpoint(out / "best.pt")["epoch"] == 0


# --------------------------------------------------------------------------- exports
def test_an_export_into_a_path_under_a_file_is_one_line(run, tmp_path, capsys):
    blocker = tmp_path / "exports"
    blocker.write_text("a file")
    rc, _, err = cli(capsys, "export", "--run", run, "--output", blocker / "x")
    assert rc == 1
    assert_one_line_error(err, blocker / "x", "not a directory")


def test_an_encoder_pt_that_does_not_fit_its_config_is_one_line(tmp_path):
    from contrastrec import config
    from contrastrec.encoders import make_sequence_encoder
    from contrastrec.export import load_encoder
    from contrastrec.training.checkpoint import CheckpointError

    cfg = getattr(config, "new_config", lambda model: config.Config(model=model))("sasrec")
    enc = make_sequence_encoder("sasrec", 5, 8, cfg.max_len, cfg.n_layers, cfg.n_heads, 0.0, 0.0)
    cfg.embedding_dim = 16  # the config says 16, the weights are 8 wide
    p = tmp_path / "encoder.pt"
    torch.save({"config": cfg.to_dict(), "encoder_name": "sasrec", "n_items": 5, "item_ids": list("abcde"),
                "encoder": enc.state_dict()}, p)
    with pytest.raises(CheckpointError) as e:
        load_encoder(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{p}: the encoder weights do not fit") and "\n" not in msg, msg
    torch.save({"config": cfg.to_dict(), "encoder": enc.state_dict()}, p)
    with pytest.raises(CheckpointError, match="not an exported encoder"):
        load_encoder(p)


def test_the_module_entry_point_prints_no_traceback_for_a_corrupt_checkpoint(run):
    """The same through a real process: `python -m contrastrec evaluate` on a truncated best.pt."""
    import subprocess

    best = run / "best.pt"
    best.write_bytes(best.read_bytes()[:100])
    p = subprocess.run([sys.executable, "-m", "contrastrec", "evaluate", "--run", str(run)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert_one_line_error(p.stderr, best, "truncated or corrupt checkpoint")


# --------------------------------------------------------------------------- what a command may replace (issue 23)
def _tree(folder):
    """``{relative path: bytes}`` of every file under ``folder`` (what a refused command must leave)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def live_pid():
    """The pid of a live process other than this one (it holds a run's lock in these tests)."""
    import subprocess

    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield p.pid
    p.kill()
    p.wait()


def test_overwrite_refuses_the_folder_of_a_run_that_is_training_now(trained, run, capsys, live_pid):
    (run / ".lock").write_text(str(live_pid))  # what RunLock writes for the live run
    before = _tree(run)
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", trained[0], "--output", run, "--overwrite")
    assert rc == 2
    assert_one_line_error(err, str(run), f"pid {live_pid}")
    assert _tree(run) == before


@pytest.mark.parametrize("layout", ["not a run", "a run with the user's file"])
def test_overwrite_refuses_a_folder_that_is_not_only_a_run(trained, run, tmp_path, capsys, layout):
    if layout == "not a run":
        folder = tmp_path / "mine"
        (folder / "notes").mkdir(parents=True)
        (folder / "notes" / "a.txt").write_text("keep me")
        (folder / "config.yaml").write_text("model: mf\n")  # a name a run also writes
    else:
        folder = run
        (folder / "thesis.tex").write_text("keep me")
    before = _tree(folder)
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", trained[0], "--output", folder, "--overwrite")
    assert rc == 2
    assert_one_line_error(err, str(folder), "not a contrastrec run")
    assert _tree(folder) == before


def test_overwrite_never_empties_the_folder_that_holds_the_data_set(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    data = write_lists(folder / "data.txt")
    before = _tree(folder)
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", data, "--output", folder, "--overwrite")
    assert rc == 2
    assert_one_line_error(err, str(folder), "data set")
    assert _tree(folder) == before


def test_overwrite_replaces_a_finished_run_whose_lock_is_stale(trained, run, capsys):
    import subprocess

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / ".lock").write_text(str(dead.pid))  # a run killed while it held its lock
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", trained[0], "--output", run, "--overwrite",
                     "--set", "seed=4")
    assert rc == 0, err
    assert json.loads((run / "results.json").read_text())["config"]["seed"] == 4
    assert not (run / ".lock").exists()


@pytest.mark.parametrize("option", ["--model", "--output", "--config", "--overwrite"])
def test_resume_refuses_an_option_it_would_ignore(run, tmp_path, capsys, option):
    value = {"--model": ["sasrec"], "--output": [tmp_path / "other"], "--config": [tmp_path / "c.yaml"],
             "--overwrite": []}[option]
    (tmp_path / "c.yaml").write_text("model: mf\nepochs: 5\n")
    before = _tree(run)
    rc, _, err = cli(capsys, "train", "--resume", run, option, *value, "--quiet")
    assert rc == 2
    assert_one_line_error(err, option)
    assert _tree(run) == before and not (tmp_path / "other").exists()


def test_resume_accepts_the_run_own_model_and_folder(run, capsys):
    rc, _, err = cli(capsys, "train", "--resume", run, "--model", "mf", "--output", run, "--quiet")
    assert rc == 0, err


def _edit_results(run, **edit):
    res = json.loads((run / "results.json").read_text())
    res.update(edit)
    (run / "results.json").write_text(json.dumps(res))


@pytest.mark.parametrize("value", ["abc", None, 1e12, 2.5, -1, EPOCHS, True])
def test_refit_refuses_a_best_epoch_that_is_not_one_of_the_run_epochs(run, tmp_path, capsys, value):
    _edit_results(run, best_epoch=value)
    rc, _, err = cli(capsys, "refit", "--run", run, "--output", tmp_path / "refit", "--quiet")
    assert rc == 2
    assert_one_line_error(err, "results.json", "best_epoch")
    assert not (tmp_path / "refit").exists()


def test_refit_takes_the_overwrite_it_suggests(run, tmp_path, capsys):
    out = tmp_path / "refit"
    assert cli(capsys, "refit", "--run", run, "--output", out, "--quiet")[0] == 0
    rc, _, err = cli(capsys, "refit", "--run", run, "--output", out, "--quiet")
    assert rc == 2 and "--overwrite" in assert_one_line_error(err, str(out))
    rc, _, err = cli(capsys, "refit", "--run", run, "--output", out, "--quiet", "--overwrite")
    assert rc == 0, err


def test_refit_of_a_popularity_run(trained, tmp_path, capsys):
    sel, out = tmp_path / "pop", tmp_path / "pop-refit"
    assert cli(capsys, "train", "--model", "pop", "--quiet", "--device", "cpu", "--set", "ks=[5] metric=ndcg@5",
               "--dataset", trained[0], "--output", sel)[0] == 0
    rc, printed, err = cli(capsys, "refit", "--run", sel, "--output", out, "--quiet")
    assert rc == 0, err
    res = json.loads((out / "results.json").read_text())
    assert res["refit_of"]["best_epoch"] == 0 and "ndcg@5" in res["test"]
    for done in (sel, out):  # a finished run resumes to nowhere and is tested again, as for trained models
        rc, _, err = cli(capsys, "train", "--resume", done, "--quiet")
        assert rc == 0, err


def test_an_interrupt_names_the_run_folder_to_resume(trained, tmp_path, capsys, monkeypatch):
    from contrastrec.training import loop

    real = loop.train_epoch

    def interrupted(model, opt, batches, epoch, *a, **k):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(model, opt, batches, epoch, *a, **k)

    monkeypatch.setattr(loop, "train_epoch", interrupted)
    out = tmp_path / "run"
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", trained[0], "--output", out)
    assert rc == 130
    assert f"contrastrec train --resume {out}`" in err and "DIR" not in err


def test_refit_never_replaces_the_run_it_refits(run, capsys):
    before = _tree(run)
    rc, _, err = cli(capsys, "refit", "--run", run, "--output", run, "--quiet", "--overwrite")
    assert rc == 2
    assert_one_line_error(err, "--output", str(run))
    assert _tree(run) == before


def test_overwrite_with_data_that_cannot_be_read_keeps_the_old_run(run, tmp_path, capsys):
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    before = _tree(run)
    rc, _, err = cli(capsys, "train", *TRAIN, "--dataset", bad, "--output", run, "--overwrite")
    assert rc == 2
    assert_one_line_error(err, "empty")
    assert _tree(run) == before


def test_refit_refuses_a_best_epoch_in_pre_training(run, tmp_path, capsys):
    res = json.loads((run / "results.json").read_text())
    _edit_results(run, best_epoch=0, config={**res["config"], "schema": "pretrain_finetune", "pretrain_epochs": 1})
    rc, _, err = cli(capsys, "refit", "--run", run, "--output", tmp_path / "refit", "--quiet")
    assert rc == 2
    assert_one_line_error(err, "results.json", "best_epoch", "pre-training")


def test_a_failed_train_leaves_no_empty_folder_behind(tmp_path, capsys):
    # a refused model size (memory estimate) or an unreadable data set, after the folder was created
    from tests.test_cli import _write_lists

    data = tmp_path / "s.txt"
    _write_lists(data)
    for over, what in ((["--dataset", str(data), "--set", "embedding_dim=100000000"], "needs at least"),
                       (["--dataset", str(tmp_path / "missing.txt")], "missing.txt")):
        assert main(["train", "--model", "mf", "--output", str(tmp_path / "run"), *over]) == 2
        assert what in capsys.readouterr().err
        assert not (tmp_path / "run").exists()
