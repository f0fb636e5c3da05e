"""Issue 12: sequential models over a large catalogue with loss=sampled_softmax: n_negatives items
drawn once per batch (uniform or by popularity), shared by every position, logQ-corrected, the
target's accidental hits masked. Checked against a float64 loop."""
import math

import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.training.loop import fit

from tests.conftest import make_tiny, one_batch


def _loop(h, pos, neg, log_q):
    total = 0.0
    for n in range(h.shape[0]):
        logits = [float(h[n] @ e) - log_q[t] for t, e in [(pos[n][0], pos[n][1])]]
        for t, e in neg:
            if t != pos[n][0]:
                logits.append(float(h[n] @ e) - log_q[t])
        m = max(logits)
        total += -(logits[0] - m - math.log(sum(math.exp(x - m) for x in logits)))
    return total / h.shape[0]


@pytest.mark.parametrize("sampler", ["uniform", "popularity"])
def test_shared_sampled_softmax_matches_loops(sampler):
    model, _ = one_batch("sasrec", loss="sampled_softmax", n_negatives=7, neg_sampler=sampler)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(5, 16, generator=g)
    pos = torch.tensor([1, 4, 4, 9, 2])
    model._neg_gen.manual_seed(3)
    got = model.shared_sampled_softmax(h, pos)
    model._neg_gen.manual_seed(3)
    idx = torch.multinomial(model.neg_q, 7, replacement=True, generator=model._neg_gen)
    w = model.encoder.item_emb.weight.detach().double()
    log_q = {t + 1: math.log(float(model.neg_q[t])) for t in range(model.n_items)}
    want = _loop(h.double(), [(int(t), w[int(t)]) for t in pos], [(int(i) + 1, w[int(i) + 1]) for i in idx], log_q)
    assert abs(float(got) - want) < 1e-5


def test_sasrec_trains_with_sampled_softmax(tmp_path):
    ds = make_tiny()
    cfg = build_config("sasrec", None, {"loss": "sampled_softmax", "n_negatives": 10, "epochs": 2, "max_len": 8,
                                        "embedding_dim": 16, "device": "cpu", "ks": [10], "metric": "ndcg@10"})
    res = fit(cfg, ds, tmp_path / "r", progress=False, log=lambda s: None)
    assert 0 <= res["test"]["ndcg@10"] <= 1
    with pytest.raises(ConfigError, match="not hard"):
        build_config("sasrec", None, {"loss": "sampled_softmax", "neg_sampler": "hard"})
