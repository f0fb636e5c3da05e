import json

from contrastrec.cli import main

from tests.serving.runs import trained_run


def test_markdown_and_html_reports(tmp_path):
    runs = [str(trained_run("lightgcn")), str(trained_run("sasrec"))]
    out = tmp_path / "rep" / "report.md"
    assert main(["report", *runs, "--output", str(out)]) == 0
    text = out.read_text()
    table = [line for line in text.splitlines() if line.startswith("|")]
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
