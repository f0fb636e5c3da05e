"""Every registered model, under schema joint and integrated, trained 3 epochs on the tests' tiny
data set (tests/conftest.py make_tiny, small_overrides): every epoch's loss terms and validation
metrics and the test metrics, recorded and compared across code changes. Seconds, not minutes:
the cheap complement of benchmarks/curve_check.py (which trains shipped configs on real data).

    python benchmarks/tiny_curves.py record --out tiny-before.json   # at the old commit (a worktree)
    python benchmarks/tiny_curves.py record --out tiny-after.json
    python benchmarks/tiny_curves.py compare tiny-before.json tiny-after.json --tol 0

``compare`` prints the largest absolute difference per model/schema present in both files and fails
when one exceeds ``--tol``; models in one file only are listed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path



def record(out: Path) -> None:
    import contrastrec

    # the repository of the contrastrec that is imported (e.g. a worktree of an older commit on
    # PYTHONPATH): its tests/conftest.py defines the tiny data set
    sys.path.insert(0, str(Path(contrastrec.__file__).resolve().parents[2]))
    import torch

    torch.set_num_threads(1)
    from contrastrec.config import ConfigError, build_config
    from contrastrec.models.registry import registered
    from contrastrec.training.loop import fit
    from tests.conftest import make_tiny, small_overrides

    res = {}
    for name in sorted(registered()):
        for schema in ("joint", "integrated"):
            key = f"{name}/{schema}"
            try:
                cfg = build_config(name, None, small_overrides(name, epochs=3, eval_every=1, patience=50, schema=schema))
            except ConfigError as e:
                res[key] = f"refused: {e}"
                continue
            with tempfile.TemporaryDirectory() as d:
                r = fit(cfg, make_tiny(), Path(d) / "r", progress=False, log=lambda s: None)
                log = Path(d) / "r" / "log.jsonl"
                rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
            rows = [{k: v for k, v in x.items() if k not in ("seconds", "eval_seconds")} for x in rows]
            res[key] = rows + [{"test": r["test"]}]
            print(key, "done", flush=True)
    out.write_text(json.dumps(res, indent=1))


def _flat(x, p=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _flat(v, f"{p}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _flat(v, f"{p}[{i}]")
    else:
        yield p, x


def compare(a_path: Path, b_path: Path, tol: float) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    bad = 0
    for key in sorted(set(a) & set(b)):
        if isinstance(a[key], str) or isinstance(b[key], str):
            same = a[key] == b[key]
            print(f"{key:28s} {'same refusal' if same else 'DIFFERENT: ' + str(a[key])[:60] + ' | ' + str(b[key])[:60]}")
            bad += not same
            continue
        fa, fb = dict(_flat(a[key])), dict(_flat(b[key]))
        if set(fa) != set(fb):
            print(f"{key:28s} DIFFERENT keys: {sorted(set(fa) ^ set(fb))[:4]}")
            bad += 1
            continue
        diff = max(abs(fa[k] - fb[k]) if isinstance(fa[k], float) else float(fa[k] != fb[k]) for k in fa)
        print(f"{key:28s} max |diff| {diff:.3g}")
        bad += diff > tol
    for key in sorted(set(a) ^ set(b)):
        print(f"{key:28s} only in {a_path.name if key in a else b_path.name}")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--tol", type=float, default=0.0)
    args = ap.parse_args(argv)
    if args.cmd == "record":
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        record(args.out)
        return 0
    return compare(args.a, args.b, args.tol)


if __name__ == "__main__":
    raise SystemExit(main())
