"""eval_graph=history: graph models score the test set propagating over train + valid (the
interactions known before the test one); validation and the parameters are unchanged."""
import numpy as np
import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.evaluation import FullRankingEvaluator
from contrastrec.graph import normalized_adjacency
from contrastrec.training.loop import build_model, evaluate_model, fit

from tests.conftest import make_tiny


def _model(name="lightgcn"):
    ds = make_tiny(sequential=False)
    over = {"embedding_dim": 8, "seed": 0, "device": "cpu", "ks": [5, 10]}
    cfg = build_config(name, None, over if name == "mf" else {**over, "n_layers": 2})
    torch.manual_seed(0)
    return ds, build_model(cfg, ds)


def _brute_ndcg(scores: torch.Tensor, ds, phase: str, k: int) -> float:
    """Per-user NDCG@k by loops: known items (train, and valid at test time) rank last."""
    known = ds.history(phase)
    target = ds.targets(phase)
    seen = {}
    for u, i in zip(known.users.tolist(), known.items.tolist()):
        seen.setdefault(u, set()).add(i)
    tot = 0.0
    users = sorted(set(target.users.tolist()))
    for u in users:
        s = scores[u].clone()
        for i in seen.get(u, ()):
            s[i] = -np.inf
        top = torch.argsort(s, descending=True, stable=True)[:k].tolist()
        rel = {i for uu, i in zip(target.users.tolist(), target.items.tolist()) if uu == u}
        dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(top) if i in rel)
        idcg = sum(1 / np.log2(r + 2) for r in range(min(len(rel), k)))
        tot += dcg / idcg
    return tot / len(users)


def test_history_graph_scores_test_over_train_plus_valid():
    ds, model = _model()
    ev = FullRankingEvaluator(ds, "test", ks=[10])
    train_graph = evaluate_model(model, ds, "test", ev, 50)
    hist = evaluate_model(model, ds, "test", ev, 50, eval_graph="history")
    # brute force: the same parameters propagated over the train + valid adjacency
    known = ds.history("test")
    with torch.no_grad():
        x = torch.cat(model.encoder.layer0())
        a = normalized_adjacency(known.users, known.items, ds.n_users, ds.n_items).to_dense()
        layers = [x, a @ x, a @ (a @ x)]
        out = torch.stack(layers).mean(0)
        scores = out[: ds.n_users] @ out[ds.n_users :].t()
    assert hist["ndcg@10"] == pytest.approx(_brute_ndcg(scores, ds, "test", 10), abs=1e-6)
    assert hist != train_graph  # the validation edges change the test scores
    # the training graph is back, and validation never uses the extra edges
    assert model.encoder.adj.values().numel() == 2 * len(set(zip(ds.train.users.tolist(), ds.train.items.tolist())))
    vev = FullRankingEvaluator(ds, "valid", ks=[10])
    assert evaluate_model(model, ds, "valid", vev, 50, eval_graph="history") == evaluate_model(model, ds, "valid", vev, 50)


def test_models_without_a_graph_ignore_it():
    ds, model = _model("mf")
    ev = FullRankingEvaluator(ds, "test", ks=[10])
    assert evaluate_model(model, ds, "test", ev, 50, eval_graph="history") == evaluate_model(model, ds, "test", ev, 50)


def test_fit_records_the_history_graph_test_and_bad_value_refused(tmp_path):
    ds = make_tiny(sequential=False)
    with pytest.raises(ConfigError, match="eval_graph"):
        build_config("lightgcn", None, {"eval_graph": "everything"})
    common = {"embedding_dim": 8, "epochs": 2, "seed": 0, "device": "cpu", "ks": [10], "metric": "ndcg@10",
              "batch_size": 64}
    res = {g: fit(build_config("lightgcn", None, {**common, "eval_graph": g}), ds, tmp_path / g, progress=False,
                  log=lambda *_: None) for g in ("train", "history")}
    assert res["train"]["valid"] == res["history"]["valid"]  # same training, same selection
    assert res["train"]["test"] != res["history"]["test"]
    assert res["history"]["config"]["eval_graph"] == "history"
