import json

import numpy as np
import pytest
import torch

from contrastrec.cli import main
from contrastrec.serving import BadRequest, Engine, UnknownId, load_run

from tests.serving.runs import trained_run


@pytest.fixture(scope="module")
def graph_engine():
    return Engine(load_run(trained_run("lightgcn")))


def _recommend(capsys, *argv):
    code = main(["recommend", *argv])
    return code, capsys.readouterr()


def test_user_recommendations_exclude_seen(graph_engine, capsys):
    run = graph_engine.run
    code, out = _recommend(capsys, "--run", str(run.path), "--user", "7", "-k", "5", "--json")
    assert code == 0
    got = json.loads(out.out)
    assert got["model"] == "lightgcn" and len(got["items"]) == 5
    u = run.dataset.user_map.to_index("7")
    seen = set(run.dataset.item_map.raws(graph_engine.seen(u)))
    assert seen and not seen & {i["id"] for i in got["items"]}
    # same ranking as the model's own scores with seen items masked
    scores = run.model.scorer(None)(torch.tensor([u]))[0].numpy()
    scores[graph_engine.seen(u)] = -np.inf
    top = run.dataset.item_map.raws(np.argsort(-scores, kind="stable")[:5])
    assert [i["id"] for i in got["items"]] == top
    np.testing.assert_allclose([i["score"] for i in got["items"]], np.sort(scores)[::-1][:5], rtol=1e-4)


def test_include_seen_and_table(graph_engine, capsys):
    path = str(graph_engine.run.path)
    n = graph_engine.n_items
    code, out = _recommend(capsys, "--run", path, "--user", "7", "-k", str(n), "--include-seen")
    assert code == 0 and out.out.splitlines()[0].split() == ["rank", "item", "score"]
    assert len(out.out.splitlines()) == 2 + n  # every item, seen ones included


def test_graph_history_is_mean_of_item_embeddings(graph_engine):
    items = graph_engine.recommend(history=["1", "2"], k=3)
    q = graph_engine.item_emb[graph_engine.item_indices(["1", "2"])].mean(0)
    s = graph_engine.item_emb @ q
    s[graph_engine.item_indices(["1", "2"])] = -np.inf
    assert [i.id for i in items] == graph_engine.item_map.raws(np.argsort(-s, kind="stable")[:3])


def test_sequential_history(capsys):
    path = str(trained_run("sasrec"))
    code, out = _recommend(capsys, "--run", path, "--history", "1", "5", "9", "--json", "-k", "4")
    assert code == 0
    ids = [i["id"] for i in json.loads(out.out)["items"]]
    assert len(ids) == 4 and not {"1", "5", "9"} & set(ids)


@pytest.mark.parametrize("argv, message", [
    (["--user", "no-such-user"], "unknown user 'no-such-user'"),
    (["--history", "1", "no-such-item"], "unknown item 'no-such-item'"),
    (["--user", "3", "-k", "0"], "k must be between 1 and"),
    ([], "give --user"),
])
def test_bad_requests_exit_2(graph_engine, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["recommend", "--run", str(graph_engine.run.path), *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_engine_errors(graph_engine):
    with pytest.raises(UnknownId) as e:
        graph_engine.recommend(user="x")
    assert e.value.kind == "user" and str(e.value) == "unknown user 'x'"
    with pytest.raises(BadRequest, match="at most 1000"):
        graph_engine.recommend(history=["1"] * 1001)


def test_serve_without_the_extra(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(SystemExit) as e:
        main(["serve", "--run", str(tmp_path)])
    assert e.value.code == 2
    assert "contrastrec serve needs the fastapi and uvicorn packages: pip install 'contrastrec[serve]'" \
        in capsys.readouterr().err


def test_json_shows_the_training_items_a_graph_user_is_based_on(graph_engine, capsys):
    run = graph_engine.run
    code, out = _recommend(capsys, "--run", str(run.path), "--user", "7", "--json")
    got = json.loads(out.out)
    u = run.dataset.user_map.to_index("7")
    train = run.dataset.item_map.raws(run.dataset.train.items[run.dataset.train.users == u])
    assert code == 0 and got["based_on"] == "train" and got["history"] == train and len(train) >= 3


def test_json_shows_the_history_a_sequential_user_is_encoded_from(capsys):
    path = str(trained_run("sasrec"))
    code, out = _recommend(capsys, "--run", path, "--user", "7", "-k", "5", "--json")
    got = json.loads(out.out)
    assert code == 0 and got["based_on"] == "known" and 1 <= len(got["history"]) <= 8  # max_len 8
    # that history, given explicitly, is the same query: the same items, the same scores
    code, out = _recommend(capsys, "--run", path, "--user", "7", "-k", "5", "--json", "--history", *got["history"])
    again = json.loads(out.out)
    assert again["based_on"] == "history" and again["history"] == got["history"]
    assert [i["id"] for i in again["items"]] == [i["id"] for i in got["items"]]
    np.testing.assert_allclose([i["score"] for i in again["items"]], [i["score"] for i in got["items"]], rtol=1e-4)
