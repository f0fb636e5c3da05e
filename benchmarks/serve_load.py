"""Bounded load test of ``contrastrec serve`` on loopback: p50/p99 latency and requests/second.

Starts ``python -m contrastrec.cli serve`` for ``--run DIR`` on a free 127.0.0.1 port (or uses
``--url``, which must be a loopback address), waits for ``/health``, sends exactly ``--requests``
requests with ``--concurrency`` in flight, stops the server and prints one JSON line. Without
``--run`` it first trains a small synthetic run (MF, 3 epochs) in a temporary folder.

Requests (``--mode``): ``user`` = ``GET /recommend?user=ID&k=K`` for random known users;
``history`` = ``POST /recommend`` with a random history of known items (length up to
``--history-len``, capped at the model's limit); ``mixed`` alternates them. The run stops by
itself after the fixed count or ``--max-seconds``, whichever comes first.

    python benchmarks/serve_load.py --run runs/beauty-sasrec --requests 2000 --concurrency 8
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_run(root: Path) -> Path:
    from contrastrec.config import build_config
    from contrastrec.data import load_dataset, write_synthetic
    from contrastrec.training.loop import fit

    data = write_synthetic(root / "synthetic.tsv", format="triples", n_users=2000, n_items=1000,
                           interactions_per_user=20, sequential=False, seed=0)
    cfg = build_config("mf", None, {"dataset": str(data), "epochs": 3, "device": "cpu", "embedding_dim": 64})
    fit(cfg, load_dataset(data, seed=cfg.seed), root / "run", progress=False, log=lambda s: None)
    return root / "run"


def start_server(run: Path, threads: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "contrastrec.cli", "serve", "--run", str(run), "--host",
                             "127.0.0.1", "--port", str(port), "--threads", str(threads), "--log-level", "warning"],
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("server did not become ready in 120 s")


async def load(url: str, requests: list[tuple[str, dict]], concurrency: int, max_seconds: float) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue = iter(requests)
    deadline = time.perf_counter() + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        for method, kw in queue:
            if time.perf_counter() > deadline:
                return
            t = time.perf_counter()
            try:
                r = await client.request(method, url + "/recommend", **kw)
                ok = r.status_code == 200
                key = str(r.status_code)
            except httpx.HTTPError as e:
                ok, key = False, type(e).__name__
            latencies.append((time.perf_counter() - t) * 1000)
            if not ok:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat = np.asarray(latencies)
    return {"requests": len(lat), "errors": errors, "seconds": round(wall, 3),
            "rps": round(len(lat) / wall, 1), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "mean_ms": round(float(lat.mean()), 2)}


def make_requests(health: dict, users: list[str], items: list[str], args) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(args.seed)
    hmax = max(1, min(args.history_len, health["max_history"]))
    out = []
    for n in range(args.requests):
        mode = args.mode if args.mode != "mixed" else ("user", "history")[n % 2]
        if mode == "user":
            out.append(("GET", {"params": {"user": users[rng.integers(len(users))], "k": args.k}}))
        else:
            hist = [items[i] for i in rng.integers(0, len(items), rng.integers(1, hmax + 1))]
            out.append(("POST", {"json": {"history": hist, "k": args.k}}))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="run directory (default: train a small synthetic MF run)")
    p.add_argument("--url", help="an already running server on loopback (needs --run for its ids)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--mode", choices=["user", "history", "mixed"], default="mixed")
    p.add_argument("-k", "--k", type=int, default=10)
    p.add_argument("--history-len", type=int, default=20)
    p.add_argument("--threads", type=int, default=2, help="server torch threads")
    p.add_argument("--warmup", type=int, default=50, help="requests sent first and not measured")
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out")
    args = p.parse_args()
    if args.url and urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--url must be a loopback address (127.0.0.1, localhost, ::1)")

    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        run = Path(args.run) if args.run else tiny_run(Path(tmp))
        ids = json.loads((run / "id_maps.json").read_text())
        if args.url:
            proc, url = None, args.url.rstrip("/")
        else:
            proc, url = start_server(run, args.threads, Path(tmp) / "server.log")
        try:
            health = httpx.get(url + "/health", timeout=10).json()
            reqs = make_requests(health, ids["users"], ids["items"], args)
            if args.warmup:
                asyncio.run(load(url, reqs[: args.warmup], min(args.concurrency, args.warmup), args.max_seconds))
            stats = asyncio.run(load(url, reqs, args.concurrency, args.max_seconds))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
    out = {"benchmark": "serve_load", "model": health["model"], "n_users": health["n_users"],
           "n_items": health["n_items"], "mode": args.mode, "k": args.k, "concurrency": args.concurrency,
           "server_threads": args.threads, **stats}
    line = json.dumps(out)
    print(line)
    if args.json_out:
        Path(args.json_out).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
