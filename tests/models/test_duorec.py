"""DuoRec's supervised positive: another training sequence with the same target, never the anchor
itself unless it is alone in its target group (as the reference, RuihongQiu/DuoRec)."""
from collections import Counter

import torch

from contrastrec.config import build_config
from contrastrec.data.dataset import Dataset, IdMap, Split
from contrastrec.training.loop import build_model, make_batches

SMALL = {"embedding_dim": 8, "device": "cpu", "batch_size": 8, "max_len": 6, "n_layers": 1, "seed": 0,
         "dropout": 0.1, "attn_dropout": 0.1}
N_ITEMS = 40


def _groups_dataset() -> Dataset:
    """Users 0-11: distinct training sequences ``[10 + u, 25 + u % 5, t]`` whose target ``t`` is
    ``u % 3`` (three groups of four); user 12 is alone with target 3."""
    tr_u, tr_i, va_u, va_i, te_u, te_i = [], [], [], [], [], []
    for u in range(13):
        target = u % 3 if u < 12 else 3
        seq = [10 + u, 25 + u % 5, target]
        tr_u += [u] * len(seq)
        tr_i += seq
        va_u.append(u)
        va_i.append(5)
        te_u.append(u)
        te_i.append(6)
    n_users = 13
    return Dataset(
        name="groups", n_users=n_users, n_items=N_ITEMS,
        user_map=IdMap(str(u) for u in range(n_users)), item_map=IdMap(str(i) for i in range(N_ITEMS)),
        train=Split(tr_u, tr_i), valid=Split(va_u, va_i), test=Split(te_u, te_i), sequential=True,
    )


def _model():
    ds = _groups_dataset()
    cfg = build_config("duorec", None, dict(SMALL))
    return ds, cfg, build_model(cfg, ds)


def test_supervised_partner_is_another_sequence_with_the_same_target():
    ds, cfg, model = _model()
    owner = {tuple(model.train_seqs[u].tolist()): u for u in range(ds.n_users)}
    assert len(owner) == ds.n_users  # every training sequence is distinct: a sequence names its user
    target_of = {u: (u % 3 if u < 12 else 3) + 1 for u in range(ds.n_users)}  # tokens are item + 1
    seen: dict[int, Counter] = {u: Counter() for u in range(ds.n_users)}
    batches = make_batches(model, cfg, ds)
    for epoch in range(40):
        model.on_epoch_start(epoch)
        for batch in batches.epoch(epoch, torch.device("cpu")):
            partners = model.same_target_sequences(batch["users"], batch["target"])
            for u, t, p in zip(batch["users"].tolist(), batch["target"].tolist(), partners.tolist()):
                assert t == target_of[u]
                v = owner[tuple(p)]
                assert target_of[v] == t  # the partner shares the target
                seen[u][v] += 1
    for u in range(12):  # groups of four: never the anchor itself, each of the three others
        assert u not in seen[u], (u, seen[u])
        assert set(seen[u]) == {v for v in range(12) if v % 3 == u % 3 and v != u}
        assert min(seen[u].values()) >= 5  # uniform: 40 draws over 3 partners
    assert set(seen[12]) == {12}  # alone in its group: itself (two dropout views), as the reference


def test_partner_rows_follow_the_generator():
    """Same epoch seed, same partners (reproducible); a user drawn for a target that is not its own
    draws from the whole group."""
    ds, cfg, model = _model()
    users, target = torch.arange(12), torch.tensor([u % 3 + 1 for u in range(12)])
    model.on_epoch_start(3)
    a = model.same_target_rows(users, target)
    model.on_epoch_start(3)
    assert torch.equal(a, model.same_target_rows(users, target))
    rows = Counter()
    model.on_epoch_start(0)
    for _ in range(200):  # user 0 (target 1) asked for target 2's group: any of its four members
        rows[int(model.same_target_rows(torch.tensor([0]), torch.tensor([2]))[0])] += 1
    assert set(rows) == {1, 4, 7, 10}


def test_prefix_partner_is_another_prefix_example_with_the_same_target():
    """train_prefixes: the same-target pool is the prefix examples the batches train on (the
    reference's RecBole instances); the partner is never the anchor's own example unless it is alone
    in its group."""
    ds = _groups_dataset()
    cfg = build_config("duorec", None, {**SMALL, "train_prefixes": True})
    model = build_model(cfg, ds)
    assert model.by_example and len(model.train_seqs) == 13 * 2  # two prefixes per 3-item user
    batches = make_batches(model, cfg, ds)
    seqs, targets = model.train_seqs, model.train_target
    seen = Counter()
    for epoch in range(20):
        model.on_epoch_start(epoch)
        for batch in batches.epoch(epoch, torch.device("cpu")):
            ex, t = batch["example"], batch["target"]
            width = batch["seq"].shape[1]
            assert torch.equal(seqs[ex][:, -width:], batch["seq"]) and torch.equal(targets[ex], t)
            rows = model.same_target_rows(ex, t)
            assert torch.equal(targets[rows], t)  # same target
            alone = model.group_size[t] == 1
            assert torch.equal(rows == ex, alone), (rows, ex)  # itself only when alone
            seen.update((int(a), int(b)) for a, b in zip(ex, rows))
    group = lambda e: [f for f in range(len(targets)) if targets[f] == targets[e] and f != e]  # noqa: E731
    for e in range(len(targets)):
        assert {b for a, b in seen if a == e} == (set(group(e)) or {e})
