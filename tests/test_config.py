import pytest

from contrastrec.config import ConfigError, apply_overrides, build_config, parse_set_args, valid_keys, Config


def test_defaults_file_and_set_precedence(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: cl4srec\nlr: 0.01\nssl:\n  temperature: 0.5\n")
    cfg = build_config(None, f, parse_set_args(["lr=0.002 ssl.weight=0.3", "epochs=7"]))
    assert cfg.model == "cl4srec"
    assert cfg.lr == 0.002  # --set beats the file
    assert cfg.ssl.temperature == 0.5  # file beats defaults
    assert cfg.ssl.weight == 0.3
    assert cfg.epochs == 7
    assert cfg.loss == "ce"  # model default
    assert cfg.ks == [5, 10, 20]


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match="unknown config key 'learning_rat'"):
        build_config("mf", None, {"learning_rat": 1})
    with pytest.raises(ConfigError, match="did you mean 'ssl.temperature'"):
        build_config("mf", None, {"ssl.temprature": 1})


def test_bad_values():
    with pytest.raises(ConfigError, match="expected an integer"):
        build_config("mf", None, {"epochs": "many"})
    with pytest.raises(ConfigError, match="ssl.loss: invalid value"):
        build_config("mf", None, {"ssl.loss": "infonc"})
    with pytest.raises(ConfigError, match="unknown model"):
        build_config("lightgnc", None, {})
    with pytest.raises(ConfigError, match="lr must be positive"):
        build_config("mf", None, {"lr": 0})


def test_incompatible_combination_refused():
    with pytest.raises(ConfigError, match="sequence encoder"):
        build_config("lightgcn", None, {"encoder": "sasrec"})
    with pytest.raises(ConfigError, match="not available for sequential"):
        build_config("sasrec", None, {"loss": "bpr"})
    with pytest.raises(ConfigError, match="pretrain_epochs"):
        build_config("sasrec", None, {"schema": "pretrain_finetune"})


def test_set_parsing():
    d = parse_set_args(["a=1 b=x", "ks=[5,10]", "c=1e-3"])
    assert d == {"a": 1, "b": "x", "ks": [5, 10], "c": 1e-3}
    with pytest.raises(ConfigError):
        parse_set_args(["novalue"])


def test_bad_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("lr: 1\n  bad: : indent\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+: invalid YAML"):
        build_config("mf", f, {})


def test_top_level_keys_exist():
    keys = valid_keys()
    for k in ("model", "epochs", "batch_size", "lr", "embedding_dim", "seed", "patience", "eval_every", "device"):
        assert k in keys
    for k in ("ssl.loss", "ssl.temperature", "ssl.weight", "ssl.tau_plus", "ssl.negatives", "schema", "loss"):
        assert k in keys


def test_metric_k_added_to_ks():
    cfg = build_config("mf", None, {"metric": "recall@50", "ks": [10]})
    assert 50 in cfg.ks
    with pytest.raises(ConfigError):
        build_config("mf", None, {"metric": "auc@10"})
