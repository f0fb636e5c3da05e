"""train_prefixes (issue 15): every prefix of every training sequence as one example with one target,
checked against a plain loop; refusals; it trains the models that take it and resumes exactly."""

import numpy as np
import pytest
import torch

from contrastrec.config import ConfigError, build_config
from contrastrec.data.dataset import Split
from contrastrec.data.sequences import prefix_tokens
from contrastrec.training.batches import SequenceBatches

from tests.conftest import fit_and_resume, make_tiny, small_overrides


def _loop_prefixes(split, n_users, max_len, max_prefixes=0):
    users, seqs, targets = [], [], []
    for u in range(n_users):
        items = [int(i) for uu, i in zip(split.users, split.items) if uu == u]
        ends = range(1, len(items))
        if max_prefixes:
            ends = [e for e in ends if e >= len(items) - max_prefixes]
        for e in ends:
            hist = [i + 1 for i in items[:e]][-max_len:]
            users.append(u)
            seqs.append([0] * (max_len - len(hist)) + hist)
            targets.append(items[e] + 1)
    return np.array(users), np.array(seqs).reshape(-1, max_len), np.array(targets)


@pytest.mark.parametrize("max_len,max_prefixes", [(3, 0), (6, 0), (2, 2), (4, 1)])
def test_prefix_tokens_equal_a_plain_loop(max_len, max_prefixes):
    rng = np.random.default_rng(0)
    counts = [0, 1, 2, 5, 9, 3]
    users = np.repeat(np.arange(len(counts)), counts)
    split = Split(users, rng.integers(0, 20, len(users)))
    got = prefix_tokens(split, len(counts), max_len, max_prefixes)
    want = _loop_prefixes(split, len(counts), max_len, max_prefixes)
    for g, w in zip(got, want):
        assert g.dtype == np.int64 and np.array_equal(g, w)


def test_prefix_batches_hold_each_prefix_once_with_its_one_target():
    ds = make_tiny()
    b = SequenceBatches(ds, 16, 5, seed=0, with_negatives=True, prefixes=True)
    rows = []
    for batch in b.epoch(0, torch.device("cpu")):
        seq, pos = batch["seq"], batch["pos"]
        assert (pos[:, :-1] == 0).all() and (pos[:, -1] > 0).all()  # one target, at the last position
        assert torch.equal(batch["target"], pos[:, -1])
        assert ((batch["neg"] > 0) == (pos > 0)).all()
        width = seq.shape[1]
        rows += [(int(u), tuple([0] * (5 - width) + s.tolist()), int(t))
                 for u, s, t in zip(batch["users"], seq, batch["target"])]
    users, seqs, targets = prefix_tokens(ds.train, ds.n_users, 5)
    assert len(rows) == len(ds.train) - len(np.unique(ds.train.users))  # every non-first interaction once
    assert sorted(rows) == sorted(zip(users.tolist(), map(tuple, seqs.tolist()), targets.tolist()))


def test_prefix_keys_are_refused_where_they_do_nothing():
    with pytest.raises(ConfigError, match="train_prefixes"):
        build_config("lightgcn", None, {"train_prefixes": True})
    with pytest.raises(ConfigError, match="train_prefixes"):
        build_config("s3rec", None, {"train_prefixes": True})
    with pytest.raises(ConfigError, match="max_prefixes"):
        build_config("sasrec", None, {"max_prefixes": 3})
    with pytest.raises(ConfigError, match="max_prefixes must be >= 0"):
        build_config("sasrec", None, {"train_prefixes": True, "max_prefixes": -1})
    assert build_config("cl4srec", None, {"train_prefixes": True, "max_prefixes": 3}).max_prefixes == 3


@pytest.mark.parametrize("model", ["sasrec", "cl4srec", "iclrec", "duorec"])
def test_prefix_training_learns_and_resumes_exactly(model, tmp_path):
    ds = make_tiny()

    def cfg(epochs):
        return build_config(model, None, small_overrides(model, epochs=epochs, train_prefixes=True, max_prefixes=4,
                                                         eval_every=1, patience=50))

    full, resumed, log_full, log_part = fit_and_resume(cfg, ds, tmp_path, epochs=4, stop=2)
    assert log_full == log_part and full["test"] == resumed["test"]
    first, last = log_full[0]["valid"]["ndcg@10"], max(x["valid"]["ndcg@10"] for x in log_full)
    assert last > first  # it learns from the prefix examples
