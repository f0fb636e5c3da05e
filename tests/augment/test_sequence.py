import math
import time

import numpy as np
import pytest
import torch

from contrastrec.augment import (
    CL4SRecAugment, CoSeRecAugment, Crop, Insert, ItemCorrelation, Mask, Reorder, Substitute,
    crop, insert, mask, reorder, substitute,
)
from contrastrec.data.dataset import Split

from ._helpers import N_ITEMS, SEQ_ITEMS, disjoint_table, is_left_padded, make_batch, real

MASK = N_ITEMS + 1


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def is_contiguous_sub(sub, full):
    m = len(sub)
    return any(full[s:s + m] == sub for s in range(len(full) - m + 1))


def is_subsequence(sub, full):
    it = iter(full)
    return all(x in it for x in sub)


# --------------------------------------------------------------------------- crop
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_crop_contiguous_length_padding(ratio):
    x = make_batch(128, 20, seed=1)
    out = crop(x, ratio, generator=gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    for r in range(x.shape[0]):
        orig, got = real(x[r]), real(out[r])
        n = len(orig)
        assert is_left_padded(out[r])
        assert len(got) == (max(1, int(ratio * n)) if n else 0)
        assert is_contiguous_sub(got, orig)


def test_crop_start_uniform_includes_last_window():
    x = torch.zeros(1, 12, dtype=torch.long)
    x[0, 2:] = torch.arange(1, 11)  # n = 10
    g = gen(3)
    starts = {real(crop(x, 0.2, generator=g)[0])[0] for _ in range(400)}
    assert starts == set(range(1, 10))  # c = 2: all 9 windows, including the last one


# --------------------------------------------------------------------------- mask
@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.7, 1.0])
def test_mask_exact_count_keeps_others(ratio):
    x = make_batch(128, 20, seed=2)
    out = mask(x, ratio, MASK, generator=gen(2))
    for r in range(x.shape[0]):
        n = int((x[r] != 0).sum())
        masked = out[r] == MASK
        assert int(masked.sum()) == int(ratio * n)
        assert torch.equal(out[r][~masked], x[r][~masked])
        assert bool((x[r][masked] != 0).all())  # padding never masked
        assert is_left_padded(out[r])


def test_mask_count_uses_python_floor_semantics():
    x = torch.arange(1, 11).unsqueeze(0)  # n = 10
    out = mask(x, 0.7, MASK, generator=gen())
    assert int((out == MASK).sum()) == int(0.7 * 10) == 7


# --------------------------------------------------------------------------- reorder
@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5, 1.0])
def test_reorder_multiset_and_single_window(ratio):
    x = make_batch(128, 20, seed=3)
    out = reorder(x, ratio, generator=gen(3))
    changed_rows = 0
    for r in range(x.shape[0]):
        orig, got = real(x[r]), real(out[r])
        n = len(orig)
        assert is_left_padded(out[r]) and len(got) == n
        assert sorted(got) == sorted(orig)
        diff = [i for i in range(n) if got[i] != orig[i]]
        if diff:
            changed_rows += 1
            w = int(ratio * n)
            assert diff[-1] - diff[0] + 1 <= w
            lo = diff[0]
            # the changed positions are a permutation inside one window of length w
            window = [s for s in range(max(0, diff[-1] - w + 1), min(lo, n - w) + 1)]
            assert any(sorted(got[s:s + w]) == sorted(orig[s:s + w]) for s in window)
    if ratio >= 0.5:
        assert changed_rows > 64


# --------------------------------------------------------------------------- substitute
@pytest.mark.parametrize("k", [1, 3])
def test_substitute_correlated_only(k):
    table = disjoint_table(k)
    x = make_batch(128, 20, seed=4)
    out = substitute(x, 0.3, table, generator=gen(4))
    tab2 = table if table.dim() == 2 else table.unsqueeze(1)
    for r in range(x.shape[0]):
        n = int((x[r] != 0).sum())
        ch = out[r] != x[r]
        assert int(ch.sum()) == (max(1, int(0.3 * n)) if n else 0)
        for pos in torch.nonzero(ch).ravel().tolist():
            assert int(out[r, pos]) in tab2[int(x[r, pos])].tolist()
        assert is_left_padded(out[r])


def test_substitute_leaves_tokens_without_correlate():
    table = disjoint_table(1)
    x = torch.tensor([[0, MASK, MASK, MASK]])  # mask token is outside the table
    out = substitute(x, 1.0, table, generator=gen())
    assert torch.equal(out, x)


# --------------------------------------------------------------------------- insert
def _check_insert_row(orig, got, table, ratio, length):
    n = len(orig)
    k = max(1, int(ratio * n)) if n else 0
    kept_orig = [t for t in got if t <= SEQ_ITEMS]
    inserted = [(j, t) for j, t in enumerate(got) if t > SEQ_ITEMS]
    if n + k <= length:
        assert kept_orig == orig and len(inserted) == k and len(got) == n + k
    else:
        assert len(got) == length
        assert kept_orig == orig[len(orig) - len(kept_orig):]  # most recent items kept, in order
    for j, t in inserted:  # each inserted item sits right before the item it is correlated with
        assert j + 1 < len(got)
        nxt = got[j + 1]
        assert nxt <= SEQ_ITEMS and t in table[nxt].tolist()


@pytest.mark.parametrize("ratio", [0.1, 0.4, 1.0])
def test_insert_correlated_before_and_order(ratio):
    table = disjoint_table(2)
    x = make_batch(128, 20, seed=5)
    out = insert(x, ratio, table, generator=gen(5))
    for r in range(x.shape[0]):
        assert is_left_padded(out[r])
        _check_insert_row(real(x[r]), real(out[r]), table, ratio, x.shape[1])


def test_insert_truncates_oldest():
    table = disjoint_table(1)
    x = torch.arange(1, 9).unsqueeze(0)  # full row, L = 8
    out = insert(x, 0.5, table, generator=gen())
    got = real(out[0])
    assert len(got) == 8 and got[-1] == 8
    assert sum(t > SEQ_ITEMS for t in got) >= 1
    _check_insert_row(list(range(1, 9)), got, table.unsqueeze(1), 0.5, 8)


# --------------------------------------------------------------------------- shared properties
def _all_ops(table):
    return {
        "crop": lambda s, g: crop(s, 0.5, g),
        "mask": lambda s, g: mask(s, 0.5, MASK, g),
        "reorder": lambda s, g: reorder(s, 0.5, g),
        "substitute": lambda s, g: substitute(s, 0.5, table, g),
        "insert": lambda s, g: insert(s, 0.5, table, g),
        "cl4srec": CL4SRecAugment(MASK),
        "coserec": CoSeRecAugment(table, MASK, augment_threshold=5),
    }


@pytest.mark.parametrize("name", ["crop", "mask", "reorder", "substitute", "insert", "cl4srec", "coserec"])
def test_no_mutation_padding_repeatability(name):
    table = disjoint_table(2)
    op = _all_ops(table)[name]
    x = make_batch(96, 16, seed=6)
    x[0] = 0  # an empty row
    before = x.clone()
    a = op(x, gen(7)) if not hasattr(op, "views") else op(x, generator=gen(7))
    b = op(x, gen(7)) if not hasattr(op, "views") else op(x, generator=gen(7))
    assert torch.equal(x, before)  # never mutated
    assert a.data_ptr() != x.data_ptr()
    assert torch.equal(a, b)  # seeded repeatability
    assert a.shape == x.shape and a.dtype == x.dtype
    assert bool((a[0] == 0).all())  # empty stays empty
    for r in range(x.shape[0]):
        assert is_left_padded(a[r])
    # padding never becomes an item (insert may grow a row, everything else keeps or shrinks it)
    if name not in ("insert", "coserec"):
        assert bool(((a != 0).sum(1) <= (x != 0).sum(1)).all())
    c = op(x, gen(8)) if not hasattr(op, "views") else op(x, generator=gen(8))
    assert not torch.equal(a, c)


def test_functions_batch_rows_independent_of_batch_size_shape():
    x = make_batch(7, 5, seed=9)
    assert crop(x[:, :0].reshape(7, 0), 0.5).shape == (7, 0)
    with pytest.raises(ValueError):
        crop(x[0], 0.5)
    with pytest.raises(ValueError):
        mask(x.float(), 0.5, MASK)
    with pytest.raises(ValueError):
        reorder(x, 1.5)


def test_modules_wrap_functions_and_validate():
    x = make_batch(32, 10, seed=10)
    table = disjoint_table(1)
    assert torch.equal(Crop(0.3)(x, gen(1)), crop(x, 0.3, gen(1)))
    assert torch.equal(Mask(MASK, 0.3)(x, gen(1)), mask(x, 0.3, MASK, gen(1)))
    assert torch.equal(Reorder(0.3)(x, gen(1)), reorder(x, 0.3, gen(1)))
    assert torch.equal(Substitute(table, 0.3)(x, gen(1)), substitute(x, 0.3, table, gen(1)))
    assert torch.equal(Insert(table, 0.3)(x, gen(1)), insert(x, 0.3, table, gen(1)))
    for bad in (lambda: Crop(1.5), lambda: Crop(-0.1), lambda: Mask(0), lambda: Mask(5, ratio=2),
                lambda: Reorder("a"), lambda: Substitute(torch.zeros(3, 2)), lambda: Insert(table, -1),
                lambda: CL4SRecAugment(MASK, n_views=0), lambda: CoSeRecAugment(table, MASK, short_ops=("foo",)),
                lambda: CoSeRecAugment(table, MASK, augment_threshold=-1),
                lambda: CoSeRecAugment(table, MASK, long_ops=())):
        with pytest.raises(ValueError):
            bad()
    assert "ratio=0.3" in repr(Crop(0.3))


# --------------------------------------------------------------------------- presets
def test_cl4srec_rows_are_crop_mask_or_reorder():
    aug = CL4SRecAugment(MASK)
    assert (aug.transforms[0].ratio, aug.transforms[1].ratio, aug.transforms[2].ratio) == (0.2, 0.7, 0.2)
    x = make_batch(256, 20, seed=11, min_len=10)
    g = gen(11)
    choice = aug.sample_choice(x.shape[0], g, x.device)
    outs = [t(x, generator=g) for t in aug.transforms]
    expected = torch.stack(outs)[choice, torch.arange(x.shape[0])]
    got = aug(x, generator=gen(11))
    assert torch.equal(got, expected)
    counts = torch.bincount(choice, minlength=3)
    assert bool((counts > 50).all())  # all three operators are used
    views = aug.views(x, generator=gen(1))
    assert len(views) == 2 and not torch.equal(views[0], views[1])


def test_cl4srec_speed():
    aug = CL4SRecAugment(MASK)
    x = make_batch(256, 50, seed=12)
    g = gen(12)
    for _ in range(5):
        aug(x, generator=g)
    best = math.inf
    for _ in range(5):  # best of 5 rounds of 20 calls: robust to other jobs on shared cores
        t = time.perf_counter()
        for _ in range(20):
            aug(x, generator=g)
        best = min(best, (time.perf_counter() - t) / 20)
    assert best < 5e-3, f"CL4SRecAugment 256x50 took {best * 1e3:.2f} ms per call"


def test_coserec_short_sequence_rule():
    table = disjoint_table(1)
    aug = CoSeRecAugment(table, MASK, augment_threshold=5)
    x = make_batch(512, 12, seed=13, min_len=1)
    n = (x != 0).sum(1)
    ops = aug.sample_ops(x, gen(13))
    names = [aug.operators[i] for i in ops.tolist()]
    short = n <= 5  # the reference treats length == threshold as short
    assert int(short.sum()) > 50 and int((~short).sum()) > 50
    assert {nm for nm, s in zip(names, short.tolist()) if s} == {"insert", "substitute"}
    assert {nm for nm, s in zip(names, short.tolist()) if not s} == set(aug.operators)
    out = aug(x, generator=gen(13))
    for r in torch.nonzero(short).ravel().tolist():
        got, orig = real(out[r]), real(x[r])
        assert MASK not in got and len(got) >= len(orig)  # never masked or cropped
        assert any(t > SEQ_ITEMS for t in got)  # always at least one correlated item
    # output = per-row selection among the operator outputs, with the same random stream
    g = gen(13)
    op = aug.sample_ops(x, g)
    outs = torch.stack([aug.ops[name](x, generator=g) for name in aug.operators])
    assert torch.equal(out, outs[op, torch.arange(x.shape[0])])
    assert len(aug.views(x, generator=gen(1))) == 2


def test_coserec_threshold_none_uses_all_ops():
    aug = CoSeRecAugment(disjoint_table(1), MASK, augment_threshold=None)
    x = make_batch(400, 6, seed=14, min_len=1)
    ops = aug.sample_ops(x, gen(0))
    assert len(set(ops.tolist())) == 5


# --------------------------------------------------------------------------- item correlation
SEQS = [[0, 1, 2, 3], [1, 2, 5], [3, 4], [6, 1, 0, 2], [2, 3]]
N = 9  # items 7 and 8 never occur


def _bruteforce(seqs, n_items, window=None, iuf=True):
    c = np.zeros((n_items, n_items))
    freq = np.zeros(n_items)
    for s in seqs:
        d = set(s)
        for i in d:
            freq[i] += 1
        w = 1 / math.log(1 + len(d)) if iuf else 1.0
        if window is None:
            for i in d:
                for j in d:
                    if i != j:
                        c[i, j] += w
        else:
            for a in range(len(s)):
                for b in range(a + 1, min(len(s), a + window + 1)):
                    if s[a] != s[b]:
                        c[s[a], s[b]] += w
                        c[s[b], s[a]] += w
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(c / np.sqrt(np.outer(freq, freq))), freq


@pytest.mark.parametrize("window", [None, 1, 2])
def test_item_correlation_matches_bruteforce(window):
    corr = ItemCorrelation.from_sequences(SEQS, N, window=window, top_k=3)
    s, freq = _bruteforce(SEQS, N, window)
    tab = corr.table
    assert tab.shape == (N + 1, 3) and bool((tab[0] == 0).all())
    for i in range(N):
        row = [int(t) - 1 for t in tab[i + 1]]
        assert i not in row
        nnz = int((s[i] > 0).sum())
        if nnz == 0:  # fallback: popular other items
            popular = [j for j in np.argsort(-freq, kind="stable").tolist() if j != i]
            assert row == popular[:3]
            continue
        vals = [s[i, j] for j in row[: min(3, nnz)]]
        assert vals == sorted(vals, reverse=True)
        assert math.isclose(vals[0], s[i].max())
        assert sorted(vals, reverse=True) == sorted(np.sort(s[i])[::-1][: len(vals)].tolist(), reverse=True)


def test_item_correlation_input_forms_agree():
    split = Split(np.repeat(np.arange(len(SEQS)), [len(s) for s in SEQS]), np.concatenate(SEQS))
    a = ItemCorrelation.from_sequences(SEQS, N, window=2, top_k=2).table
    b = ItemCorrelation.from_sequences(split, N, window=2, top_k=2).table
    toks = torch.zeros(len(SEQS), 6, dtype=torch.long)
    for r, s in enumerate(SEQS):
        toks[r, 6 - len(s):] = torch.tensor(s) + 1
    c = ItemCorrelation.from_sequences(toks, N, window=2, top_k=2).table
    assert torch.equal(a, b) and torch.equal(a, c)
    with pytest.raises(ValueError):
        ItemCorrelation.from_sequences([[0, 99]], N)


def test_item_correlation_sparse_for_big_catalog():
    rng = np.random.default_rng(0)
    n_items = 300_000
    seqs = [rng.integers(0, n_items, size=20) for _ in range(500)]
    t = time.perf_counter()
    corr = ItemCorrelation.from_sequences(seqs, n_items, window=3, top_k=2)
    assert time.perf_counter() - t < 10
    assert corr.table.shape == (n_items + 1, 2)


def test_update_from_embeddings_and_hybrid():
    torch.manual_seed(0)
    emb = torch.randn(N, 8)
    corr = ItemCorrelation.from_sequences(SEQS, N, top_k=1)
    corr.update_from_embeddings(emb, chunk_size=4)
    assert corr.mode == "hybrid"
    e = torch.nn.functional.normalize(emb, dim=1)
    cos = e @ e.t()
    cos.fill_diagonal_(-2)
    assert torch.equal(corr.model_table[1:, 0], cos.argmax(1) + 1)
    # chunking does not change the result
    other = ItemCorrelation.from_sequences(SEQS, N, top_k=1).update_from_embeddings(emb)
    assert torch.equal(other.model_table, corr.model_table)
    # hybrid: items without co-occurrence (7, 8) use the embedding neighbour; the item with the
    # best normalized co-occurrence score keeps its memory neighbour
    hyb = corr.table
    assert torch.equal(hyb[8:], corr.model_table[8:])
    best = int(corr.memory_scores[1:, 0].argmax()) + 1
    assert hyb[best, 0] == corr.memory_table[best, 0]
    assert float(corr.memory_scores[best, 0]) == 1.0
    corr.mode = "model"
    assert torch.equal(corr.table, corr.model_table)
    corr.mode = "memory"
    assert torch.equal(corr.table, corr.memory_table)
    with pytest.raises(ValueError):
        corr.update_from_embeddings(torch.randn(N + 1, 8))
    with pytest.raises(ValueError):
        ItemCorrelation.from_sequences(SEQS, N).mode = "hybrid"  # needs embeddings first


def test_modules_follow_correlation_updates():
    corr = ItemCorrelation.from_sequences(SEQS, N, top_k=1)
    sub = Substitute(corr, ratio=1.0)
    x = torch.tensor([[0, 1, 2, 3]])
    out_mem = sub(x, gen())
    assert torch.equal(out_mem[0, 1:], corr.memory_table[x[0, 1:], 0])
    corr.update_from_embeddings(torch.randn(N, 4), mode="model")
    out_model = sub(x, gen())
    assert torch.equal(out_model[0, 1:], corr.model_table[x[0, 1:], 0])
