"""Runnable documentation: the Python blocks of docs/compose.md are executed as written."""
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_compose_example_runs(tmp_path, monkeypatch, capsys):
    text = (DOCS / "compose.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "docs/compose.md has no python block"
    code = "\n".join(blocks)
    assert len([l for l in code.splitlines() if l.strip()]) <= 45  # "a new method in ~40 lines"
    monkeypatch.chdir(tmp_path)
    module = type(sys)("compose_example")
    sys.modules["compose_example"] = module
    try:
        exec(compile(code, str(DOCS / "compose.md"), "exec"), module.__dict__)
    finally:
        sys.modules.pop("compose_example", None)
        from contrastrec.config import MODELS, MODEL_DESCRIPTIONS

        MODELS.pop("dropnoise", None)
        MODEL_DESCRIPTIONS.pop("dropnoise", None)
    res = module.results
    assert 0.0 <= res["test"]["ndcg@20"] <= 1.0
    assert (tmp_path / "runs/compose-example/results.json").exists()
    assert res["config"]["ssl"]["loss"] == "debiased"
