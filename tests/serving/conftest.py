"""Serving fixtures that need no training: a real :class:`Engine` over a stub run (tiny data set,
random embeddings, an untrained SASRec encoder for the sequential case)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest

from contrastrec.data.dataset import Split
from contrastrec.serving.engine import Engine
from tests.conftest import make_tiny


def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: property-based tests generated from the service's OpenAPI schema")


class StubRun:
    """What :class:`Engine` reads from a :class:`~contrastrec.serving.run.LoadedRun`."""

    def __init__(self, sequential: bool, dim: int = 16, max_len: int = 8):
        self.dataset = make_tiny(sequential=sequential)
        self.sequential = sequential
        self.run_id = "stub@0000000"
        self.cfg = SimpleNamespace(model="sasrec" if sequential else "lightgcn", max_len=max_len)
        rng = np.random.default_rng(0)
        self._emb = (rng.standard_normal((self.dataset.n_users, dim)).astype(np.float32),
                     rng.standard_normal((self.dataset.n_items, dim)).astype(np.float32))
        if sequential:
            import torch

            from contrastrec.encoders import make_sequence_encoder

            torch.manual_seed(0)
            enc = make_sequence_encoder("sasrec", self.dataset.n_items, dim, max_len, 1, 2, 0.0, 0.0)
            self.model = SimpleNamespace(encoder=enc, history_vectors=lambda tokens: enc(tokens)[:, -1, :])

    def embeddings(self, history: str = "test"):
        return self._emb

    def known_items(self) -> Split:
        return Split.concat(self.dataset.history("test"), self.dataset.test)

    def seen_csr(self):
        return self.known_items().csr(self.dataset.n_users, self.dataset.n_items)


@pytest.fixture(scope="session")
def stub_engine() -> Engine:
    return Engine(StubRun(sequential=False))


@pytest.fixture(scope="session")
def stub_seq_engine() -> Engine:
    return Engine(StubRun(sequential=True))


@contextmanager
def live(app, **config):
    """``app`` served by a real uvicorn on 127.0.0.1 in a thread (``config``: more uvicorn.Config
    options); yields its port."""
    import uvicorn

    config = {"log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
