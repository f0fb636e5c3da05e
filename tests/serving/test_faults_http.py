"""Faults at the HTTP edge: oversized bodies (413 before they are read), slow or stalled bodies
(408 after a per-request deadline, connection closed), the default bind address.

In-process ASGI calls for the exact behaviour, and a real uvicorn server on 127.0.0.1 (in a
thread, random port) for what a client sees on the wire. No training: a real Engine over a stub run.
"""
from __future__ import annotations

import asyncio
import json
import select
import socket
import time

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from contrastrec.serving.app import MAX_BODY_BYTES, create_app  # noqa: E402
from tests.serving.conftest import live  # noqa: E402

TIMEOUT = 0.4  # the body deadline used by these tests (seconds)


def scope(method="POST", headers=()):
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": "/recommend", "raw_path": b"/recommend", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            "headers": [(b"content-type", b"application/json"), *headers]}


def call(app, receive, headers=(), limit=5.0):
    """Run one ASGI request; returns (status, body bytes, headers dict); fails after ``limit`` s."""
    sent = []

    async def send(m):
        sent.append(m)

    async def go():
        await asyncio.wait_for(app(scope(headers=headers), receive, send), limit)

    try:
        asyncio.run(go())
    except asyncio.TimeoutError:
        pytest.fail(f"the app was still waiting for the body after {limit} s; sent {sent}")
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, {k.decode(): v.decode() for k, v in start["headers"]}


@pytest.fixture(scope="module")
def app(stub_engine):
    return create_app(stub_engine, max_body_bytes=MAX_BODY_BYTES, body_timeout=TIMEOUT)


def test_content_length_over_limit_is_413_before_reading(app):
    async def receive():
        raise AssertionError("the body was read")

    status, body, headers = call(app, receive, [(b"content-length", str(100 * 2**20).encode())])
    assert status == 413 and headers["connection"] == "close"
    detail = json.loads(body)["detail"]
    assert detail == f"request body too large: {100 * 2**20} bytes; at most {MAX_BODY_BYTES} bytes"


def test_chunked_body_is_counted_and_cut_at_the_limit(app):
    chunk, reads = b"x" * 65536, []

    async def receive():  # no Content-Length, a body that never ends
        reads.append(1)
        return {"type": "http.request", "body": chunk, "more_body": True}

    status, body, _ = call(app, receive)
    assert status == 413 and "too large" in json.loads(body)["detail"]
    assert len(reads) == MAX_BODY_BYTES // len(chunk) + 1  # stopped at the first byte over the limit


def test_limit_is_configurable_and_small_bodies_pass(stub_engine):
    from starlette.testclient import TestClient

    small = TestClient(create_app(stub_engine, max_body_bytes=64))
    assert small.post("/recommend", json={"history": ["1"], "k": 2}).status_code == 200
    r = small.post("/recommend", json={"history": ["1"] * 20, "k": 2})
    assert r.status_code == 413 and r.json()["detail"].endswith("at most 64 bytes")
    default = TestClient(create_app(stub_engine))
    big = b'{"history": [' + b'"1",' * 300_000 + b'"1"]}'  # 1.2 MB
    r = default.post("/recommend", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert default.post("/recommend", json={"history": ["1"], "k": 2}).status_code == 200


def test_stalled_body_is_408(app):
    async def receive():
        await asyncio.sleep(3600)

    t0 = time.monotonic()
    status, body, headers = call(app, receive, [(b"content-length", b"100")])
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["detail"] == f"request body not received within {TIMEOUT:g} s"
    assert time.monotonic() - t0 < TIMEOUT + 1


def test_trickled_body_is_408_the_deadline_is_per_request_not_per_chunk(app):
    async def receive():
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b" ", "more_body": True}

    status, _, _ = call(app, receive, [(b"content-length", b"100000")])
    assert status == 408


def test_bad_content_length_and_client_disconnect(app):
    async def never():
        raise AssertionError("the body was read")

    assert call(app, never, [(b"content-length", b"12abc")])[0] == 400
    sent = []

    async def gone():
        return {"type": "http.disconnect"}

    async def send(m):
        sent.append(m)

    asyncio.run(app(scope(), gone, send))
    assert sent == []  # nobody to answer, and the handler never ran


# --------------------------------------------------------------------------- on the wire
def read_until_closed(sock, limit: float) -> bytes:
    data, deadline = b"", time.monotonic() + limit
    while time.monotonic() < deadline:
        if select.select([sock], [], [], 0.05)[0]:
            part = sock.recv(65536)
            if not part:
                return data
            data += part
    raise AssertionError(f"connection still open after {limit} s; got {data!r}")


@pytest.fixture(scope="module")
def port(app):
    with live(app) as p:
        yield p


HEAD = b"POST /recommend HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"


def test_wire_slow_loris_gets_408_and_the_connection_is_closed(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(HEAD + b"Content-Length: 100\r\n\r\n{\"hist")  # and then nothing
        t0 = time.monotonic()
        data = read_until_closed(s, TIMEOUT + 3)
    assert data.startswith(b"HTTP/1.1 408") and b"not received within" in data
    assert time.monotonic() - t0 < TIMEOUT + 2
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # one byte every 50 ms
        s.sendall(HEAD + b"Content-Length: 100000\r\n\r\n")
        data, deadline = b"", time.monotonic() + TIMEOUT + 3
        try:
            while time.monotonic() < deadline:
                if select.select([s], [], [], 0.05)[0]:
                    data = read_until_closed(s, 2)
                    break
                s.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            data = b"reset"  # a byte in flight when the server closed: a reset may replace the 408
    assert data.startswith(b"HTTP/1.1 408") or data == b"reset"
    assert time.monotonic() < deadline


def test_wire_oversized_bodies_get_413_and_the_service_keeps_serving(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(HEAD + b"Content-Length: 100000000\r\n\r\n")  # announced, never sent
        data = read_until_closed(s, 3)
    assert data.startswith(b"HTTP/1.1 413") and b"at most 1048576 bytes" in data
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # chunked, no length
        # one chunk past the limit, then wait: the server has read all of it when it answers, so
        # closing does not reset the connection (bytes left unread would: the client may then
        # see a reset instead of the 413, the usual outcome of a server refusing an upload)
        s.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        s.sendall(chunk * (MAX_BODY_BYTES // 65536 + 1))
        data = read_until_closed(s, 3)
    assert data.startswith(b"HTTP/1.1 413") and b"too large" in data
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # an endless upload is cut off
        s.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        try:
            while sent < 64 * MAX_BODY_BYTES and not select.select([s], [], [], 0)[0]:
                s.sendall(chunk)
                sent += 65536
            data = read_until_closed(s, 3)
        except (BrokenPipeError, ConnectionResetError):
            data = b""  # the server closed with the rest of the upload unread: a reset, see above
    assert sent < 8 * MAX_BODY_BYTES and (data == b"" or data.startswith(b"HTTP/1.1 413"))
    r = httpx.post(f"http://127.0.0.1:{port}/recommend", json={"history": ["1", "2"], "k": 3})
    assert r.status_code == 200 and len(r.json()["items"]) == 3


def test_serve_binds_to_localhost_by_default(monkeypatch, stub_engine):
    import faiss
    import torch

    from contrastrec.cli import main
    from contrastrec.serving import app as app_module
    from contrastrec.serving import run as run_module

    got = {}
    monkeypatch.setattr(run_module, "load_run", lambda run_dir, dataset=None: stub_engine.run)
    monkeypatch.setattr(app_module, "Engine", lambda run: stub_engine)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    monkeypatch.setattr(faiss, "omp_set_num_threads", lambda n: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: got.update(kw, app=app))
    monkeypatch.setattr(app_module, "check_address", lambda host, port: got.update(checked=(host, port)))
    assert main(["serve", "--run", "some-run"]) == 0
    assert got["host"] == "127.0.0.1" and got["checked"] == ("127.0.0.1", 8000)
    from contrastrec.serving.app import BodyLimit

    assert any(m.cls is BodyLimit for m in got["app"].user_middleware)
