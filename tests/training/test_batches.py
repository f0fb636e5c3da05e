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
