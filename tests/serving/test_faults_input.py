"""Bad input at the service's edges, answered in one line or one 422, never a traceback: JSON
numbers a strict JSON writer cannot echo (NaN, Infinity, 1e400) in the request body, and a
``--host``/``--port`` that cannot be listened on (refused before the run is loaded)."""
from __future__ import annotations

import logging
import socket

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from contrastrec.cli import main  # noqa: E402
from contrastrec.serving.app import create_app  # noqa: E402
from tests.serving.conftest import live  # noqa: E402


@pytest.fixture(scope="module", params=["graph", "sequential"])
def client(request, stub_engine, stub_seq_engine):
    engine = stub_engine if request.param == "graph" else stub_seq_engine
    return TestClient(create_app(engine))  # server exceptions are raised here, as a traceback would be logged


@pytest.mark.parametrize("body, echoed", [
    ('{"history": ["1"], "k": NaN}', "NaN"),
    ('{"history": ["1"], "k": Infinity}', "Infinity"),
    ('{"history": ["1"], "k": -Infinity}', "-Infinity"),
    ('{"history": ["1"], "k": 1e400}', "Infinity"),
    ('{"history": [NaN], "k": 3}', "NaN"),
    ('{"user": NaN}', "NaN"),
])
def test_non_finite_numbers_are_422_and_log_no_traceback(client, caplog, body, echoed):
    caplog.set_level(logging.DEBUG)
    r = client.post("/recommend", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert 1 <= len(detail) <= 2 and all(d["input"] == echoed and d["msg"] for d in detail)  # 2: str | int ids
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]


@pytest.mark.parametrize("k", ["NaN", "Infinity", "1e400", "0", "-1", "100000"])
def test_get_k_out_of_range_is_422(client, caplog, k):
    caplog.set_level(logging.DEBUG)
    r = client.get("/recommend", params={"user": "1", "k": k})
    assert r.status_code == 422 and r.json()["detail"]
    assert not [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.ERROR]


def test_k_above_the_number_of_items_is_422_with_the_bound(client):
    engine_items = client.get("/health").json()["max_k"]
    r = client.post("/recommend", json={"history": ["1"], "k": engine_items + 1})
    assert r.status_code == 422
    assert r.json()["detail"] == f"k must be between 1 and {engine_items}, got {engine_items + 1}"


def _serve_error(capsys, tmp_path, *argv) -> str:
    """``serve`` of a folder that is not a run: any address error must come first."""
    with pytest.raises(SystemExit) as e:
        main(["serve", "--run", str(tmp_path / "not-a-run"), *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "not a run" not in err
    return err


@pytest.mark.parametrize("port", ["-1", "0", "70000"])
def test_serve_refuses_a_port_out_of_range_before_loading(capsys, tmp_path, port):
    assert _serve_error(capsys, tmp_path, "--port", port) == f"error: --port {port}: must be between 1 and 65535\n"


def test_serve_refuses_a_busy_port_and_an_unknown_host_before_loading(capsys, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = _serve_error(capsys, tmp_path, "--port", str(port))
    assert err.startswith(f"error: --host 127.0.0.1 --port {port}: cannot listen there")
    err = _serve_error(capsys, tmp_path, "--host", "no-such-host.invalid")
    assert err.startswith("error: --host no-such-host.invalid: not an address of this machine")


@pytest.mark.parametrize("body, status, start", [
    ('{"history": ["1"], "k": 1e300}', 422, "k must be between 1 and "),
    ('{"history": ["1"], "k": 1' + "0" * 400 + "}", 422, "k must be between 1 and "),
    ('{"user": "' + "u" * 100_000 + '"}', 404, "unknown user 'uuu"),
    ('{"user": 1' + "0" * 300 + "}", 404, "unknown user '1000"),
    ('{"history": ["' + "i" * 100_000 + '"]}', 422, "unknown item 'iii"),
])
def test_huge_values_get_a_short_detail(client, body, status, start):
    r = client.post("/recommend", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    detail = r.json()["detail"]
    assert detail.startswith(start) and len(detail) < 100


def test_validation_errors_echo_long_inputs_cut(client):
    r = client.get("/recommend", params={"user": "1", "k": "1" + "0" * 5000})
    assert r.status_code == 422 and len(r.text) < 600
    r = client.post("/recommend", json={"user": list(range(50_000))})  # echoed once per type of the union
    assert r.status_code == 422 and len(r.text) < 1000
    assert all(d["input"][-1] == "... (50000 items)" for d in r.json()["detail"])
    r = client.post("/recommend", json={"user": ["u" * 10_000] * 5})  # nested: each string cut
    assert r.status_code == 422 and len(r.text) < 2000
    r = client.post("/recommend", json={"user": {str(i): "v" * 500 for i in range(1000)}})
    assert r.status_code == 422 and len(r.text) < 5000


def test_on_the_wire_bad_numbers_log_no_traceback(stub_engine, caplog):
    """A real uvicorn server (its loggers left to propagate, so caplog sees what it would log):
    40 NaN/Infinity requests, 40 answers 422, not one error record (was two tracebacks each)."""
    caplog.set_level(logging.INFO)
    with live(create_app(stub_engine), log_config=None, log_level="info") as port:
        url = f"http://127.0.0.1:{port}/recommend"
        codes = [_post_status(url, f'{{"history": ["1"], "k": {v}}}') for v in ["NaN", "Infinity", "-Infinity", "1e400"] * 10]
    assert codes == [422] * 40
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def _post_status(url: str, body: str) -> int | str:
    """The status of one POST, or the name of the error that replaced the answer (a reset)."""
    import httpx

    try:
        return httpx.post(url, content=body, headers={"content-type": "application/json"}, timeout=5).status_code
    except httpx.HTTPError as e:
        return type(e).__name__
