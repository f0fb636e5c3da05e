"""CoSeRec: CoSeRec augmentation wired from config, memory -> hybrid item correlation switch."""
import torch

from contrastrec.augment.sequence import CoSeRecAugment, ItemCorrelation
from contrastrec.config import build_config
from contrastrec.training.loop import build_model, make_batches

from tests.conftest import make_tiny

SMALL = {"embedding_dim": 16, "device": "cpu", "batch_size": 32, "max_len": 8, "n_layers": 1, "seed": 0,
         "dropout": 0.1, "attn_dropout": 0.1}


def _build(**over):
    ds = make_tiny()
    cfg = build_config("coserec", None, {**SMALL, **over})
    return ds, cfg, build_model(cfg, ds)


def test_trains_with_finite_terms():
    ds, cfg, model = _build(**{"aug.correlation_update_epoch": 1})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = make_batches(model, cfg, ds)
    model.train()
    for epoch in range(2):
        model.set_phase("joint")
        model.on_epoch_start(epoch)
        for batch in batches.epoch(epoch, torch.device("cpu")):
            terms = model.loss_terms(batch)
            assert set(terms) == {"rec", "ssl"}
            assert all(torch.isfinite(v) for v in terms.values())
            opt.zero_grad()
            sum(terms.values()).backward()
            opt.step()


def test_augmentation_from_config():
    ds, cfg, model = _build(**{"aug.augment_threshold": 3, "aug.insert_ratio": 0.3, "aug.correlation_top_k": 5})
    aug = model.augment
    assert isinstance(aug, CoSeRecAugment)
    assert aug.augment_threshold == 3 and aug.ops["insert"].ratio == 0.3
    assert set(aug.operators) == {"crop", "mask", "reorder", "substitute", "insert"}
    assert aug.correlation is model.correlation
    # memory-based correlation from the training split only
    ref = ItemCorrelation.from_sequences(ds.train, ds.n_items, top_k=5)
    assert torch.equal(model.correlation.table, ref.memory_table)
    # CoSeRec defaults (reference main.py) differ from CL4SRec's config defaults
    d = build_config("coserec", None, {}).aug
    assert (d.substitute_ratio, d.insert_ratio, d.augment_threshold) == (0.1, 0.4, 4)


def test_correlation_switches_to_hybrid_after_configured_epoch():
    ds, cfg, model = _build(**{"aug.correlation_update_epoch": 2})
    memory = model.correlation.memory_table.clone()
    model.set_phase("joint")
    for epoch in (0, 1):
        model.on_epoch_start(epoch)
        assert model.correlation.mode == "memory" and model.correlation.model_table is None
        assert torch.equal(model.correlation.table, memory)
    model.on_epoch_start(2)
    corr = model.correlation
    assert corr.mode == "hybrid" and corr.model_table is not None
    # the embedding neighbours are the cosine top-k of the current item embeddings
    e = torch.nn.functional.normalize(model.encoder.item_weights().detach(), dim=1)
    sims = e @ e.t()
    sims.fill_diagonal_(-2.0)
    assert torch.equal(corr.model_table[1:, 0], sims.argmax(1) + 1)
    assert not torch.equal(corr.table, memory)
    # refreshed every later epoch from the embeddings as they change
    with torch.no_grad():
        model.encoder.item_emb.weight.mul_(-1.0).add_(torch.randn_like(model.encoder.item_emb.weight))
    before = corr.model_table.clone()
    model.on_epoch_start(3)
    assert not torch.equal(model.correlation.model_table, before)
    # views use the switched table: substitutes/inserts are drawn from it
    seqs = torch.tensor([[0, 0, 0, 0, 0, 1, 2, 3]])
    views = model.augment(seqs, generator=torch.Generator().manual_seed(0))
    assert views.shape == seqs.shape


def test_insert_has_room_in_trimmed_batches():
    # batches are trimmed to their longest sequence; a view may grow up to max_len
    ds, cfg, model = _build(**{"aug.augment_threshold": 4, "aug.insert_ratio": 0.4})
    seqs = torch.tensor([[1, 2, 3]]).repeat(64, 1)  # full rows of a trimmed batch (n=3 <= threshold)
    model.on_epoch_start(0)
    for v in model.views(seqs):
        n = (v > 0).sum(1)
        assert v.shape[1] <= cfg.max_len and (n >= 3).all() and (n == 4).any()
        for row in v[n == 4]:  # insert keeps every original item, in order (none is pushed out)
            rest = iter(row.tolist())
            assert all(any(t == want for t in rest) for want in (1, 2, 3)), row
