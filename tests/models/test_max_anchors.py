"""ssl.max_anchors (issue 12): at most K contrastive anchors per set and step, a seeded sample of the
batch's set in its order; equal to the uncapped loss on that sample; refused where it does not act;
a resumed run equals an uninterrupted one."""

import pytest
import torch

from contrastrec.config import ConfigError, build_config

from tests.conftest import fit_and_resume, make_tiny, one_batch, small_overrides

MODELS = ["sgl", "simgcl", "xsimgcl", "lightgcl", "hccf", "dccf"]


def test_cap_anchors_is_a_sorted_seeded_sample():
    model, _ = one_batch("simgcl", **{"ssl.max_anchors": 5})
    ids = torch.arange(100, 120)
    a = model.cap_anchors(ids)
    assert a.shape == (5,) and torch.all(a[1:] > a[:-1]) and set(a.tolist()) <= set(ids.tolist())
    model.on_epoch_start(0)
    b = model.cap_anchors(ids)
    model.on_epoch_start(0)
    assert torch.equal(b, model.cap_anchors(ids))  # the epoch's generator: same draws after a reseed
    assert torch.equal(model.cap_anchors(ids[:4]), ids[:4])  # fewer than K: all, no draw


@pytest.mark.parametrize("model_name", MODELS)
def test_capped_ssl_term_equals_the_term_on_the_sampled_anchors(model_name, monkeypatch):
    """The capped term is the configured loss over the sampled users / items only: replaying the same
    sample through an uncapped model (same weights) gives the same value; and it differs from the
    uncapped term on the whole set."""
    k = 3
    model, batch = one_batch(model_name, **{"ssl.max_anchors": k})
    torch.manual_seed(0)
    capped = model.loss_terms(batch)["ssl"]
    full_model, _ = one_batch(model_name)
    full_model.load_state_dict(model.state_dict())
    torch.manual_seed(0)
    uncapped = full_model.loss_terms(batch)["ssl"]
    assert not torch.allclose(capped, uncapped)
    model.on_epoch_start(0)  # replay: record the samples the capped model draws
    drawn = []
    orig = type(model).cap_anchors

    def record(self, ids):
        out = orig(self, ids)
        drawn.append((ids.clone(), out.clone()))
        return out

    monkeypatch.setattr(type(model), "cap_anchors", record)
    torch.manual_seed(0)
    again = model.loss_terms(batch)["ssl"]
    assert torch.allclose(again, capped)
    sampled = [(ids, out) for ids, out in drawn if ids.shape[0] > k]
    assert sampled and all(out.shape[0] == k for _, out in sampled)
    # the uncapped model, given the same samples as its "whole sets", gives the capped value
    replay = iter(out for _, out in drawn)
    monkeypatch.setattr(type(model), "cap_anchors", lambda self, ids: next(replay))
    full_model.on_epoch_start(0)  # the same epoch draws (HCCF's dropout) as the capped replay
    torch.manual_seed(0)
    assert torch.allclose(full_model.loss_terms(batch)["ssl"], capped, atol=1e-6)


def test_max_anchors_is_refused_where_it_does_not_act():
    for name, over in [("ncl", {}), ("cl4srec", {}), ("simgcl", {"schema": "integrated"})]:
        with pytest.raises(ConfigError, match="ssl.max_anchors"):
            build_config(name, None, {"ssl.max_anchors": 8, **over})
    with pytest.raises(ConfigError, match="ssl.max_anchors must be >= 0"):
        build_config("simgcl", None, {"ssl.max_anchors": -1})


def test_capped_run_resumes_exactly(tmp_path):
    ds = make_tiny()

    def cfg(epochs):
        return build_config("simgcl", None, small_overrides("simgcl", epochs=epochs, eval_every=1, patience=50,
                                                             **{"ssl.max_anchors": 4}))

    full, resumed, log_full, log_part = fit_and_resume(cfg, ds, tmp_path, epochs=4, stop=2)
    assert log_full == log_part and full["test"] == resumed["test"]
