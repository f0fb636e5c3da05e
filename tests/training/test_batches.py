import numpy as np
import torch

from contrastrec.data.dataset import Split
from contrastrec.data.sequences import padded_tokens
from contrastrec.training.batches import PairwiseBatches, SequenceBatches, UniformNegatives

from tests.conftest import make_tiny


def test_padded_tokens_brute_force():
    s = Split([0, 0, 0, 2, 2], [5, 6, 7, 1, 2])
    t = padded_tokens(s, 4, 2)
    assert t.tolist() == [[7, 8], [0, 0], [2, 3], [0, 0]]
    t = padded_tokens(s, 3, 4)
    assert t.tolist() == [[0, 6, 7, 8], [0, 0, 0, 0], [0, 0, 2, 3]]


def test_uniform_negatives_exclude_positives():
    ds = make_tiny()
    neg = UniformNegatives(ds.train, ds.n_users, ds.n_items)
    users = np.repeat(np.arange(ds.n_users), 50)
    out = neg.sample(users, 3, np.random.default_rng(0))
    pos = set(zip(ds.train.users.tolist(), ds.train.items.tolist()))
    assert not any((u, i) in pos for u, row in zip(users.tolist(), out.tolist()) for i in row)


def test_sequence_batches_shift():
    ds = make_tiny()
    b = SequenceBatches(ds, 16, 5, seed=0, with_negatives=True)
    batch = next(iter(b.epoch(0, torch.device("cpu"))))
    seq, pos = batch["seq"], batch["pos"]
    assert seq.shape == pos.shape and seq.shape[0] == 16 and seq.shape[1] <= 5
    assert (seq[:, 0] > 0).any()  # trimmed to the longest sequence of the batch
    assert ((seq == 0) <= (pos == 0)).all()  # no target where the input is padding
    # the target at each position is the next input item
    assert torch.equal(seq[:, 1:][seq[:, 1:] > 0], pos[:, :-1][seq[:, 1:] > 0])
    assert ((batch["neg"] > 0) == (pos > 0)).all()


def test_pairwise_batches_repeatable():
    ds = make_tiny()
    b = PairwiseBatches(ds, 32, 2, seed=1)
    a1 = [x["neg"] for x in b.epoch(3, torch.device("cpu"))]
    a2 = [x["neg"] for x in b.epoch(3, torch.device("cpu"))]
    assert all(torch.equal(x, y) for x, y in zip(a1, a2))
    assert sum(len(x["users"]) for x in b.epoch(0, torch.device("cpu"))) == len(ds.train)


def _same_batches(a, b):
    a, b = list(a), list(b)
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k


def test_resident_pairwise_batches_equal_the_host_path():
    """The device-resident path (data sent once, one transfer per epoch) yields the same batches;
    also with per-step (model-independent here: popularity) negatives and their log Q."""
    from contrastrec.config import build_config
    from contrastrec.training.batches import make_negatives

    ds, cpu = make_tiny(), torch.device("cpu")
    for sampler in ("uniform", "popularity"):
        cfg = build_config("lightgcn", None, {"neg_sampler": sampler, "loss": "sampled_softmax", "n_negatives": 3})
        host = PairwiseBatches(ds, 32, 3, seed=1, negatives=make_negatives(cfg, ds), resident=False)
        dev = PairwiseBatches(ds, 32, 3, seed=1, negatives=make_negatives(cfg, ds), resident=True)
        for epoch in (0, 2):
            _same_batches(host.epoch(epoch, cpu), dev.epoch(epoch, cpu))
        assert ("log_q_neg" in next(iter(dev.epoch(0, cpu)))) == (sampler == "popularity")


def test_resident_sequence_batches_equal_the_host_path():
    ds, cpu = make_tiny(), torch.device("cpu")
    for neg in (False, True):
        for bucket in (False, True):
            host = SequenceBatches(ds, 16, 5, seed=0, with_negatives=neg, bucket=bucket, resident=False)
            dev = SequenceBatches(ds, 16, 5, seed=0, with_negatives=neg, bucket=bucket, resident=True)
            _same_batches(host.epoch(1, cpu), dev.epoch(1, cpu))
