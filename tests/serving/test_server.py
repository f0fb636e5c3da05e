"""The real HTTP service: `python -m contrastrec.cli serve` in a subprocess on 127.0.0.1."""
import socket
import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.serving.runs import trained_run  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run_dir, log_path):
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "contrastrec.cli", "serve", "--run", str(run_dir), "--host", "127.0.0.1",
         "--port", str(port), "--threads", "1", "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}", log


def wait_ready(proc, url, log_path, timeout=90.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{open(log_path).read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready after {timeout}s:\n{open(log_path).read()}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Both servers start together (their start-up, mostly imports, overlaps)."""
    runs = {"graph": trained_run("lightgcn"), "seq": trained_run("sasrec")}
    logs = tmp_path_factory.mktemp("serve")
    started = {k: start(v, logs / f"{k}.log") for k, v in runs.items()}
    try:
        for k, (proc, url, _) in started.items():
            wait_ready(proc, url, logs / f"{k}.log")
        yield {k: url for k, (_, url, _) in started.items()}
    finally:
        for proc, _, log in started.values():
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def test_health_and_docs(servers):
    h = httpx.get(servers["graph"] + "/health").json()
    assert h["model"] == "lightgcn" and h["n_users"] == 60 and h["n_items"] > 0 and h["status"] == "ok"
    assert httpx.get(servers["seq"] + "/health").json()["sequential"] is True
    assert httpx.get(servers["graph"] + "/docs").status_code == 200
    spec = httpx.get(servers["graph"] + "/openapi.json").json()
    assert {"/recommend", "/health"} <= set(spec["paths"])


def test_good_requests(servers):
    g, s = servers["graph"], servers["seq"]
    r = httpx.get(g + "/recommend", params={"user": "3", "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "lightgcn" and len(body["items"]) == 5
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    r = httpx.post(s + "/recommend", json={"history": ["1", 5, "9"], "k": 3})
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    assert not {"1", "5", "9"} & {i["id"] for i in r.json()["items"]}
    r = httpx.post(g + "/recommend", json={"history": [], "user": "3", "k": 5})
    assert r.json()["items"] == body["items"]  # empty history + user = the user's recommendations
    r = httpx.get(s + "/recommend", params={"user": "3", "k": 2})
    assert r.status_code == 200 and len(r.json()["items"]) == 2


@pytest.mark.parametrize("method, kwargs, status, needle", [
    ("get", {"params": {"user": "nobody"}}, 404, "unknown user 'nobody'"),
    ("get", {"params": {"user": "3", "k": 0}}, 422, "k must be between 1 and"),
    ("get", {"params": {"user": "3", "k": 100000}}, 422, "k must be between 1 and"),
    ("get", {"params": {"user": "3", "k": "ten"}}, 422, "integer"),
    ("post", {"json": {"history": ["1", "no-such-item"]}}, 422, "unknown item 'no-such-item'"),
    ("post", {"json": {"history": ["1"] * 9}}, 422, "at most 8"),
    ("post", {"json": {"history": "1"}}, 422, "valid list"),
    ("post", {"json": {"histories": ["1"]}}, 422, "histories"),
    ("post", {"content": b'{"history": [', "headers": {"content-type": "application/json"}}, 422, "JSON"),
    ("post", {"json": {"history": []}}, 422, "give a user or a non-empty history"),
    ("post", {"json": {"history": ["1"], "user": "nobody"}}, 404, "unknown user 'nobody'"),
])
def test_bad_requests_then_still_serving(servers, method, kwargs, status, needle):
    url = servers["seq"] + "/recommend"
    r = getattr(httpx, method)(url, **kwargs)
    assert r.status_code == status, r.text
    assert needle in r.text
    ok = httpx.post(url, json={"history": ["1"], "k": 2})
    assert ok.status_code == 200 and len(ok.json()["items"]) == 2


def test_graph_history_limit(servers):
    r = httpx.post(servers["graph"] + "/recommend", json={"history": ["1"] * 1001})
    assert r.status_code == 422 and "at most 1000" in r.json()["detail"]
