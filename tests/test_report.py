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
