"""MixGCF's synthetic negatives (samplers/mixgcf.py) against a hand computation and a plain loop
that mixes every candidate (as the authors' code does) before choosing."""
import pytest
import torch

from contrastrec.samplers import mix_negatives, mix_negatives_rows
from contrastrec.samplers.mixgcf import pool_layers


def loop_reference(user, pos, cand, alpha, pool):
    """Per pair and layer: mix every candidate with the positive, score each mixture against the
    query (the pooled user, or the user's layer for a 3-D query), keep the best; pool the kept layers."""
    b_n, m_n, l_n, _ = cand.shape
    embs, chosen, index = [], [], []
    for b in range(b_n):
        layers, idx = [], []
        for l in range(l_n):
            q = user[b] if user.dim() == 2 else user[b, l]
            mixed = [alpha[b, l] * pos[b, l] + (1 - alpha[b, l]) * cand[b, m, l] for m in range(m_n)]
            scores = [float(q @ e) for e in mixed]
            best = max(range(m_n), key=lambda m: (scores[m], -m))  # the first of equal maxima
            layers.append(mixed[best])
            idx.append(best)
        layers = torch.stack(layers)
        embs.append({"mean": layers.mean(0), "sum": layers.sum(0), "final": layers[-1],
                     "concat": layers.reshape(-1)}[pool])
        chosen.append(layers)
        index.append(idx)
    return torch.stack(embs), torch.stack(chosen), torch.tensor(index)


def test_hand_computed_example():
    user = torch.tensor([[1.0, 0.0]])
    pos = torch.tensor([[[1.0, 1.0], [2.0, 0.0]]])  # [B=1, L+1=2, D=2]
    cand = torch.tensor([[[[0.0, 1.0], [0.0, 0.0]],  # candidate 0 at layers 0, 1
                          [[3.0, 0.0], [-1.0, 0.0]]]])  # candidate 1
    alpha = torch.tensor([[0.5, 0.25]])
    out = mix_negatives(user, pos, cand, alpha=alpha)
    # layer 0: mixtures [0.5, 1] (score 0.5) and [2, 0.5] (score 2) -> candidate 1
    # layer 1: mixtures [0.5, 0] (score 0.5) and [-0.25, 0] (score -0.25) -> candidate 0
    assert out.index.tolist() == [[1, 0]]
    assert torch.allclose(out.layers, torch.tensor([[[2.0, 0.5], [0.5, 0.0]]]))
    assert torch.allclose(out.emb, torch.tensor([[1.25, 0.25]]))
    assert torch.equal(out.alpha, alpha)


@pytest.mark.parametrize("pool", ["mean", "sum", "final", "concat"])
@pytest.mark.parametrize("layerwise_query", [False, True])
def test_matches_the_loop_that_mixes_every_candidate(pool, layerwise_query):
    g = torch.Generator().manual_seed(3)
    b, m, l, d = 5, 7, 3, 4
    pos, cand = torch.randn(b, l, d, generator=g), torch.randn(b, m, l, d, generator=g)
    user = torch.randn(b, l, d, generator=g) if layerwise_query else torch.randn(b, d, generator=g)
    alpha = torch.rand(b, l, generator=g)
    out = mix_negatives(user, pos, cand, alpha=alpha, pool=pool)
    emb, layers, index = loop_reference(user, pos, cand, alpha, pool)
    assert torch.equal(out.index, index)
    assert torch.allclose(out.layers, layers, atol=1e-6) and torch.allclose(out.emb, emb, atol=1e-6)
    assert out.emb.shape == ((b, l * d) if pool == "concat" else (b, d))
    assert torch.allclose(pool_layers(out.layers, pool), out.emb)


def test_alpha_is_drawn_per_pair_and_layer_from_the_generator():
    g = torch.Generator().manual_seed(0)
    b, m, l, d = 4, 6, 3, 5
    user, pos, cand = torch.randn(b, d, generator=g), torch.randn(b, l, d, generator=g), torch.randn(b, m, l, d, generator=g)
    out = mix_negatives(user, pos, cand, generator=torch.Generator().manual_seed(11))
    expected = torch.rand((b, l), generator=torch.Generator().manual_seed(11))
    assert torch.equal(out.alpha, expected) and ((0 <= expected) & (expected < 1)).all()
    again = mix_negatives(user, pos, cand, alpha=expected)
    assert torch.equal(again.emb, out.emb) and torch.equal(again.index, out.index)
    other = mix_negatives(user, pos, cand, generator=torch.Generator().manual_seed(12))
    assert not torch.equal(other.alpha, out.alpha) and not torch.allclose(other.emb, out.emb)
    # one generator, two calls: the draws continue (the model keeps one generator per epoch)
    gen = torch.Generator().manual_seed(11)
    first, second = (mix_negatives(user, pos, cand, generator=gen).alpha for _ in range(2))
    ref = torch.Generator().manual_seed(11)
    assert torch.equal(first, torch.rand((b, l), generator=ref)) and torch.equal(second, torch.rand((b, l), generator=ref))


def test_gradients_reach_the_positive_and_the_chosen_candidates_only():
    g = torch.Generator().manual_seed(5)
    b, m, l, d = 3, 5, 3, 4
    user = torch.randn(b, d, generator=g).requires_grad_()
    pos = torch.randn(b, l, d, generator=g).requires_grad_()
    cand = torch.randn(b, m, l, d, generator=g).requires_grad_()
    alpha = torch.rand(b, l, generator=g)
    w = torch.randn(b, d, generator=g)
    out = mix_negatives(user, pos, cand, alpha=alpha)
    (out.emb * w).sum().backward()
    assert user.grad is None  # the choice is an argmax: no gradient through the query
    chosen = torch.zeros(b, m, l, dtype=torch.bool)
    chosen[torch.arange(b)[:, None], out.index, torch.arange(l)[None, :]] = True
    assert (cand.grad[~chosen] == 0).all()
    # by hand: d emb / d cand[b, m_l, l] = (1 - α_l) / (L+1) · w_b ; d emb / d pos[b, l] = α_l / (L+1) · w_b
    exp_cand = ((1 - alpha)[:, :, None] * w[:, None, :] / l)
    got = cand.grad[torch.arange(b)[:, None], out.index, torch.arange(l)[None, :]]  # [B, L+1, D]
    assert torch.allclose(got, exp_cand, atol=1e-6)
    assert torch.allclose(pos.grad, alpha[:, :, None] * w[:, None, :] / l, atol=1e-6)


@pytest.mark.parametrize("layerwise_query", [False, True])
def test_rows_of_layer_tables_equal_the_dense_candidates_values_draws_and_gradients(layerwise_query):
    g = torch.Generator().manual_seed(7)
    n, b, m, l, d = 30, 6, 9, 3, 4
    tables = [torch.randn(n, d, generator=g).requires_grad_() for _ in range(l)]
    rows = torch.randint(0, n, (b, m), generator=g)
    rows[0, 3] = rows[0, 1]  # a candidate drawn twice (uniform draws repeat): the first is kept
    pos = torch.randn(b, l, d, generator=g).requires_grad_()
    user = torch.randn(b, l, d, generator=g) if layerwise_query else torch.randn(b, d, generator=g)
    w = torch.randn(b, d, generator=g)
    outs, grads = [], []
    for rows_form in (True, False):
        for t in tables + [pos]:
            t.grad = None
        gen = torch.Generator().manual_seed(1)
        if rows_form:
            out = mix_negatives_rows(user, pos, tables, rows, generator=gen)
        else:
            out = mix_negatives(user, pos, torch.stack([t[rows] for t in tables], -2), generator=gen)
        (out.emb * w).sum().backward()
        outs.append(out)
        grads.append([t.grad.clone() for t in tables + [pos]])
    (a, b_), (ga, gb) = outs, grads
    assert torch.equal(a.index, b_.index) and torch.equal(a.alpha, b_.alpha)
    assert torch.allclose(a.emb, b_.emb, atol=1e-6) and torch.allclose(a.layers, b_.layers, atol=1e-6)
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, atol=1e-6)
    with pytest.raises(ValueError, match="cand_rows must be"):
        mix_negatives_rows(user, pos, tables, rows[0])
    with pytest.raises(ValueError, match="does not match"):
        mix_negatives_rows(user, pos, tables[:2], rows)


def test_bad_inputs_are_refused():
    pos, cand = torch.zeros(2, 3, 4), torch.zeros(2, 5, 3, 4)
    with pytest.raises(ValueError, match="user must be"):
        mix_negatives(torch.zeros(2, 5), pos, cand)
    with pytest.raises(ValueError, match="does not match"):
        mix_negatives(torch.zeros(2, 4), torch.zeros(2, 2, 4), cand)
    with pytest.raises(ValueError, match="alpha must be"):
        mix_negatives(torch.zeros(2, 4), pos, cand, alpha=torch.zeros(2))
    with pytest.raises(ValueError, match="unknown pool"):
        mix_negatives(torch.zeros(2, 4), pos, cand, pool="max")
