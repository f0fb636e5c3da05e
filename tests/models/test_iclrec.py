"""ICLRec: E-step (k-means intents), FNM mask, intent InfoNCE, warm-up, errors."""
import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import build_model, make_batches

from tests.conftest import make_tiny

SMALL = {"embedding_dim": 16, "device": "cpu", "batch_size": 32, "max_len": 8, "n_layers": 1, "seed": 0,
         "dropout": 0.1, "attn_dropout": 0.1, "seq.n_intents": 4}


def _build(ds=None, **over):
    ds = ds or make_tiny()
    cfg = build_config("iclrec", None, {**SMALL, **over})
    return ds, cfg, build_model(cfg, ds)


def _first_batch(model, cfg, ds, epoch=0):
    return next(iter(make_batches(model, cfg, ds).epoch(epoch, torch.device("cpu"))))


def test_trains_with_finite_terms():
    ds, cfg, model = _build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = make_batches(model, cfg, ds)
    model.train()
    for epoch in range(2):
        model.set_phase("joint")
        model.on_epoch_start(epoch)
        for batch in batches.epoch(epoch, torch.device("cpu")):
            terms = model.loss_terms(batch)
            assert set(terms) == {"rec", "ssl_instance", "ssl_intent"}
            assert all(torch.isfinite(v) for v in terms.values())
            opt.zero_grad()
            sum(terms.values()).backward()
            opt.step()
    assert model.training  # the E-step restores train mode


def test_e_step_produces_n_intents_centroids():
    ds, cfg, model = _build(**{"seq.n_intents": 5})
    model.set_phase("joint")
    model.on_epoch_start(0)
    assert model.centroids.shape == (5, cfg.embedding_dim)
    assert torch.allclose(model.centroids.norm(dim=1), torch.ones(5), atol=1e-5)
    c = model.cluster_of_user
    assert c.shape == (ds.n_users,) and c.dtype == torch.long
    has_seq = torch.zeros(ds.n_users, dtype=torch.bool)
    has_seq[model.cluster_users] = True
    assert ((c[has_seq] >= 0) & (c[has_seq] < 5)).all() and (c[~has_seq] == -1).all()
    assert len(torch.unique(c[has_seq])) > 1
    # representations: mean over the non-padded positions, eval mode (deterministic)
    z = model.sequence_representations()
    model.eval()
    s = model.cluster_seqs[:3]
    h = model.encoder(s)
    manual = torch.stack([h[i][s[i] > 0].mean(0) for i in range(3)])
    assert torch.allclose(z[:3], manual, atol=1e-5)


def test_fnm_mask_and_intent_loss_match_brute_force():
    ds, cfg, model = _build()
    model.on_epoch_start(0)
    g = torch.Generator().manual_seed(1)
    intents = torch.randint(0, 4, (12,), generator=g)
    mask = model.intent_mask(intents)
    brute = torch.tensor([[bool(intents[i] == intents[j]) for j in range(12)] for i in range(12)])
    assert torch.equal(mask, brute)
    # InfoNCE against the centroids with same-intent rows removed (configured similarity, T = ssl.temperature)
    z = torch.randn(12, cfg.embedding_dim, generator=g)
    c = model.centroids[intents]
    t = cfg.ssl.temperature
    losses = []
    for i in range(12):
        keep = [j for j in range(12) if j == i or intents[j] != intents[i]]
        sim = (lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim=0)) if cfg.ssl.similarity == "cosine" \
            else (lambda a, b: a @ b)
        logits = torch.stack([sim(z[i], c[j]) / t for j in keep])
        losses.append(-torch.log_softmax(logits, 0)[keep.index(i)])
    assert torch.allclose(model.intent_loss(z, intents), torch.stack(losses).mean(), atol=1e-5)


def test_same_cluster_false_negatives_use_intents():
    ds, cfg, model = _build(**{"ssl.false_negatives": "same_cluster", "seq.intent_warmup_epochs": 5})
    model.set_phase("joint")
    model.on_epoch_start(0)  # before the warm-up ends the E-step still runs: same_cluster needs it
    batch = _first_batch(model, cfg, ds)
    c = model.cluster_of_user[batch["users"]]
    assert torch.equal(model.false_negative_mask(batch), c[:, None] == c[None, :])
    assert "ssl_intent" not in model.loss_terms(batch)


def test_warmup_delays_intent_contrast():
    ds, cfg, model = _build(**{"seq.intent_warmup_epochs": 2})
    model.set_phase("joint")
    batch = _first_batch(model, cfg, ds)
    for epoch in (0, 1):
        model.on_epoch_start(epoch)
        assert model.centroids is None
        assert set(model.loss_terms(batch)) == {"rec", "ssl_instance"}
    model.on_epoch_start(2)
    assert set(model.loss_terms(batch)) == {"rec", "ssl_instance", "ssl_intent"}


def test_fewer_sequences_than_intents_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"seq\.n_intents=16 .* has 10"):
        _build(make_tiny(n_users=10), **{"seq.n_intents": 16})
