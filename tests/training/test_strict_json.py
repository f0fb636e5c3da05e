"""results.json and the other JSON files of a run are strict JSON (issue 23): NaN is refused."""
from __future__ import annotations

import json

import pytest

from contrastrec.training.checkpoint import WriteError, atomic_write_json


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_number_is_refused_naming_the_key_and_nothing_is_written(tmp_path, bad):
    p = tmp_path / "results.json"
    p.write_text('{"old": 1}\n')
    with pytest.raises(WriteError) as e:
        atomic_write_json(p, {"model": "mf", "test": {"recall@10": 0.1, "ndcg@10": bad}})
    assert str(e.value) == (f"{p}: not written: test.ndcg@10 is not a finite number (NaN or infinity are not JSON)")
    assert json.loads(p.read_text()) == {"old": 1}


def test_finite_values_are_written_as_before(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": [1, 2.5, None]})
    assert json.loads(p.read_text()) == {"a": [1, 2.5, None]}
