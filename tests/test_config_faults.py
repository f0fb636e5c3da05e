"""Configuration values and files that used to give a traceback, a hang, unbounded memory or a quiet
accept (issue 23, "Configuration values and files"). Each is refused on one line naming the key or
the file (and the line), before the run folder is written; see docs/reliability.md."""
from __future__ import annotations

import json
import os

import pytest

from contrastrec.config import ConfigError, build_config, load_yaml, parse_set_args
from tests.test_cli_faults import assert_one_line_error, cli, write_lists

TINY = "epochs=1 embedding_dim=8 batch_size=32 ks=[5] metric=ndcg@5 threads=1"


def train(capsys, tmp_path, *sets, model="mf", extra=()):
    """``(status, stdout, stderr, output folder)`` of a tiny ``train`` with ``--set`` values."""
    data = write_lists(tmp_path / "d.txt") if not (tmp_path / "d.txt").exists() else tmp_path / "d.txt"
    out = tmp_path / "o"
    rc, so, se = cli(capsys, "train", "--model", model, "--dataset", data, "--output", out, "--quiet",
                     "--device", "cpu", *extra, "--set", TINY, *sets)
    return rc, so, se, out


# --------------------------------------------------------------------------- YAML: files and --set
def test_a_set_value_that_is_not_valid_yaml_is_one_line(tmp_path, capsys):
    """`--set 'ks=[10,,20]'` was a yaml ParserError traceback."""
    rc, _, err, out = train(capsys, tmp_path, "ks=[10,,20]")
    assert rc == 2
    assert_one_line_error(err, "ks", "[10,,20]")
    assert not out.exists()


BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"]
                 + [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
                    for p, c in zip("abcde", "bcdef")]) + "\nmodel: *f\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    """266 bytes of nested aliases as `model:` gave a 3 MB error message (6 levels) and 1.5 GB (7)."""
    f = tmp_path / "bomb.yaml"
    f.write_text(BOMB)
    with pytest.raises(ConfigError) as e:
        build_config(None, f, {})
    assert "anchors and aliases" in str(e.value) and "bomb.yaml:1" in str(e.value)
    assert len(str(e.value)) < 300


def test_a_yaml_alias_in_a_set_value_is_refused():
    with pytest.raises(ConfigError, match="ks.*anchors and aliases"):
        parse_set_args(["ks=[&a 5, *a]"])


def test_duplicate_yaml_keys_are_refused_naming_the_key_and_line(tmp_path):
    """The last of two `lr:` lines won, silently."""
    f = tmp_path / "c.yaml"
    f.write_text("model: mf\nlr: 0.1\nepochs: 3\nlr: 0.01\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:4: .*duplicate key 'lr' \(first at line 2\)"):
        build_config(None, f, {})
    f.write_text("model: mf\nssl:\n  temperature: 0.1\n  temperature: 0.2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:4: .*'temperature'"):
        load_yaml(f)


def test_conflicting_spellings_of_one_key_are_refused(tmp_path):
    """`ssl.temperature:` and `ssl: {temperature:}` (or a legacy `seq.` key and the model's own) set
    the same value; the last won."""
    f = tmp_path / "c.yaml"
    f.write_text("model: sgl\nssl.temperature: 0.1\nssl:\n  temperature: 0.3\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: ssl\.temperature is given twice"):
        build_config(None, f, {})
    f.write_text("model: simgcl\ngraph:\n  eps: 0.1\nsimgcl:\n  eps: 0.2\n")  # a legacy section
    with pytest.raises(ConfigError, match=r"c\.yaml: simgcl\.eps and graph\.eps are the same key"):
        build_config(None, f, {})
    with pytest.raises(ConfigError, match="given twice"):
        build_config("sgl", None, {"ssl.temperature": 0.1, "ssl": {"temperature": 0.2}})


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_bytes(b"model: mf\nlr: 0.01 # caf\xe9\n")
    rc, _, err, out = train(capsys, tmp_path, extra=("--config", f))
    assert rc == 2
    assert_one_line_error(err, "c.yaml:2", "UTF-8")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path, capsys, kind):
    """`--config /dev/zero` read without end; a FIFO would block."""
    if kind == "folder":
        path = tmp_path / "cfgdir"
        path.mkdir()
    elif kind == "fifo":
        path = tmp_path / "cfg.fifo"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    rc, _, err, out = train(capsys, tmp_path, extra=("--config", path))
    assert rc == 2
    assert_one_line_error(err, str(path), "not a regular file")
    assert not out.exists()


def test_a_config_larger_than_the_bound_is_refused(tmp_path):
    from contrastrec import config

    f = tmp_path / "big.yaml"
    f.write_text("model: mf\n" + "# padding\n" * (config.MAX_CONFIG_BYTES // 10))
    with pytest.raises(ConfigError, match=r"big\.yaml: .*larger than 1 MiB"):
        load_yaml(f)


# --------------------------------------------------------------------------- values out of range
@pytest.mark.parametrize("value, needles", [
    ("seed=-1", ("seed", "[0, 4294967295]", "-1")),  # numpy's SeedSequence traceback
    ("seed=1e20", ("seed", "[0, 4294967295]")),  # torch.manual_seed overflow traceback
    ("n_negatives=-1", ("n_negatives", ">= 1")),  # numpy "negative dimensions" traceback
    ("n_negatives=0", ("n_negatives", ">= 1")),  # a NaN loss, then "try a lower lr"
    ("weight_decay=-1", ("weight_decay", ">= 0")),  # torch.optim traceback
    ("threads=-1", ("threads", ">= 0")),  # quietly accepted
    ("k_core=-1", ("k_core", ">= 0")),  # quietly accepted
    ("max_train_seconds=-1", ("max_train_seconds", ">= 0")),  # quietly accepted
])
def test_values_out_of_range_are_one_line_before_the_folder_is_written(tmp_path, capsys, value, needles):
    rc, _, err, out = train(capsys, tmp_path, value)
    assert rc == 2
    assert_one_line_error(err, *needles)
    assert not out.exists()


def test_ssl_n_negatives_must_be_positive():
    with pytest.raises(ConfigError, match=r"ssl\.n_negatives must be >= 1"):
        build_config("sgl", None, {"ssl.negatives": "uniform", "ssl.n_negatives": 0})


# --------------------------------------------------------------------------- cut-offs
def test_an_absurd_cut_off_is_refused_before_anything_is_written(tmp_path, capsys):
    """`ks=[9223372036854775807]` trained an epoch, then failed padding the hits to k columns (a
    traceback and a half-written run folder)."""
    rc, _, err, out = train(capsys, tmp_path, "ks=[9223372036854775807]")
    assert rc == 2
    assert_one_line_error(err, "ks", "[1, 1000000]")
    assert not out.exists()


def test_a_cut_off_above_the_catalogue_costs_no_memory_and_counts_missing_ranks_as_misses():
    """The metrics padded the hits to ``B x k`` zeros: ``k`` = 10**12 allocated 16 TB. The ranks
    beyond the catalogue are misses, computed without padding (same values as before)."""
    import torch

    from contrastrec.evaluation.metrics import compute_metrics

    hits = torch.tensor([[False, True, False], [False, False, False]])
    n_t = torch.tensor([2, 1])
    big = 10**12
    out = compute_metrics(hits, n_t, (2, 3, big))
    for name in ("recall", "ndcg", "hit", "mrr"):  # nothing beyond rank 3 can hit
        assert torch.equal(out[f"{name}@{big}"], out[f"{name}@3"]), name
    assert out[f"precision@{big}"].tolist() == [1 / big, 0.0]
    assert out["mrr@3"].tolist() == [0.5, 0.0] and out["recall@2"].tolist() == [0.5, 0.0]
    padded = compute_metrics(torch.cat([hits, torch.zeros(2, 7, dtype=torch.bool)], 1), n_t, (2, 3, 10))
    assert all(torch.allclose(v, compute_metrics(hits, n_t, (2, 3, 10))[k]) for k, v in padded.items())
    assert compute_metrics(torch.zeros(2, 0, dtype=torch.bool), n_t, (5,))["ndcg@5"].tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- eval_users
def test_eval_users_above_the_user_count_is_stated_as_a_full_evaluation(tmp_path, capsys):
    """results.json said "sampled: 100000" for 40 users, and the summary "a seeded sample of 100000"."""
    rc, so, err, out = train(capsys, tmp_path, "eval_users=100000")
    assert rc == 0, err
    res = json.loads((out / "results.json").read_text())["eval_users"]
    assert "sampled" not in res and res["full"] is True and res["requested"] == 100000
    assert res["valid_users"] == res["test_users"] == 40  # the users actually evaluated
    assert "seeded sample" not in so and "every user was evaluated (a full evaluation)" in so


def test_a_real_sample_states_its_true_counts(tmp_path, capsys):
    rc, so, err, out = train(capsys, tmp_path, "eval_users=10")
    assert rc == 0, err
    res = json.loads((out / "results.json").read_text())["eval_users"]
    assert res["sampled"] == 10 and res["valid_users"] == res["test_users"] == 10
    assert res["valid_of"] == res["test_of"] == 40
    assert "a seeded sample of 10 of 40 users" in so


# --------------------------------------------------------------------------- suggestions
def test_seq_train_prefixes_suggests_the_top_level_key(tmp_path, capsys):
    """It said "cl4srec has no key 'train_prefixes'", while the top-level `train_prefixes` works."""
    rc, _, err, out = train(capsys, tmp_path, "seq.train_prefixes=true", model="cl4srec")
    assert rc == 2
    assert_one_line_error(err, "seq.train_prefixes", "did you mean 'train_prefixes'?")
    assert not out.exists()


@pytest.mark.parametrize("model, key, right", [
    ("cl4srec", "graph.n_layers", "n_layers"),  # a legacy section
    ("sgl", "ssl.lr", "lr"),  # a shared section (it suggested 'ssl.loss')
    ("cl4srec", "cl4srec.lr", "lr"),  # the model's own section ("a key of model cl4srec, but ... is cl4srec")
    ("simgcl", "simgcl.epochs", "epochs"),
    ("sgl", "ssl.tau", "ssl.temperature"),  # a section's own spelling still comes first
])
def test_a_top_level_key_in_a_section_suggests_the_top_level_key(model, key, right):
    with pytest.raises(ConfigError) as e:
        build_config(model, None, {key: 1})
    assert f"(did you mean {right!r}?)" in str(e.value), str(e.value)
    assert f"this config's model is {model}" not in str(e.value)


# --------------------------------------------------------------------------- memory
def test_the_memory_estimate_counts_tables_optimizer_state_and_one_evaluation_chunk():
    from contrastrec.training.loop import build_model
    from contrastrec.training.memory import estimate_training_bytes
    from tests.conftest import make_tiny

    mf = build_config("mf", None, {"embedding_dim": 8, "eval_batch_size": 16})
    # (10 users + 20 items) x 8 values x 4 bytes x (value, gradient, 2 Adam moments) + 16 x 20 scores x 4 bytes
    assert estimate_training_bytes(mf, 10, 20) == 30 * 8 * 4 * 4 + 16 * 20 * 4
    sas = build_config("sasrec", None, {"embedding_dim": 8, "eval_batch_size": 16, "max_len": 5, "n_layers": 2})
    tables = (20 + 2) * 8 + 5 * 8 + 2 * 12 * 8 * 8  # items (+ padding, mask), positions, blocks; no user table
    assert estimate_training_bytes(sas, 10, 20) == estimate_training_bytes(sas, 10**6, 20) == 16 * tables + 16 * 20 * 4
    assert estimate_training_bytes(build_config("pop", None, {"eval_batch_size": 16}), 10, 20) == 16 * 20 * 4
    for cfg in (mf, sas):  # a lower bound of what the built model holds
        model = build_model(cfg, make_tiny(10, 20, sequential=cfg is sas))
        assert estimate_training_bytes(cfg, 10, 20) <= 16 * sum(p.numel() for p in model.parameters()) + 16 * 20 * 4


def test_a_model_larger_than_the_free_memory_is_refused_before_it_is_allocated(tmp_path, capsys):
    """`embedding_dim=1e8` allocated until the process was killed (here 1e11: 28 TB, refused on
    any machine, so that the old code fails fast instead of swapping)."""
    rc, _, err, out = train(capsys, tmp_path, "embedding_dim=1e11")
    assert rc == 2
    line = assert_one_line_error(err, "embedding_dim=100000000000", "needs at least", "GiB", "free")
    assert "104,308.1 GiB" in line  # (40 + 30) x 1e11 x 4 bytes x 4 (+ one evaluation chunk)
    assert not (out / "config.yaml").exists() and not (out / "log.jsonl").exists()


def test_the_check_compares_with_the_free_memory(monkeypatch):
    import torch

    from contrastrec.training import memory

    cfg = build_config("mf", None, {"embedding_dim": 64})
    need = memory.estimate_training_bytes(cfg, 1000, 1000)
    monkeypatch.setattr(memory, "available_bytes", lambda device: need)
    memory.check_memory(cfg, 1000, 1000, torch.device("cpu"))  # just fits
    monkeypatch.setattr(memory, "available_bytes", lambda device: need - 1)
    with pytest.raises(ConfigError, match="embedding_dim=64: model mf on 1,000 users and 1,000 items needs"):
        memory.check_memory(cfg, 1000, 1000, torch.device("cpu"))
    assert memory.available_bytes(torch.device("cpu")) > 0  # this machine can tell


def test_a_run_config_yaml_is_written_without_aliases_and_reads_back(tmp_path, capsys):
    """The run's config.yaml is read back with the strict loader (`--config RUN/config.yaml`):
    a value shared by two keys must not be written as an alias."""
    from contrastrec.config import dump_yaml, parse_yaml

    shared = [5, 10]
    text = dump_yaml({"ks": shared, "ssl": {"ks": shared}})
    assert "&" not in text and parse_yaml(text, "x") == {"ks": [5, 10], "ssl": {"ks": [5, 10]}}
    rc, _, err, out = train(capsys, tmp_path)
    assert rc == 0, err
    from contrastrec.config import config_from_dict

    saved = load_yaml(out / "config.yaml")
    assert config_from_dict(saved).to_dict() == saved
