"""Issue 13: every key either acts or is refused at config time, with one line naming the key and
the model; each model owns its keys (``<model>.<key>``); ``--set`` takes several pairs."""
import dataclasses

import pytest
import torch

from contrastrec.cli import build_parser
from contrastrec.config import (
    MODELS,
    ConfigError,
    build_config,
    config_from_dict,
    inert_keys,
    parse_set_args,
    valid_keys,
)
from contrastrec.training.loop import build_model, make_batches

from tests.conftest import make_tiny, one_batch, small_overrides


@pytest.mark.parametrize("model, key, value", [
    ("simgcl", "ssl.tau_plus", 0.3),  # infonce takes no tau_plus
    ("lightgcn", "ssl.temperature", 0.5),  # no contrastive term under joint
    ("sasrec", "ssl.weight", 0.5),
    ("mf", "aug.crop_ratio", 0.3),  # no sequence augmentation
    ("simcse", "aug.mask_ratio", 0.3),
    ("directau", "ssl.temperature", 0.5),  # its loss is fixed
    ("s3rec", "ssl.temperature", 0.5),
    ("sgl", "ssl.n_negatives", 5),  # in-batch negatives: no explicit count
    ("sgl", "ssl.hard_band", 5),
    ("cl4srec", "rec_temperature", 0.1),  # read by loss=softmax only
    ("lightgcn", "max_len", 20),  # graph models have no sequence encoder
    ("sasrec", "eval_graph", "history"),
    ("lightgcn", "pretrain_epochs", 3),
    ("sgl", "ssl.false_negatives", "same_target"),
])
def test_a_key_that_does_nothing_is_refused(model, key, value):
    with pytest.raises(ConfigError, match=rf"^{key} does nothing for model {model}: ") as e:
        build_config(model, None, {key: value})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("model, over", [
    ("simgcl", {"ssl.loss": "triplet", "ssl.temperature": 0.5}),  # was silently dropped by make_ssl_loss
    ("simgcl", {"ssl.loss": "align_uniform", "ssl.similarity": "dot"}),
    ("cl4srec", {"ssl.loss": "infonce", "ssl.margin": 0.5}),
])
def test_ssl_loss_parameters_the_loss_does_not_take_are_refused(model, over):
    key = [k for k in over if k != "ssl.loss"][0]
    with pytest.raises(ConfigError, match=f"{key} does nothing for model {model}: ssl.loss="):
        build_config(model, None, over)


def test_the_same_keys_act_where_they_apply():
    assert build_config("simgcl", None, {"ssl.loss": "triplet", "ssl.margin": 0.5}).ssl.margin == 0.5
    assert build_config("simgcl", None, {"ssl.loss": "align_uniform", "ssl.gamma": 2.0}).ssl.gamma == 2.0
    assert build_config("lightgcn", None, {"schema": "integrated", "ssl.temperature": 0.5}).ssl.temperature == 0.5
    assert build_config("sgl", None, {"ssl.negatives": "uniform", "ssl.n_negatives": 5}).ssl.n_negatives == 5
    assert build_config("s3rec", None, {"ssl.weight": 0.5}).ssl.weight == 0.5


def test_model_keys_live_in_the_models_own_section():
    cfg = build_config("simgcl", None, {"simgcl.eps": 0.3})
    assert cfg.params.eps == 0.3 and cfg.to_dict()["simgcl"]["eps"] == 0.3
    assert "simgcl.eps" in valid_keys(model="simgcl") and "simgcl.eps" not in valid_keys(model="xsimgcl")
    with pytest.raises(ConfigError, match="ncl.n_clusters is a key of model ncl, but this config's model is simgcl"):
        build_config("simgcl", None, {"ncl.n_clusters": 10})
    with pytest.raises(ConfigError, match="unknown key 'simgcl.epss' for model simgcl.*did you mean 'simgcl.eps'"):
        build_config("simgcl", None, {"simgcl.epss": 0.3})
    with pytest.raises(ConfigError, match="sgl.augment: invalid value 'xx'"):
        build_config("sgl", None, {"sgl.augment": "xx"})
    # legacy shared sections: read into the model's section when it has the key, refused otherwise
    assert build_config("simgcl", None, {"graph": {"eps": 0.25}}).params.eps == 0.25
    with pytest.raises(ConfigError, match="graph.eps does nothing for model lightgcn"):
        build_config("lightgcn", None, {"graph.eps": 0.25})


def test_saved_configs_round_trip_and_old_saved_configs_load():
    for name in MODELS:
        cfg = build_config(name)
        again = config_from_dict(cfg.to_dict())
        assert again.to_dict() == cfg.to_dict()
    old = build_config("ncl").to_dict()
    old.pop("ncl")
    old["graph"] = {"eps": 0.1, "n_clusters": 77, "gamma": 1.0, "warmup_epochs": 3}  # every model's keys
    old["seq"] = {"n_intents": 256}
    cfg = config_from_dict(old)
    assert (cfg.params.n_clusters, cfg.params.warmup_epochs) == (77, 3)


def test_every_model_declares_itself():
    for name, cls in MODELS.items():
        assert cls.NAME == name and cls.DESCRIPTION
        if cls.Params is not None:
            assert dataclasses.is_dataclass(cls.Params)
        for key in cls.SPACE:  # its tuning space names keys it reads
            assert key in valid_keys(model=name)
            assert key not in inert_keys(build_config(name))
    assert "graph.augment" not in "".join(MODELS[m].DESCRIPTION for m in MODELS)


def test_set_takes_several_pairs_and_repeats():
    args = build_parser().parse_args(["train", "--model", "simgcl", "--set", "lr=0.01", "ssl.weight=0.3",
                                      "--set", "epochs=7", "--output", "x"])
    assert parse_set_args(args.set) == {"lr": 0.01, "ssl.weight": 0.3, "epochs": 7}
    assert parse_set_args(["lr=0.01 epochs=3"]) == {"lr": 0.01, "epochs": 3}


def test_bad_values_refused():
    with pytest.raises(ConfigError, match="ssl.weight must be >= 0"):
        build_config("simgcl", None, {"ssl.weight": -1})
    with pytest.raises(ConfigError, match="would never start"):
        build_config("sgl", None, {"ssl.warmup_epochs": 5, "epochs": 5})
    with pytest.raises(ConfigError, match="same_cluster needs clusters"):
        build_config("cl4srec", None, {"ssl.false_negatives": "same_cluster"})
    build_config("iclrec", None, {"ssl.false_negatives": "same_cluster"})
    with pytest.raises(ConfigError, match="sgl needs the lightgcn encoder"):
        build_config("sgl", None, {"encoder": "mf"})
    with pytest.raises(ConfigError, match="ncl: schema=integrated is not defined"):
        build_config("ncl", None, {"schema": "integrated"})


def _terms(name, **over):
    model, batch = one_batch(name, epoch=30, **over)
    torch.manual_seed(1)
    return model.loss_terms(batch)


@pytest.mark.parametrize("name, over", [("ncl", {"ncl.warmup_epochs": 0}), ("iclrec", {}),
                                        ("s3rec", {"schema": "pretrain_finetune", "pretrain_epochs": 1})])
def test_ssl_weight_acts_for_models_with_their_own_term_weights(name, over):
    """Issue 13 defect 4: ssl.weight did nothing for ncl, iclrec and s3rec; it scales every ssl term."""
    if name == "s3rec":
        pytest.importorskip("torch")
        from tests.models.test_models_train import _build

        ds, cfg, m1 = _build("s3rec", **over)
        ds2, cfg2, m2 = _build("s3rec", **over, **{"ssl.weight": 0.5})
        m2.load_state_dict(m1.state_dict())
        for m in (m1, m2):
            m.train()
            m.set_phase("pretrain")
            m.on_epoch_start(0)
        batch = next(iter(make_batches(m1, cfg, ds).epoch(0, torch.device("cpu"))))
        torch.manual_seed(1)
        t1 = m1.loss_terms(batch)
        torch.manual_seed(1)
        t2 = m2.loss_terms(batch)
    else:
        t1, t2 = _terms(name, **over), _terms(name, **over, **{"ssl.weight": 0.5})
    ssl = [k for k in t1 if k.startswith("ssl")]
    assert ssl
    for k in ssl:
        assert torch.allclose(t2[k], 0.5 * t1[k], rtol=1e-5), k


@pytest.mark.parametrize("name", ["simcse", "duorec"])
def test_false_negatives_act_beyond_cl4srec(name):
    """Issue 13 defect 4: ssl.false_negatives was read by CL4SRec (and its subclasses) only; every
    sequential model's contrast now masks the configured false negatives."""
    ds = make_tiny()
    models = {}
    for fn in ("none", "same_user"):
        cfg = build_config(name, None, small_overrides(name, **{"ssl.false_negatives": fn}))
        models[fn] = build_model(cfg, ds)
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    batch = {"users": torch.tensor([0, 0, 1, 2, 2, 3]), "target": torch.tensor([1, 2, 3, 4, 5, 6])}
    plain = models["none"].contrast(z1, z2, batch)
    masked = models["same_user"].contrast(z1, z2, batch)
    want = models["none"].contrast(z1, z2, batch, positive_mask=batch["users"][None] == batch["users"][:, None])
    assert not torch.allclose(plain, masked) and torch.allclose(masked, want)


def test_every_shipped_config_builds():
    """No shipped config names a key that does nothing (each would now be refused)."""
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*/*.yaml"))
    assert files
    for f in files:
        build_config(None, f, {})
