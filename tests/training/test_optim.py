"""The ``optimizer`` key: ``adam`` (default) and ``lazy_adam`` (row-sparse item-table gradients, a
row-wise Adam step; contrastrec.training.optim), checked against a plain loop."""
import math

import pytest
import torch

from contrastrec.config import MODELS, ConfigError, build_config
from contrastrec.training.loop import build_model, fit, make_batches
from contrastrec.training.optim import LazyAdam, TrainingError, build_optimizer

from tests.conftest import make_tiny, small_overrides

LAZY = {"optimizer": "lazy_adam", "loss": "sampled_softmax", "n_negatives": 5}


def _lazy_adam_reference(w, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Plain loop: ``steps`` is a list of {row: gradient}; only those rows (and their moments) move;
    the bias correction counts the table's steps."""
    w = w.clone()
    m, v = torch.zeros_like(w), torch.zeros_like(w)
    for t, grads in enumerate(steps, start=1):
        for r, g in grads.items():
            m[r] = b1 * m[r] + (1 - b1) * g
            v[r] = b2 * v[r] + (1 - b2) * g * g
            step = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            w[r] = w[r] - step * m[r] / (v[r].sqrt() + eps)
    return w


def test_lazy_adam_matches_a_plain_loop_and_leaves_untouched_rows_alone():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 4, sparse=True)
    lin = torch.nn.Linear(4, 1)
    w0 = emb.weight.detach().clone()
    opt = LazyAdam([*lin.parameters()], [emb.weight], lr=0.1)
    batches = [torch.tensor([1, 2, 2]), torch.tensor([2, 5]), torch.tensor([7])]
    steps = []
    for ids in batches:
        opt.zero_grad()
        lin(emb(ids)).pow(2).sum().backward()
        g = emb.weight.grad.coalesce()
        steps.append({int(r): v.clone() for r, v in zip(g.indices()[0], g.values())})
        opt.step()
    want = _lazy_adam_reference(w0, steps, lr=0.1)
    torch.testing.assert_close(emb.weight.detach(), want, rtol=1e-5, atol=1e-6)
    for r in (0, 3, 4, 6, 8, 9):  # never looked up
        assert torch.equal(emb.weight[r], w0[r])


def test_rows_of_an_earlier_step_stay_put_under_lazy_adam_but_not_adam():
    """Dense Adam moves a row on every step after its first gradient (momentum), so its cost is the
    whole table per step; lazy_adam moves exactly the rows the step looked up."""
    moved = {}
    for opt_name in ("adam", "lazy_adam"):
        over = small_overrides("sasrec", loss="sampled_softmax", n_negatives=5, optimizer=opt_name, batch_size=4)
        cfg = build_config("sasrec", None, over)
        ds = make_tiny(n_items=400)  # a step looks up a few dozen of the 400 rows
        torch.manual_seed(0)
        model = build_model(cfg, ds)
        model.train()
        model.on_epoch_start(0)
        opt = build_optimizer(model, cfg.optimizer, cfg.lr)
        assert isinstance(opt, LazyAdam) == (opt_name == "lazy_adam")
        batches = list(make_batches(model, cfg, ds).epoch(0, torch.device("cpu")))[:2]
        w = model.encoder.item_emb.weight
        for batch in batches:
            before = w.detach().clone()
            opt.zero_grad()
            sum(model.loss_terms(batch).values()).backward()
            opt.step()
        changed = (w.detach() != before).any(1)
        moved[opt_name] = int(changed.sum())
        if opt_name == "lazy_adam":
            grad_rows = set(w.grad.coalesce().indices()[0].tolist())
            assert set(torch.nonzero(changed).flatten().tolist()) <= grad_rows  # the second step's rows only
    assert moved["lazy_adam"] < moved["adam"] - 10, moved


def test_lazy_adam_refuses_a_dense_gradient_on_a_sparse_table():
    emb = torch.nn.Embedding(5, 2)  # not sparse: its gradient is dense
    opt = LazyAdam([], [emb.weight], lr=0.1, model_name="m")
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(TrainingError, match="optimizer=lazy_adam: .* got a dense gradient, so model m"):
        opt.step()


@pytest.mark.parametrize("model, over, match", [
    ("lightgcn", {}, "optimizer=lazy_adam does not apply to model lightgcn: its training reads"),
    ("sgl", {}, "optimizer=lazy_adam does not apply to model sgl: its training reads"),
    ("mf", {"schema": "integrated"}, "optimizer=lazy_adam does not apply to model mf: schema=integrated"),
    ("sasrec", {"loss": "ce"}, "loss=ce multiplies by the whole item table"),
    ("bert4rec", {}, "loss=ce multiplies"),
    ("cl4srec", {"loss": "sampled_softmax", "schema": "integrated"}, "schema=integrated contrasts against"),
    ("sasrec", {"loss": "bce", "weight_decay": 1e-4}, "optimizer=lazy_adam has no weight decay"),
])
def test_lazy_adam_is_refused_where_a_table_is_read_whole(model, over, match):
    with pytest.raises(ConfigError, match=match):
        build_config(model, None, {"optimizer": "lazy_adam", **over})


def test_every_model_either_takes_lazy_adam_or_refuses_it():
    """MF and the sequential models with a sampled loss take it (and train); the rest refuse it at
    config time."""
    takes = set()
    for name, cls in MODELS.items():
        if cls.task == "none":
            continue
        try:
            build_config(name, None, small_overrides(name, **LAZY))
            takes.add(name)
        except ConfigError as e:
            assert "optimizer=lazy_adam" in str(e) or "loss=" in str(e), (name, str(e))
    assert takes == {n for n, c in MODELS.items() if c.sequential and n != "bert4rec"} | {"mf"}


def test_lazy_adam_run_resumes_to_the_same_result(tmp_path):
    ds = make_tiny()
    cfg = build_config("sasrec", None, small_overrides("sasrec", epochs=3, **LAZY))
    lines = []
    full = fit(cfg, ds, tmp_path / "full", progress=False, log=lines.append)
    assert f"optimizer lazy_adam: row-sparse updates of {ds.n_items + 2}x16; the other parameters by Adam" in lines
    part = fit(build_config("sasrec", None, small_overrides("sasrec", epochs=2, **LAZY)), ds, tmp_path / "part",
               progress=False, log=lambda s: None)
    assert part["epochs"] == 2
    res = fit(cfg, ds, tmp_path / "part", resume=True, progress=False, log=lambda s: None,
              resume_overrides={"epochs": 3})
    assert res["test"] == full["test"] and res["best_epoch"] == full["best_epoch"]


def test_mf_under_lazy_adam_moves_only_the_batch_rows():
    """MF's step (BPR and its L2 term) reads its two tables by lookups under lazy_adam: the
    gradients are row-sparse and exactly the batch's users and items move."""
    ds = make_tiny(n_users=300, n_items=400, sequential=False)
    cfg = build_config("mf", None, small_overrides("mf", optimizer="lazy_adam", batch_size=8, lr=0.01))
    model = build_model(cfg, ds)
    model.train()
    model.on_epoch_start(0)
    opt = build_optimizer(model, cfg.optimizer, cfg.lr)
    batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
    u0, i0 = (t.detach().clone() for t in model.encoder())
    opt.zero_grad()
    terms = model.loss_terms(batch)
    assert set(terms) == {"rec", "reg"}
    sum(terms.values()).backward()
    assert model.encoder.user_emb.weight.grad.is_sparse and model.encoder.item_emb.weight.grad.is_sparse
    opt.step()
    u1, i1 = model.encoder()
    assert set(torch.nonzero((u1 != u0).any(1)).flatten().tolist()) == set(batch["users"].tolist())
    items = set(batch["pos"].tolist()) | set(batch["neg"].flatten().tolist())
    assert set(torch.nonzero((i1 != i0).any(1)).flatten().tolist()) == items


def test_mf_lazy_loss_equals_the_dense_path():
    """Same batch, same parameters: the lookup path gives MF's loss terms of the indexed path."""
    ds = make_tiny(sequential=False)
    terms = {}
    for opt in ("adam", "lazy_adam"):
        cfg = build_config("mf", None, small_overrides("mf", optimizer=opt))
        torch.manual_seed(0)
        model = build_model(cfg, ds)
        model.on_epoch_start(0)
        batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
        terms[opt] = {k: float(v.detach()) for k, v in model.loss_terms(batch).items()}
    assert terms["adam"].keys() == terms["lazy_adam"].keys()
    for k in terms["adam"]:
        assert abs(terms["adam"][k] - terms["lazy_adam"][k]) < 1e-6, k
