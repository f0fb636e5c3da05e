"""SSLBranch and its pool miner (samplers/pool.py) hard negatives: the whole-table ranking (graph pools) is exact, refreshed on schedule,
and samples only from the configured rank band; the per-step path is unchanged."""
import math

import torch

from contrastrec.config import SSLConfig
from contrastrec.models.ssl import SSLBranch


def _branch(**over):
    cfg = SSLConfig(negatives="hard", n_negatives=6, hard_skip_top=2, hard_band=4, hard_ratio=0.5, **over)
    br = SSLBranch(cfg, 5)
    br.reseed(0)
    return br


def test_rank_pool_matches_loops():
    g = torch.Generator().manual_seed(0)
    ph = torch.randn(9, 5, generator=g, dtype=torch.float64).float()
    got = _branch().miner.rank_pool(ph, 4, chunk=4)
    for i in range(9):
        sims = sorted(((float(ph[i] @ ph[j]), j) for j in range(9) if j != i), reverse=True)
        assert got[i].tolist() == [j for _, j in sims[:4]]


def test_table_ranking_refreshes_every_n_calls_and_samples_the_band(monkeypatch):
    br = _branch(hard_refresh_every=3)
    calls = []
    real = br.miner.rank_pool
    monkeypatch.setattr(br.miner, "rank_pool", lambda ph, depth, chunk=2048: calls.append(1) or real(ph, depth))
    g = torch.Generator().manual_seed(1)
    ph = torch.randn(30, 5, generator=g)
    anchors = torch.tensor([0, 7, 29])
    for step in range(7):
        idx = br.miner.mine(ph[anchors], ph, anchors, None, pool_key="users")
        ranks = real(ph, 6)
        hard = idx[:, :3]
        for a, row in zip(anchors.tolist(), hard.tolist()):
            assert set(row) <= set(ranks[a, 2:6].tolist()) and a not in row
    assert len(calls) == 3  # calls 0, 3, 6
    br.reseed(5)  # a new epoch re-ranks at its first call
    br.miner.mine(ph[anchors], ph, anchors, None, pool_key="users")
    assert len(calls) == 4


def test_refresh_every_call_equals_per_step_mining():
    g = torch.Generator().manual_seed(2)
    ph = torch.randn(40, 5, generator=g)
    anchors = torch.tensor([3, 11, 12, 39])
    a, b = _branch(hard_refresh_every=1), _branch(hard_refresh_every=0)
    cached = a.miner.mine(ph[anchors], ph, anchors, None, pool_key="items")
    fresh = b.miner.mine(ph[anchors], ph, anchors, None, pool_key="items")
    assert torch.equal(cached, fresh)


def test_all_negatives_is_infonce_over_the_whole_pool_by_loops():
    """ssl.negatives=all: each anchor against its positive and every other pool row (the pool row
    of the anchor itself is the positive's slot, not a negative). Recomputed with float64 loops."""
    torch.manual_seed(0)
    br = SSLBranch(SSLConfig(negatives="all", temperature=0.3), 4)
    pool = torch.randn(9, 4)
    ids = torch.tensor([2, 7, 2, 0])
    q, k = torch.randn(4, 4), pool[ids]
    got = br(q, k, pool=pool, anchor_ids=ids)
    k_off = k + 0.1 * torch.randn(4, 4)  # a positive that is not its pool row: written into the slot
    got_off = br(q, k_off, pool=pool, anchor_ids=ids)
    cos = lambda a, b: float(a.double() @ b.double() / (a.double().norm() * b.double().norm()))  # noqa: E731
    for keys, value in ((k, got), (k_off, got_off)):
        ref = 0.0
        for i in range(4):
            pos = math.exp(cos(q[i], keys[i]) / 0.3)
            den = pos + sum(math.exp(cos(q[i], pool[j]) / 0.3) for j in range(9) if j != int(ids[i]))
            ref += -math.log(pos / den) / 4
        assert abs(float(value) - ref) < 1e-5
    # without a pool it is the in-batch loss
    inb = SSLBranch(SSLConfig(negatives="in_batch", temperature=0.3), 4)
    assert torch.allclose(br(q, k), inb(q, k))


def _triplet_loop(q, k, pool, idx, skip, margin=1.0):
    """Mean over anchors of the mean hinge over the drawn negatives that are not skipped (float64)."""
    q, k, pool = q.double(), k.double(), pool.double()
    total = 0.0
    for i in range(q.shape[0]):
        d_ap = float(((q[i] - k[i]) ** 2).sum())
        hinges = [max(0.0, d_ap - float(((q[i] - pool[j]) ** 2).sum()) + margin)
                  for c, j in enumerate(idx[i].tolist()) if not skip(i, c, j)]
        total += sum(hinges) / len(hinges) if hinges else 0.0
    return total / q.shape[0]


def test_triplet_with_sampled_negatives_skips_own_and_false_negative_rows():
    """ssl.loss=triplet with drawn negatives: the anchor's own row (its positive) and in-batch false
    negatives (positive_mask) are not negatives, exactly as for InfoNCE (issue 13)."""
    torch.manual_seed(0)
    br = SSLBranch(SSLConfig(loss="triplet", negatives="uniform", n_negatives=8, margin=1.0), 4)
    q, k = torch.randn(5, 4), torch.randn(5, 4)
    same = torch.zeros(5, 5, dtype=torch.bool)
    same[0, 3] = same[3, 0] = True
    br.reseed(3)
    got = br(q, k)
    got_masked = br(q, k, positive_mask=same)
    br.reseed(3)
    idx = br.miner.mine(q, k, torch.arange(5), None)
    idx2 = br.miner.mine(q, k, torch.arange(5), None)
    assert int((idx == torch.arange(5).unsqueeze(1)).sum()) > 0  # the case: own rows were drawn
    assert abs(float(got) - _triplet_loop(q, k, k, idx, lambda i, c, j: j == i)) < 1e-5
    assert bool(same.gather(1, idx2).any())
    ref = _triplet_loop(q, k, k, idx2, lambda i, c, j: j == i or bool(same[i, j]))
    assert abs(float(got_masked) - ref) < 1e-5


def test_triplet_with_a_pool_skips_the_anchor_pool_row():
    torch.manual_seed(1)
    br = SSLBranch(SSLConfig(loss="triplet", negatives="uniform", n_negatives=10, margin=0.5), 3)
    pool = torch.randn(4, 3)
    ids = torch.tensor([1, 3, 1])
    q, k = torch.randn(3, 3), pool[ids]
    br.reseed(7)
    got = br(q, k, pool=pool, anchor_ids=ids)
    br.reseed(7)
    idx = br.miner.mine(q, pool, ids, None)
    assert bool((idx == ids.unsqueeze(1)).any())
    ref = _triplet_loop(q, k, pool, idx, lambda i, c, j: j == int(ids[i]), margin=0.5)
    assert abs(float(got) - ref) < 1e-5


def test_all_negatives_with_pos_clamp_by_loops():
    """ssl.pos_clamp with ssl.negatives=all (the fused whole-pool path): -clamp(pos) + log(den), dot
    products large enough that some positives pass the clamp."""
    torch.manual_seed(0)
    c, t = 1.5, 0.3
    br = SSLBranch(SSLConfig(negatives="all", temperature=t, similarity="dot", pos_clamp=c), 4)
    pool = torch.randn(9, 4)
    ids = torch.tensor([2, 7, 2, 0])
    q = pool[ids] * 1.5 + 0.1 * torch.randn(4, 4)
    got = br(q, pool[ids], pool=pool, anchor_ids=ids)
    ref, clamped = 0.0, 0
    for i in range(4):
        pos = float(q[i].double() @ pool[ids[i]].double()) / t
        den = sum(math.exp(float(q[i].double() @ pool[j].double()) / t) for j in range(9))
        ref += (math.log(den) - min(max(pos, -c), c)) / 4
        clamped += pos > c
    assert clamped and abs(float(got) - ref) < 1e-4
