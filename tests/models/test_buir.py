"""BUIR (issue 16): the momentum target (augment/momentum.py) against hand computations; the
bootstrap loss; the model's loss against a re-computation with the same random graphs; the trainer's
``after_step`` hook moves the target; the keys BUIR refuses; it learns; a resumed run (target
included) equals an uninterrupted one."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.augment.momentum import MomentumTarget, ema_
from contrastrec.config import ConfigError, build_config
from contrastrec.models.buir import bootstrap_loss
from contrastrec.training.loop import fit

from tests.conftest import make_tiny, one_batch, small_overrides, fit_and_resume


# ---------------------------------------------------------------------------------- momentum target
def test_ema_by_hand():
    t, o = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0])
    ema_([t], [o], 0.9)
    assert torch.allclose(t, torch.tensor([0.9 * 1 + 0.1 * 3, 0.9 * 2 + 0.1 * 5]))
    ema_([t], [o], 1.0)  # momentum 1: the target does not move
    assert torch.allclose(t, torch.tensor([1.2, 2.3]))
    ema_([t], [o], 0.0)  # momentum 0: a copy of the online weights
    assert torch.equal(t, o)
    with pytest.raises(ValueError, match="momentum must be in"):
        ema_([t], [o], 1.5)


def test_momentum_target_copies_then_follows_the_online_module_by_hand():
    torch.manual_seed(0)
    online = nn.Linear(3, 2)
    target = MomentumTarget(online)
    w0 = online.weight.detach().clone()
    assert torch.equal(target.module.weight, w0) and target.module.weight is not online.weight
    assert not any(p.requires_grad for p in target.parameters())
    assert set(target.state_dict()) == {"module.weight", "module.bias"}  # checkpointed with the model
    with torch.no_grad():
        online.weight.add_(1.0)
    target.update(online, 0.99)
    assert torch.allclose(target.module.weight, 0.99 * w0 + 0.01 * (w0 + 1.0))
    with torch.no_grad():
        online.weight.mul_(2.0)
    target.update(online, 0.99)
    assert torch.allclose(target.module.weight, 0.99 * (0.99 * w0 + 0.01 * (w0 + 1)) + 0.01 * 2 * (w0 + 1), atol=1e-6)
    x = torch.randn(4, 3)
    y = target(x)
    assert not y.requires_grad and torch.allclose(y, x @ target.module.weight.t() + target.module.bias)


def test_momentum_target_shares_what_it_is_told_to():
    class WithGraph(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Parameter(torch.zeros(2))
            self.graph = torch.ones(3)

    online = WithGraph()
    assert MomentumTarget(online, share=[online.graph]).module.graph is online.graph
    assert MomentumTarget(online).module.graph is not online.graph


def test_bootstrap_loss_by_hand():
    p = torch.tensor([[3.0, 4.0], [1.0, 0.0]], requires_grad=True)
    z = torch.tensor([[0.0, 2.0], [-1.0, 0.0]], requires_grad=True)
    # rows: |(.6,.8)-(0,1)|^2 = .36+.04 = .4 ; |(1,0)-(-1,0)|^2 = 4
    loss = bootstrap_loss(p, z)
    assert torch.allclose(loss, torch.tensor((0.4 + 4.0) / 2))
    assert torch.allclose(loss, (2 - 2 * F.cosine_similarity(p, z)).mean())
    loss.backward()
    assert z.grad is None and p.grad is not None  # the target is a constant


# ---------------------------------------------------------------------------------- the model
def _reference_loss(model, batch, seed):
    """BUIR's loss recomputed with dense propagations over the same edge-dropped graphs: the draws
    (rate, then keep mask) replayed from torch's generator in the model's order (online, target)."""
    adj = model.encoder.adj.to_dense()
    drop = model.edge_dropout
    gen = torch.Generator().manual_seed(seed)

    def dropped():
        rate = float(torch.rand((), generator=gen)) * model.drop_rate
        keep = (torch.rand(drop.n_edges, generator=gen) >= rate)[drop.edge].float()
        vals = drop.val * keep / (1 - rate)
        return torch.sparse_csr_tensor(drop.crow, drop.col, vals, size=adj.shape).to_dense()

    def lightgcn(enc, a):
        x = torch.cat(enc.layer0(), 0)
        layers = [x]
        for _ in range(enc.n_layers):
            layers.append(a @ layers[-1])
        return torch.stack(layers).mean(0)

    online = model.predictor(lightgcn(model.encoder, dropped()))
    target = lightgcn(model.target.module, dropped())
    u, i = batch["users"], batch["pos"] + model.n_users

    def reg(a, b):  # ||a/|a| - b/|b| ||^2, by hand
        return ((a / a.norm(dim=-1, keepdim=True) - b / b.norm(dim=-1, keepdim=True)) ** 2).sum(-1).mean()

    return reg(online[u], target[i]) + reg(online[i], target[u])


def test_buir_loss_equals_the_reference_over_the_same_dropped_graphs():
    model, batch = one_batch("buir")
    assert model.edge_dropout is not None and model.drop_rate == 0.2 and model.momentum == 0.995
    torch.manual_seed(11)
    got = model.loss_terms(batch)
    assert set(got) == {"rec"}
    want = _reference_loss(model, batch, 11)
    assert torch.allclose(got["rec"], want, atol=1e-5)
    got["rec"].backward()
    assert model.predictor.weight.grad is not None and model.encoder.user_emb.weight.grad is not None
    assert all(p.grad is None for p in model.target.parameters())


def test_buir_scores_are_q_u_dot_i_plus_u_dot_q_i():
    model, _ = one_batch("buir")
    model.eval()
    u, i = model.encoder()
    q = model.predictor
    want = q(u[:4]) @ i.t() + u[:4] @ q(i).t()
    assert torch.allclose(model.scorer(None)(torch.arange(4)), want, atol=1e-5)


def test_after_step_moves_the_target_by_ema_and_the_trainer_calls_it(tmp_path):
    model, batch = one_batch("buir", **{"buir.momentum": 0.9})
    before = [p.detach().clone() for p in model.target.parameters()]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    sum(model.loss_terms(batch).values()).backward()
    opt.step()
    model.after_step()
    for t, t0, o in zip(model.target.parameters(), before, model.encoder.parameters()):
        assert torch.allclose(t, 0.9 * t0 + 0.1 * o.detach(), atol=1e-7)
    # through the training loop: the saved target differs from the online encoder and from its init
    cfg = build_config("buir", None, small_overrides("buir", epochs=1, ks=[10], metric="ndcg@10"))
    fit(cfg, make_tiny(), tmp_path / "r", progress=False, log=lambda s: None)
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=False)["model"]
    assert "target.module.user_emb.weight" in state and "predictor.weight" in state
    assert not torch.allclose(state["target.module.user_emb.weight"], state["encoder.user_emb.weight"])


def test_buir_integrated_uses_the_configured_loss_over_its_views():
    model, batch = one_batch("buir", schema="integrated")
    users, pos = batch["users"], batch["pos"]
    same = pos[None] == pos[:, None]
    torch.manual_seed(4)
    got = model.loss_terms(batch)["rec"]
    torch.manual_seed(4)
    (pu, pi), (zu, zi) = model.integrated_views()
    want = 0.5 * (model.ssl(pu[users], zi[pos], positive_mask=same) + model.ssl(zu[users], pi[pos], positive_mask=same))
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("over, key", [
    ({"ssl.temperature": 0.5}, "ssl.temperature"),  # the bootstrap loss is fixed by the method
    ({"ssl.weight": 0.5}, "ssl.weight"),
    ({"reg_weight": 1e-4}, "reg_weight"),
    ({"n_negatives": 4}, "n_negatives"),
    ({"loss": "bce"}, "loss"),
    ({"encoder": "mf", "buir.drop_rate": 0.1}, "buir.drop_rate"),
])
def test_buir_refuses_keys_that_do_nothing(over, key):
    with pytest.raises(ConfigError, match=rf"^{key} does nothing for model buir: "):
        build_config("buir", None, over)


def test_buir_config():
    assert build_config("buir", None, {"schema": "integrated", "ssl.temperature": 0.5}).ssl.temperature == 0.5
    with pytest.raises(ConfigError, match="buir has no self-supervised term to pre-train"):
        build_config("buir", None, {"schema": "pretrain_finetune", "pretrain_epochs": 1})
    with pytest.raises(ConfigError, match="buir.momentum must be in"):
        build_config("buir", None, {"buir.momentum": 1.5})
    from contrastrec.training.loop import build_model

    model = build_model(build_config("buir", None, _small(encoder="mf")), make_tiny())
    assert model.edge_dropout is None and not hasattr(model.target.module, "adj")  # BUIR-ID: no graph
    from contrastrec.demo import demo_models

    assert build_config("buir", None, demo_models()["buir"]).model == "buir"  # in `contrastrec demo`


def _small(**over):
    out = small_overrides("buir", **over)
    if out.get("encoder") == "mf":
        out.pop("n_layers")  # the mf encoder has none
    return out




@pytest.mark.parametrize("encoder", ["lightgcn", "mf"])
def test_buir_learns_and_resumes_exactly(tmp_path, encoder):
    ds = make_tiny()

    def cfg(epochs):
        return build_config("buir", None, _small(epochs=epochs, ks=[10], metric="ndcg@10", eval_every=1, lr=5e-3,
                                                  encoder=encoder))

    full, resumed, log, resumed_log = fit_and_resume(cfg, ds, tmp_path)
    assert resumed_log == log
    assert resumed["test"] == full["test"]
    assert log[-1]["loss"] < log[0]["loss"]
