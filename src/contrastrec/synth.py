"""``contrastrec synth``: write a large synthetic data set with planted structure, streaming.

    contrastrec synth --users 1000000 --items 200000 --interactions 10000000 \\
        --format parquet --output /tmp/synth/graph_10m.parquet
    contrastrec synth --users 1000000 --items 200000 --interactions 10000000 --sequential \\
        --format lists --output /tmp/synth/seq_10m.txt

The generator is :class:`contrastrec.data.synthetic.SyntheticStream` (user groups, item clusters
with Zipf-like popularity, Markov successors with ``--sequential``); the file holds exactly
``--interactions`` rows, written a chunk of users at a time. ``parquet`` files have int64 columns
``user``, ``item``, ``timestamp`` (position in the user's sequence); ``lists`` files have one
``user item item ...`` line per user. ``contrastrec train`` reads a ``lists`` file as sequences
and a parquet file as a graph (pass ``--set sequential=true`` for sequential parquet data).

Usable before it is wired into the main command as ``python -m contrastrec.synth ...``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_FORMATS = ("parquet", "lists")


def _positive(text: str) -> int:
    """An int >= 1, also written ``10_000_000``, ``10M``, ``200k`` or ``1e6``."""
    s = str(text).strip().lower().replace("_", "").replace(",", "")
    mult = 1
    if s[-1:] in ("k", "m", "g"):
        mult = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}[s[-1]]
        s = s[:-1]
    try:
        v = float(s) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v != int(v) or v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(v)


def _format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "lists"


def cmd_synth(args) -> int:
    from dataclasses import replace

    from contrastrec.data.synthetic import SyntheticStream
    from contrastrec.training.checkpoint import atomic_path
    from contrastrec.training.rundir import RunDirError, check_output_file

    out = Path(args.output)
    try:
        check_output_file(out, getattr(args, "overwrite", False))
    except RunDirError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    fmt = _format_for(out, getattr(args, "format", None))
    quiet = getattr(args, "quiet", False)
    t0 = time.perf_counter()
    try:
        stream = SyntheticStream(
            args.users, args.items, args.interactions, sequential=args.sequential, seed=args.seed,
            n_groups=args.groups, n_clusters=args.clusters, popularity_skew=args.popularity_skew,
            follow_prob=args.follow_prob, min_length=args.min_length, length_sigma=args.length_sigma,
            chunk_users=args.chunk_users,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    last = [t0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if not quiet and now - last[0] > 10:
            last[0] = now
            print(f"  {done:,}/{total:,} interactions ({now - t0:.0f} s)", file=sys.stderr, flush=True)

    with atomic_path(out) as tmp:  # a failed or killed write leaves the previous file as it was
        st = replace(stream.write(tmp, fmt, progress=progress), path=out)
    kind = "sequences" if st.sequential else "graph (distinct items per user)"
    print(f"wrote {st.n_interactions:,} interactions (exact) of {st.n_users:,} users and "
          f"{st.items_used:,}/{st.n_items:,} items, {kind}, longest user {st.max_length:,}, "
          f"seed {st.seed} -> {st.path} ({fmt}) in {time.perf_counter() - t0:.1f} s")
    return 0


def add_synth_command(sub) -> None:
    """Register ``synth`` on an ``argparse`` subparsers object (``set_defaults(func=cmd_synth)``)."""
    s = sub.add_parser(
        "synth", help="write a large synthetic data set with planted structure (parquet or lists)",
        description="Generate a synthetic data set with planted structure (user groups, item clusters, "
        "popularity skew, with --sequential Markov successor patterns) and write it a chunk of users at a "
        "time (memory bounded by the chunk, not by --interactions). The file holds exactly "
        "--interactions rows; interactions per user follow a lognormal distribution (at least "
        "--min-length each). Deterministic for a --seed, whatever --chunk-users.")
    s.add_argument("--users", type=_positive, required=True, help="number of users (10k, 1M, 1e6 accepted)")
    s.add_argument("--items", type=_positive, required=True, help="number of items")
    s.add_argument("--interactions", type=_positive, required=True, help="exact number of interactions")
    s.add_argument("--sequential", action="store_true",
                   help="sequences with Markov successors (repeats allowed); default: distinct items per user")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--format", choices=_FORMATS,
                   help="parquet (int64 columns user, item, timestamp) or lists (user item item ... lines); "
                   "default: parquet for a .parquet/.pq output, else lists")
    s.add_argument("--output", required=True, help="output file")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    s.add_argument("--groups", type=int, default=4, help="user groups (default 4)")
    s.add_argument("--clusters", type=int, default=10, help="item clusters (default 10)")
    s.add_argument("--popularity-skew", type=float, default=1.0,
                   help="Zipf exponent of item popularity within a cluster (default 1.0)")
    s.add_argument("--follow-prob", type=float, default=0.7,
                   help="--sequential: probability that the next item is a successor of the last (default 0.7)")
    s.add_argument("--min-length", type=int, default=3, help="interactions per user, at least (default 3)")
    s.add_argument("--length-sigma", type=float, default=1.0,
                   help="lognormal sigma of the per-user interaction counts (default 1.0; 0 = equal)")
    s.add_argument("--chunk-users", type=int, default=65536,
                   help="users generated and written at a time (memory; default 65536)")
    s.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    s.set_defaults(func=cmd_synth)


def main(argv: list[str] | None = None) -> int:
    """``python -m contrastrec.synth [synth] --users ...``"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] != ["synth"]:
        argv.insert(0, "synth")
    p = argparse.ArgumentParser(prog="contrastrec")
    add_synth_command(p.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = p.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
