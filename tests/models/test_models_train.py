"""Every registered model builds from config, produces finite loss terms, learns, and scores."""
import pytest
import torch

from contrastrec.config import MODELS, build_config
from contrastrec.data.sequences import padded_histories
from contrastrec.training.loop import build_model, make_batches

from tests.conftest import make_tiny_for, small_overrides

SMALL_S3 = {"schema": "pretrain_finetune", "pretrain_epochs": 1}


def _build(name, **over):
    ds = make_tiny_for(name)
    cfg = build_config(name, None, small_overrides(name, **over))
    return ds, cfg, build_model(cfg, ds)


@pytest.mark.parametrize("name", [m for m in MODELS if m != "pop"])
def test_loss_terms_finite_and_backward(name):
    ds, cfg, model = _build(name)
    batches = make_batches(model, cfg, ds)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    first = None
    for epoch in range(3):
        model.set_phase("joint")
        model.on_epoch_start(epoch if name != "ncl" else 100)
        tot = 0.0
        for batch in batches.epoch(epoch, torch.device("cpu")):
            terms = model.loss_terms(batch)
            assert terms and all(torch.isfinite(v) for v in terms.values()), terms
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach())
        first = tot if first is None else first
    assert tot < first  # it learns something on the tiny chains
    model.eval()
    hist = padded_histories(ds.train, ds.n_users, cfg.max_len) if model.sequential else None
    scores = model.scorer(hist)(torch.arange(5))
    assert scores.shape == (5, ds.n_items) and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", ["cl4srec", "sgl", "simgcl"])
def test_ssl_term_present(name):
    ds, cfg, model = _build(name)
    model.train()
    model.on_epoch_start(0)
    batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
    assert "ssl" in model.loss_terms(batch)


@pytest.mark.parametrize("encoder", ["gru4rec", "caser"])
@pytest.mark.parametrize("name", ["cl4srec", "duorec", "iclrec", "coserec", "simcse"])
def test_sequential_models_take_any_encoder(name, encoder):
    """Contrastive learning does not depend on the encoder: --set encoder=gru4rec|caser."""
    ds, cfg, model = _build(name, encoder=encoder)
    assert type(model.encoder).__name__.lower().startswith(encoder[:4])
    batches = make_batches(model, cfg, ds)
    model.train()
    model.set_phase("joint")
    model.on_epoch_start(0)
    batch = next(iter(batches.epoch(0, torch.device("cpu"))))
    terms = model.loss_terms(batch)
    assert any(k.startswith("ssl") for k in terms) and all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    model.eval()
    hist = padded_histories(ds.train, ds.n_users, cfg.max_len)
    assert model.scorer(hist)(torch.arange(3)).shape == (3, ds.n_items)
