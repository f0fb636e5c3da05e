import json

import numpy as np
import pytest
from scipy import stats

from contrastrec.cli import main

from tests.serving.runs import trained_run


def test_markdown_and_html_reports(tmp_path):
    runs = [str(trained_run("lightgcn")), str(trained_run("sasrec"))]
    out = tmp_path / "rep" / "report.md"
    assert main(["report", *runs, "--output", str(out)]) == 0
    text = out.read_text()
    table = [line for line in text.split("\n\n")[1].splitlines() if line.startswith("|")]  # the first table
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert {"model", "dataset", "test ndcg@10", "test recall@5", "best epoch", "epochs", "s/epoch", "train s",
            "peak MB", "alignment", "uniformity"} <= set(header)
    assert len(table) == 4 and "lightgcn" in table[2] and "sasrec" in table[3]
    res = json.loads((trained_run("sasrec") / "results.json").read_text())
    assert f"{res['test']['ndcg@10']:.4f}" in table[3]
    links = [line[line.index("](") + 2:-1] for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 3  # two curve figures + one embedding figure, beside the report
    for link in links:
        assert "/" not in link and (out.parent / link).read_bytes()[:4] == b"\x89PNG"

    html = tmp_path / "report.html"
    assert main(["report", *runs, "--output", str(html), "--metrics", "recall@10", "hit@5"]) == 0
    text = html.read_text()
    assert text.startswith("<!doctype html>") and text.count("data:image/png;base64,") == 3
    assert "<th>test recall@10</th>" in text and "<th>test hit@5</th>" in text and "test ndcg@10" not in text


def _copy(model, tmp_path):
    import shutil

    return shutil.copytree(trained_run(model), tmp_path / f"run-{model}")


def test_report_never_writes_over_a_run_file_and_replaces_a_report_only_on_request(tmp_path, capsys):
    run = _copy("lightgcn", tmp_path)
    before = (run / "results.json").read_bytes()
    assert main(["report", str(run), "--output", str(run / "results.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "results.json" in err and len(err.splitlines()) == 1
    assert (run / "results.json").read_bytes() == before
    out = tmp_path / "report.md"
    out.write_text("my notes")
    assert main(["report", str(run), "--output", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "my notes"
    assert main(["report", str(run), "--output", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("# contrastrec report")


def test_report_refuses_metrics_that_no_run_has(capsys, tmp_path):
    run = str(trained_run("lightgcn"))
    assert main(["report", run, "--output", str(tmp_path / "r.md"), "--metrics", "recall@10", "ndgc@10"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'ndgc@10'" in err and "ndcg@10" in err and "recall@5" in err
    assert not (tmp_path / "r.md").exists()


def test_report_shows_the_model_of_the_checkpoint(tmp_path, capsys):
    run = _copy("lightgcn", tmp_path)
    res = json.loads((run / "results.json").read_text())
    (run / "results.json").write_text(json.dumps({**res, "model": "sasrec"}))  # edited, or mixed with another run
    out = tmp_path / "r.md"
    assert main(["report", str(run), "--output", str(out)]) == 0
    row = [line for line in out.read_text().splitlines() if line.startswith("|")][2]
    assert "lightgcn" in row and "sasrec" not in row
    assert "sasrec" in capsys.readouterr().err  # the disagreement is noted


# --- groups, seeds and the paired comparison (issue 24 §1, §3, §4) ---------------------------------

def _sections(text):
    """``{heading: [[cell, ...] per table line]}`` of a Markdown report (separator lines dropped),
    and its paragraphs under ``"notes"``."""
    out, cur = {"notes": []}, None
    for line in text.splitlines():
        if line.startswith("#"):
            cur = line.lstrip("# ")
            out[cur] = []
        elif line.startswith("|") and not line.startswith("|---"):
            out[cur].append([c.strip() for c in line.strip().strip("|").split("|")])
        elif line.strip() and not line.startswith("!["):
            out["notes"].append(line)
    return out


def _table(sections, start):
    """The table under the heading that starts with ``start``: ``{run: {column: cell}}``."""
    (rows,) = [v for k, v in sections.items() if k.startswith(start)]
    return {r[0]: dict(zip(rows[0][1:], r[1:])) for r in rows[1:]}


def _res(run):
    return json.loads((run / "results.json").read_text())


def test_report_group_tables_equal_results_json(tmp_path):
    from contrastrec.report import _cell

    runs = [trained_run("mf"), trained_run("lightgcn")]
    out = tmp_path / "r.md"
    assert main(["report", *map(str, runs), "--output", str(out)]) == 0
    s = _sections(out.read_text())
    items, users, beyond = (_table(s, h) for h in ("item-popularity groups", "user-activity groups", "beyond accuracy"))
    for run in runs:
        g = _res(run)["groups"]["test"]
        name = run.name
        assert set(items[name]) == {f"{m} {lab}" for m in ("recall@10", "ndcg@10") for lab in ("head", "mid", "tail")}
        for lab in ("head", "mid", "tail"):
            assert items[name][f"ndcg@10 {lab}"] == _cell(g["item_groups"][lab]["ndcg@10"])
            assert items[name][f"recall@10 {lab}"] == _cell(g["item_groups"][lab]["recall@10"])
        for lab in ("sparse", "mid", "active"):
            assert users[name][f"recall@10 {lab}"] == _cell(g["user_groups"][lab]["recall@10"])
        for k in ("coverage@5", "arp@5", "gini@10", "arp@10"):
            assert beyond[name][k] == _cell(g[k])
    html = tmp_path / "h.html"
    assert main(["report", *map(str, runs), "--output", str(html), "--metrics", "hit@5"]) == 0
    text = html.read_text()
    g = _res(runs[1])["groups"]["test"]
    assert "<th>hit@5 tail</th>" in text and f"<td>{_cell(g['item_groups']['tail']['hit@5'])}</td>" in text
    assert f"<td>{_cell(g['gini@5'])}</td>" in text and "paired comparison" in text


def test_report_comparison_matches_compare_runs(tmp_path):
    from contrastrec.compare import compare_runs, format_table

    a, b = str(trained_run("mf")), str(trained_run("lightgcn"))
    out = tmp_path / "r.md"
    assert main(["report", a, b, "--output", str(out)]) == 0
    text = out.read_text()
    rows = compare_runs([a, b], metrics=["recall@10", "ndcg@10"])
    expected = format_table(rows).splitlines()
    start = text.index(expected[0])
    assert text[start:].splitlines()[:len(expected)] == expected
    assert "Holm" in text and "contrastrec compare" in text
    other = tmp_path / "o.md"  # sasrec ran on other data: no pairing, one line says why
    assert main(["report", a, str(trained_run("sasrec")), "--output", str(other)]) == 0
    notes = [n for n in _sections(other.read_text())["notes"] if "paired comparison" in n]
    assert len(notes) == 1 and "another split" in notes[0]
    assert "p (Wilcoxon)" not in other.read_text()
    mixed = tmp_path / "m.md"  # the runs that share the first's split are paired, the others named
    assert main(["report", a, b, str(trained_run("sasrec")), "--output", str(mixed)]) == 0
    text = mixed.read_text()
    assert text[text.index(expected[0]):].splitlines()[:len(expected)] == expected
    assert "run-sasrec | " not in text[text.index(expected[0]):]
    (note,) = [n for n in text.splitlines() if n.startswith("Not paired")]
    assert "run-sasrec" in note and "another split" in note


def test_report_of_an_old_run_without_groups(tmp_path, capsys):
    old = _copy("lightgcn", tmp_path)
    res = _res(old)
    del res["groups"]
    (old / "results.json").write_text(json.dumps(res))
    for f in old.glob("per_user_*.parquet"):
        f.unlink()
    out = tmp_path / "r.md"
    assert main(["report", str(trained_run("mf")), str(old), "--output", str(out)]) == 0
    s = _sections(out.read_text())
    items = _table(s, "item-popularity groups")
    assert set(items[old.name].values()) == {"–"} and "–" not in items["run-mf"].values()
    assert set(_table(s, "beyond accuracy")[old.name].values()) == {"–"}
    assert any(old.name in n and "no group metrics" in n for n in s["notes"])
    (note,) = [n for n in s["notes"] if "paired comparison" in n]
    assert "per_user_test.parquet" in note and "not found" in note
    main_row = [line for line in out.read_text().splitlines() if line.startswith(f"| {old.name} ")][0]
    assert f"{res['test']['ndcg@10']:.4f}" in main_row


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    from tests.serving.runs import data_file

    out = tmp_path_factory.mktemp("rep-seeds") / "mf-seeds"
    assert main(["train", "--model", "mf", "--dataset", str(data_file(False)), "--output", str(out), "--seeds", "2",
                 "--quiet", "--device", "cpu", "--set",
                 "epochs=2 embedding_dim=16 batch_size=64 ks=[5,10] metric=ndcg@10 seed=1"]) == 0
    return out


def test_report_reads_a_seeds_folder(seeds_run, tmp_path, capsys):
    from contrastrec.compare import compare_runs, format_table
    from contrastrec.report import _cell

    base = str(trained_run("lightgcn"))
    out = tmp_path / "r.md"
    assert main(["report", base, str(seeds_run), "--output", str(out)]) == 0
    text = out.read_text()
    s = _sections(text)
    row = _table(s, "contrastrec report")[seeds_run.name]
    seeds = [_res(seeds_run / f"seed-{k}") for k in (1, 2)]
    v = np.array([r["test"]["ndcg@10"] for r in seeds])
    lo, hi = stats.t.interval(0.95, 1, loc=v.mean(), scale=v.std(ddof=1) / np.sqrt(2))
    assert row["test ndcg@10"] == f"{v.mean():.4f} ± {v.std(ddof=1):.4f} [{lo:.4f}, {hi:.4f}]"
    assert row["seeds"] == "2" and row["model"] == "mf"
    assert _table(s, "contrastrec report")["run-lightgcn"]["seeds"] == ""
    items = _table(s, "item-popularity groups")[seeds_run.name]
    tail = np.mean([r["groups"]["test"]["item_groups"]["tail"]["ndcg@10"] for r in seeds])
    assert items["ndcg@10 tail"] == _cell(float(tail))
    summary = json.loads((seeds_run / "seeds.json").read_text())["summary"]
    assert items["recall@10 head"] == _cell(summary["test_groups"]["item_groups"]["head"]["recall@10"]["mean"])
    cov = np.mean([r["groups"]["test"]["coverage@10"] for r in seeds])
    assert _table(s, "beyond accuracy")[seeds_run.name]["coverage@10"] == _cell(float(cov))
    rows = compare_runs([base, str(seeds_run)], metrics=["recall@10", "ndcg@10"])
    expected = format_table(rows).splitlines()
    assert text[text.index(expected[0]):].splitlines()[:len(expected)] == expected
    # the seeds' means of the report are those `compare` pairs (per-user means over the seeds)
    by = {(r.metric, r.group): r for r in rows}
    assert f"{by['ndcg@10', 'all'].mean_b:.4f}" == row["test ndcg@10"].split(" ")[0]
    assert _cell(by["ndcg@10", "items:tail"].mean_b) == items["ndcg@10 tail"]
    users = _table(s, "user-activity groups")[seeds_run.name]
    assert _cell(by["recall@10", "users:sparse"].mean_b) == users["recall@10 sparse"]
    # and the command the report names prints the same table
    cmd = text.split("`contrastrec compare ")[1].split("`")[0].split()
    capsys.readouterr()
    assert main(["compare", *cmd]) == 0
    assert capsys.readouterr().out.splitlines()[:len(expected)] == expected
    assert any(seeds_run.name in n and "seeds" in n for n in s["notes"])


def test_report_refuses_a_seeds_folder_whose_seeds_have_not_finished(seeds_run, tmp_path, capsys):
    import shutil

    copy = shutil.copytree(seeds_run, tmp_path / "s")
    plan = json.loads((copy / "seeds.json").read_text())
    del plan["summary"]  # as written before the first seed finished
    (copy / "seeds.json").write_text(json.dumps(plan))
    assert main(["report", str(copy), "--output", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "seeds.json" in err and "--resume" in err
    assert not (tmp_path / "r.md").exists()
