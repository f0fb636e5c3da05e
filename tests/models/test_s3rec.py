"""S3-Rec: four pre-training objectives on item attributes, pretrain -> fine-tune through the loop."""
import json

import numpy as np
import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import build_model, fit, make_batches

from tests.conftest import make_tiny

SMALL = {"embedding_dim": 16, "device": "cpu", "batch_size": 32, "max_len": 8, "n_layers": 1, "seed": 0,
         "dropout": 0.1, "attn_dropout": 0.1, "pretrain_epochs": 2, "epochs": 2}
PRETRAIN_TERMS = {"ssl_aap", "ssl_mip", "ssl_map", "ssl_sp"}


def tiny_with_attributes(n_attributes: int = 6, seed: int = 0, **kw):
    ds = make_tiny(**kw)
    rng = np.random.default_rng(seed)
    ds.item_attributes = {
        i: sorted(int(a) for a in rng.choice(np.arange(1, n_attributes + 1), size=rng.integers(1, 3), replace=False))
        for i in range(ds.n_items) if i % 7  # some items have no attribute
    }
    ds.n_attributes = n_attributes
    return ds


def _build(ds=None, **over):
    ds = ds or tiny_with_attributes()
    cfg = build_config("s3rec", None, {**SMALL, **over})
    return ds, cfg, build_model(cfg, ds)


def test_pretrain_and_finetune_terms():
    ds, cfg, model = _build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = make_batches(model, cfg, ds)
    model.train()
    for epoch, phase in enumerate(["pretrain", "pretrain", "finetune"]):
        model.set_phase(phase)
        model.on_epoch_start(epoch)
        for batch in batches.epoch(epoch, torch.device("cpu")):
            terms = model.loss_terms(batch)
            assert set(terms) == (PRETRAIN_TERMS if phase == "pretrain" else {"rec"})
            assert all(torch.isfinite(v) for v in terms.values()), terms
            opt.zero_grad()
            sum(terms.values()).backward()
            opt.step()
    c = model.encoder.causal  # the causal mask is restored after the bidirectional pre-training passes
    assert torch.equal(c, torch.tril(torch.ones_like(c)))


def test_pretrain_sequences_append_the_target():
    ds, cfg, model = _build()
    trimmed = {"seq": torch.tensor([[0, 1, 2], [3, 4, 5]]), "target": torch.tensor([3, 6])}
    assert torch.equal(model.pretrain_sequences(trimmed), torch.tensor([[0, 1, 2, 3], [3, 4, 5, 6]]))
    full = {"seq": torch.arange(1, 9).unsqueeze(0), "target": torch.tensor([9])}
    assert torch.equal(model.pretrain_sequences(full), torch.arange(2, 10).unsqueeze(0))  # max_len = 8


def test_attribute_targets_and_bidirectional_pretraining():
    ds, cfg, model = _build()
    tokens = torch.arange(1, ds.n_items + 1)
    hot = model.attribute_targets(tokens)
    brute = torch.zeros(ds.n_items, ds.n_attributes)
    for i, attrs in ds.item_attributes.items():
        for a in attrs:
            brute[i, a - 1] = 1.0
    assert torch.equal(hot, brute)
    assert model.attribute_targets(torch.tensor([0, model.mask_token])).sum() == 0
    # pre-training attends to later positions, fine-tuning does not
    model.eval()
    a = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    b = a.clone()
    b[0, -1] = 9
    with torch.no_grad(), model.bidirectional():
        assert not torch.allclose(model.encoder(a)[0, 2], model.encoder(b)[0, 2])
    with torch.no_grad():
        assert torch.allclose(model.encoder(a)[0, 2], model.encoder(b)[0, 2])


def test_fit_pretrain_finetune_end_to_end(tmp_path):
    ds, cfg, _ = _build()
    results = fit(cfg, ds, tmp_path, progress=False, log=lambda *_: None)
    assert (tmp_path / "pretrained.pt").exists() and (tmp_path / "results.json").exists()
    assert json.loads((tmp_path / "results.json").read_text())["model"] == "s3rec"
    assert results["epochs"] == 4
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    meta = {"epoch", "phase", "seconds", "loss", "valid", "eval_seconds"}
    assert [r["phase"] for r in lines] == ["pretrain", "pretrain", "finetune", "finetune"]
    for r in lines:
        terms = set(r) - meta
        if r["phase"] == "pretrain":
            assert terms and all(t.startswith("ssl_") or t == "reg" for t in terms), terms
            assert terms == PRETRAIN_TERMS
        else:
            assert terms and not any(t.startswith("ssl") for t in terms), terms
    # a fresh model can be fine-tuned from the saved pre-trained encoder
    fresh = build_model(cfg, ds).load_pretrained(tmp_path / "pretrained.pt")
    saved = torch.load(tmp_path / "pretrained.pt", weights_only=True)["model"]
    for k, v in fresh.encoder.state_dict().items():
        assert torch.equal(v, saved["encoder." + k]), k
    assert torch.equal(fresh.attr_emb.weight, saved["attr_emb.weight"])
    # a bare encoder state dict works too
    torch.save(fresh.encoder.state_dict(), tmp_path / "encoder.pt")
    build_model(cfg, ds).load_pretrained(tmp_path / "encoder.pt")
    with pytest.raises(FileNotFoundError):
        fresh.load_pretrained(tmp_path / "missing.pt")


def test_without_attributes_is_an_error():
    cfg = build_config("s3rec", None, SMALL)
    with pytest.raises(ConfigError, match="item attributes"):
        build_model(cfg, make_tiny())


def test_needs_pretrain_finetune_schema():
    with pytest.raises(ConfigError, match="schema=pretrain_finetune"):
        build_config("s3rec", None, {**SMALL, "schema": "joint"})
