"""Loading at scale: read + id mapping + split with ``load_dataset`` (what ``contrastrec train``
calls) on synthetic files of 0.1M to 10M interactions.

Issue goal: 10M interactions read + mapped + split in under 2 minutes and under 3 GB peak RSS.

For each size K the data set has K/10 users and K/50 items (10M: 1M users x 200k items), written
once by ``contrastrec synth`` (:class:`contrastrec.data.synthetic.SyntheticStream`, seed 0) into
``--data-dir`` and reused afterwards. Kinds (``--kinds``):

* ``graph-parquet``: distinct items per user, parquet (int64 user, item, timestamp), loaded with
  the defaults: graph data, per-user random 80/10/10 split;
* ``seq-lists``: Markov sequences, ``user item item ...`` lines, loaded as sequences
  (leave-one-out);
* ``seq-parquet``: the sequences as parquet, loaded with ``sequential=True`` (leave-one-out by
  timestamp).

Every load runs in its own subprocess, so its peak RSS (``ru_maxrss``) is its own; ``base``
is the RSS after imports, before loading; the JSON also has the peak RSS sampled (every 20 ms)
while each phase runs and the RSS after each phase. Inside the subprocess, functions of the loading
pipeline are wrapped with timers (inclusive, cumulative; a name missing from the library is
skipped), so the table splits the wall time into phases:

* ``read``: ``readers.read_interactions`` (of which ``io``: reading parquet columns
  (``_read_column``, pyarrow; ``pd.read_parquet`` for rating/timestamp columns and for files
  read whole) or the text lines, and ``to_raw``: ``_read_table`` / ``_read_frame`` /
  ``_read_lists`` / ``_read_triples``, columns to ``RawInteractions``: raw ids to codes and
  distinct ids by first appearance, which is the id mapping's first pass);
* ``factorize``: ``RawInteractions.id_codes`` called by ``loading`` (codes of raw ids; nothing
  left to do when the reader made codes). With a library whose ``RawInteractions`` holds
  ``str`` objects instead (before issue 12), ``pd.factorize`` of raw ids in ``loading``;
* ``dedupe``: ``loading._dedupe_mask`` (graph data);
* ``split``: ``*_split_labels`` from ``splits``;
* ``assemble``: ``loading._assemble`` (id maps in first-appearance order, the three splits);
* ``other``: the rest of ``load_dataset``.

    python benchmarks/load_scale.py --data-dir /tmp/synth/scale --out runs/bench/load_scale.json
    python benchmarks/load_scale.py --data-dir /tmp/synth/scale --sizes 3M --kinds graph-parquet --profile
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

KINDS = {
    # kind: (sequential data, file format, load_dataset keyword arguments)
    "graph-parquet": (False, "parquet", {}),
    "seq-lists": (True, "lists", {}),
    "seq-parquet": (True, "parquet", {"sequential": True}),
}
GOAL_S, GOAL_GB = 120.0, 3.0


def _count(text: str) -> int:
    s = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(s[-1:], 1)
    return int(float(s[:-1] if mult > 1 else s) * mult)


def _label(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def data_file(data_dir: Path, n: int, kind: str) -> tuple[Path, dict]:
    """The synth file of ``n`` interactions for ``kind`` (written on first use)."""
    from contrastrec.data.synthetic import SyntheticStream

    seq, fmt, _ = KINDS[kind]
    users, items = max(1, n // 10), max(2, n // 50)
    ext = "parquet" if fmt == "parquet" else "txt"
    path = data_dir / f"synth_{'seq' if seq else 'graph'}_{_label(n)}_u{users}_i{items}_s0.{ext}"
    info = {"users": users, "items": items, "file": str(path)}
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        t = time.perf_counter()
        st = SyntheticStream(users, items, n, sequential=seq, seed=0).write(tmp, fmt)
        tmp.rename(path)
        info["generate_s"] = round(time.perf_counter() - t, 2)
        info["items_used"] = st.items_used
    info["file_mb"] = round(path.stat().st_size / 2**20, 1)
    return path, info


# --------------------------------------------------------------------------------------------
# child: one load, timed by phase
# --------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(path: str, kind: str, profile: str | None) -> None:
    import resource

    import pandas as pd

    from contrastrec.data import loading, readers, splits  # noqa: F401  (imports done before base RSS)

    times: dict[str, float] = {}
    depth: dict[str, int] = {}
    stack: list[str] = []  # active phases, innermost last
    peaks: dict[str, float] = {}  # sampled peak RSS while a phase is the innermost active one
    after: dict[str, float] = {}  # RSS when a phase last returned

    def timed(name, fn):
        def wrapper(*a, **k):
            outer = depth.get(name, 0) == 0  # nested calls of one phase count once
            depth[name] = depth.get(name, 0) + 1
            stack.append(name)
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stack.pop()
                depth[name] -= 1
                if outer:
                    times[name] = times.get(name, 0.0) + time.perf_counter() - t
                    after[name] = _rss_mb()
        return wrapper

    stop = threading.Event()

    def sample() -> None:  # needs the GIL: long GIL-holding C calls are seen at their end
        while not stop.is_set():
            rss, name = _rss_mb(), (stack[-1] if stack else "other")
            peaks[name] = max(peaks.get(name, 0.0), rss)
            stop.wait(0.02)

    class _PdProxy:
        """``pd`` for one module, with some functions timed."""

        def __init__(self, wrapped: dict):
            self._wrapped = wrapped

        def __getattr__(self, name):
            return self._wrapped.get(name) or getattr(pd, name)

    def patch(module, attr, name):
        fn = getattr(module, attr, None)
        if fn is not None:
            setattr(module, attr, timed(name, fn))

    patch(loading, "read_interactions", "read")
    for attr in ("_read_text_lines", "_read_bytes", "_text_lines", "_read_column"):
        patch(readers, attr, "io")
    for attr in ("_read_frame", "_read_table", "_read_lists", "_read_triples"):
        patch(readers, attr, "to_raw")
    readers.pd = _PdProxy({"read_parquet": timed("io", pd.read_parquet)})
    if hasattr(readers.RawInteractions, "id_codes"):  # ids held as codes: loading asks the reader's
        patch(readers.RawInteractions, "id_codes", "factorize")
    else:  # ids held as strings: loading factorizes them
        loading.pd = _PdProxy({"factorize": timed("factorize", pd.factorize)})
    patch(loading, "_dedupe_mask", "dedupe")
    for attr in ("leave_one_out_labels", "random_split_labels", "temporal_split_labels"):
        patch(loading, attr, "split")
    patch(loading, "_assemble", "assemble")

    base = _rss_mb()
    kwargs = KINDS[kind][2]
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    ds = loading.load_dataset(path, **kwargs)
    total = time.perf_counter() - t
    stop.set()
    sampler.join()
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    inner = sum(times.get(k, 0.0) for k in ("read", "factorize", "dedupe", "split", "assemble"))
    times["other"] = max(0.0, total - inner)
    print(json.dumps({
        "total_s": round(total, 3),
        "phases_s": {k: round(v, 3) for k, v in times.items()},
        "peak_rss_mb": round(peak, 1),
        "base_rss_mb": round(base, 1),
        "phase_peak_rss_mb": {k: round(v, 1) for k, v in peaks.items()},
        "rss_after_phase_mb": {k: round(v, 1) for k, v in after.items()},
        "n_users": ds.n_users,
        "n_items": ds.n_items,
        "rows": {"train": len(ds.train), "valid": len(ds.valid), "test": len(ds.test)},
        "sequential": ds.sequential,
    }))


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------


def _run_one(path: Path, kind: str, timeout: float, profile: str | None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), "--kinds", kind]
    if profile:
        cmd += ["--profile-out", profile]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - t
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]}
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["process_s"] = round(wall, 2)  # including interpreter start and imports
    return res


def _print_profile(stats_file: str, top: int) -> None:
    import pstats

    st = pstats.Stats(stats_file)
    print(f"\n### cProfile of the last load ({stats_file}), by internal time\n")
    st.sort_stats("tottime").print_stats(top)
    print("\n### by cumulative time\n")
    st.sort_stats("cumulative").print_stats(top)


def _table(results: list[dict]) -> str:
    cols = ["size", "kind", "users", "items", "MB", "total s", "read s", "(io)", "(to_raw)", "factorize s",
            "dedupe s", "split s", "assemble s", "other s", "peak RSS MB", "base MB", "goal"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['kind']} | {r['users']} | {r['items']} | {r.get('file_mb', '')} | "
                         f"{r['error']} |" + " |" * (len(cols) - 6))
            continue
        p = r["phases_s"]
        ok = r["total_s"] < GOAL_S and r["peak_rss_mb"] < GOAL_GB * 1024
        cells = [r["size"], r["kind"], f"{r['users']:,}", f"{r['items']:,}", r["file_mb"], f"{r['total_s']:.2f}",
                 *(f"{p.get(k, 0.0):.2f}" for k in ("read", "io", "to_raw", "factorize", "dedupe", "split",
                                                   "assemble", "other")),
                 f"{r['peak_rss_mb']:,.0f}", f"{r['base_rss_mb']:,.0f}",
                 ("yes" if ok else "no") if r["n"] >= 10_000_000 else ""]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "contrastrec-synth"),
                    help="where synth files are written and reused (default $TMPDIR/contrastrec-synth)")
    ap.add_argument("--sizes", nargs="+", default=["0.1M", "1M", "3M", "10M"], help="interaction counts")
    ap.add_argument("--kinds", nargs="+", default=["graph-parquet", "seq-lists"], choices=list(KINDS))
    ap.add_argument("--out", help="JSON results file")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per load (default 900)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the loads (slower; the timings then include profiler overhead) and print the "
                    "top functions of the last one")
    ap.add_argument("--top", type=int, default=30, help="functions shown with --profile")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.kinds[0], a.profile_out)
        return 0

    data_dir = Path(a.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    results = []
    last_profile = None
    for size in a.sizes:
        n = _count(size)
        for kind in a.kinds:
            path, info = data_file(data_dir, n, kind)
            prof = str(data_dir / f"profile_{kind}_{_label(n)}.pstats") if a.profile else None
            print(f"{_label(n)} {kind}: loading {path.name} ...", file=sys.stderr, flush=True)
            res = {"size": _label(n), "n": n, "kind": kind, **info, **_run_one(path, kind, a.timeout, prof)}
            results.append(res)
            if prof and "error" not in res:
                last_profile = prof
            print(f"  {json.dumps({k: v for k, v in res.items() if k != 'file'})}", file=sys.stderr, flush=True)

    print(f"\n## load_dataset at scale ({platform.node()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}); goal at 10M: < {GOAL_S:.0f} s and < {GOAL_GB:g} GB\n")
    print(_table(results))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({
            "benchmark": "load_scale", "goal": {"seconds": GOAL_S, "rss_gb": GOAL_GB},
            "python": platform.python_version(), "cpus": os.cpu_count(), "results": results,
        }, indent=2))
        print(f"\nwrote {a.out}")
    if last_profile:
        _print_profile(last_profile, a.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
