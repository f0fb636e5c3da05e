"""`contrastrec demo`: rows by family (base first), the vs-base column, the paired tests, the closing
line, the stop reasons and the formatting of the table."""
from __future__ import annotations

import re

import pytest

from contrastrec.compare import Row
from contrastrec.demo import (METRIC, attach_base_comparison, budget_line, closing_line, data_shape, format_demo_table,
                              group_families, run_demo)
from contrastrec.table import format_table, seconds

T = f"test {METRIC}"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """A quick demo run, its models given out of family order (the contrastive one before its base)."""
    lines: list[str] = []
    root = tmp_path_factory.mktemp("demo")
    rows = run_demo(output=str(root), quick=True, models=["cl4srec", "pop", "directau", "sasrec", "mf"],
                    print_fn=lines.append)
    return rows, lines


def test_rows_are_grouped_by_family_with_the_base_first(quick):
    rows, _ = quick
    assert [(r["family"], r["model"], r["role"]) for r in rows] == [
        ("floor", "pop", "floor"), ("seq:sasrec", "sasrec", "base"), ("seq:sasrec", "cl4srec", "contrastive"),
        ("graph:mf", "mf", "base"), ("graph:mf", "directau", "contrastive")]


def test_vs_base_is_the_relative_difference_of_the_rows_values(quick):
    rows, lines = quick
    by = {r["model"]: r for r in rows}
    for model, base in (("cl4srec", "sasrec"), ("directau", "mf")):
        r, b = by[model], by[base]
        assert r["vs base"] == pytest.approx((r[T] - b[T]) / b[T])
        assert r["tail vs base"] == pytest.approx((r[f"tail {METRIC}"] - b[f"tail {METRIC}"]) / b[f"tail {METRIC}"])
        assert isinstance(r["significant"], bool)
        printed = next(l for l in "\n".join(lines).splitlines() if re.search(rf"\b{model}\b.*contrastive", l))
        assert f"{100 * r['vs base']:+.1f}%" + ("*" if r["significant"] else "") in printed.split()
    assert by["sasrec"]["vs base"] is None and by["pop"]["vs base"] is None


def test_the_closing_line_counts_the_significant_positive_rows(quick):
    rows, lines = quick
    cl = [r for r in rows if r["role"] == "contrastive"]
    wins = sum(r["significant"] and r["vs base"] > 0 for r in cl)
    assert lines[-3] == closing_line(rows)
    assert lines[-3].startswith(f"on this data, {wins} of {len(cl)} contrastive models beat their base significantly")


def _fake(model, family, role, value, tail=0.1, path=None):
    return {"family": family, "model": model, "role": role, T: value, "tail": "tail", f"tail {METRIC}": tail,
            "vs base": None, "tail vs base": None, "significant": None, "tail significant": None, "gains": [],
            "losses": [], "path": path or model, "stopped": "patience", "best epoch": 3, "epochs": 7,
            "seconds": 12.25, f"valid {METRIC}": value}


def _tests(run, rel_all, sig_all, rel_tail=0.0, sig_tail=False, rel_head=0.0, sig_head=False):
    def row(group, rel, sig):
        return Row(run, METRIC, group, 100, 0.1, 0.1 * (1 + rel), rel, None, None, 0.5, 0.01 if sig else 0.5,
                   significant=sig)
    return [row("all", rel_all, sig_all), row("items:head", rel_head, sig_head), row("items:tail", rel_tail, sig_tail)]


def test_the_closing_line_reads_the_paired_tests():
    rows = group_families([_fake("a", "graph:lightgcn", "contrastive", 0.22), _fake("lightgcn", "graph:lightgcn", "base", 0.2),
                           _fake("b", "graph:lightgcn", "contrastive", 0.18), _fake("c", "graph:lightgcn", "contrastive", 0.21),
                           _fake("pop", "floor", "floor", 0.05)])
    assert [r["model"] for r in rows] == ["pop", "lightgcn", "a", "b", "c"]
    calls = []

    def compare(paths):
        calls.append(paths)
        return (_tests("a", 0.1, True, 0.3, True) + _tests("b", -0.1, True, 0.0, False, -0.2, True)
                + _tests("c", 0.05, False, 0.2, True))

    attach_base_comparison(rows, compare)
    assert calls == [["lightgcn", "a", "b", "c"]]  # one Holm family per base, the base first
    by = {r["model"]: r for r in rows}
    assert by["a"]["vs base"] == pytest.approx(0.1) and by["b"]["vs base"] == pytest.approx(-0.1)
    assert by["a"]["gains"] == ["tail"] and by["b"]["losses"] == ["head"] and by["c"]["gains"] == ["tail"]
    assert closing_line(rows) == ("on this data, 1 of 3 contrastive models beat their base significantly "
                                  "(1 are significantly below it); the gains are on tail items (2 of 3)")
    for r in rows:
        r["gains"] = []
    assert closing_line(rows).endswith("the gains are on none of the item groups")


def test_cut_rows_are_marked_and_seconds_are_seconds():
    rows = [_fake("lightgcn", "graph:lightgcn", "base", 0.2), _fake("a", "graph:lightgcn", "contrastive", 0.2),
            _fake("b", "graph:lightgcn", "contrastive", 0.2)]
    rows[1]["stopped"], rows[2]["stopped"] = "max_train_seconds", "epochs"
    text = format_demo_table(rows).splitlines()
    assert "early stop" in text[2] and "CUT: time" in text[3] and "CUT: epochs" in text[4]
    assert budget_line(rows) == ("2 of 3 trained models were cut by their budget (CUT), so they are compared at "
                                 "an equal budget, not at convergence")
    assert budget_line(rows[:1]) == "all 1 trained models reached early stopping"
    assert all(l.rstrip().endswith("12.2 s") for l in text[2:]) and "12.2500" not in "\n".join(text)
    assert seconds(10.2) == "10.2 s" and seconds(None) == ""
    assert format_table([{"a": 1.5, "b": None}], ["a", "b"]).splitlines() == ["a       b", "------  -", "1.5000"]


def test_the_quick_demo_marks_its_epoch_cap(quick):
    rows, lines = quick
    trained = [r for r in rows if r["role"] != "floor"]
    assert all(r["stopped"] in ("patience", "epochs") for r in trained)
    table = "\n".join(lines)
    for r in trained:
        line = next(l for l in table.splitlines() if re.search(rf"^\S+\s+{r['model']}\s", l))
        assert ("CUT: epochs" in line) == (r["stopped"] == "epochs") and re.search(r"\d+\.\d s$", line)
    assert "Popularity is the floor" in table


def test_data_shape_of_the_demo_data():
    from contrastrec.data import make_synthetic
    from contrastrec.demo import DATA

    s = data_shape(make_synthetic(**DATA))
    assert s["items"] >= 1000 and 5 <= s["median_per_user"] <= 10 and s["density"] < 0.005


def test_a_model_that_fails_is_told_and_left_out(tmp_path, monkeypatch):
    """A TrainingError of one model (e.g. a budget that ends before its first validation) does not
    throw away the others' runs: it is printed and the table goes on without it."""
    from contrastrec.training import loop

    real = loop.fit

    def fit(cfg, *a, **k):
        if cfg.model == "mf":
            raise loop.TrainingError("no validation was run")
        return real(cfg, *a, **k)

    monkeypatch.setattr(loop, "fit", fit)
    lines: list[str] = []
    rows = run_demo(output=str(tmp_path), quick=True, models=["mf", "pop"], print_fn=lines.append)
    assert [r["model"] for r in rows] == ["pop"]
    assert "  mf: failed, left out of the table: no validation was run" in lines


def test_the_demo_is_decided_by_epochs_not_by_the_clock(tmp_path, monkeypatch):
    """A demo model trained twice with its demo setting ends alike (the same epochs, the same test
    metrics, by early stopping) even when the second run is on a machine on which it takes 15 s
    (a clock that runs fast): the epoch cap and the patience decide, the time budget is a safety net
    that a normal run does not reach, so the demo's table does not change with the machine or its load."""
    import time
    from types import SimpleNamespace

    from contrastrec.data import make_synthetic
    from contrastrec.demo import QUICK_DATA, demo_config
    from contrastrec.training import loop

    ds = make_synthetic(**QUICK_DATA)
    for name in ("mf", "sasrec"):
        t0 = time.time()
        first = loop.fit(demo_config(name), ds, tmp_path / name, progress=False, log=lambda s: None)
        factor, start = 15.0 / (time.time() - t0), time.time()
        with monkeypatch.context() as m:
            m.setattr(loop, "time", SimpleNamespace(time=lambda: start + factor * (time.time() - start)))
            slow = loop.fit(demo_config(name), ds, tmp_path / f"{name}-slow", progress=False, log=lambda s: None)
        assert first["stopped"] == slow["stopped"] == "patience", name
        assert (slow["epochs"], slow["best_epoch"], slow["test"]) == (first["epochs"], first["best_epoch"], first["test"])
