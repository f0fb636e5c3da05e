"""Validation curves of shipped configs for the first epochs, recorded and compared across code changes.

    python benchmarks/curve_check.py record --out curves-before.json     # at the old commit
    python benchmarks/curve_check.py record --out curves-after.json      # at the new commit
    python benchmarks/curve_check.py compare curves-before.json curves-after.json --tol 1e-6

Each case trains a shipped config with ``--set epochs=N eval_every=1 threads=1`` (everything else as
shipped) and records every epoch's loss terms and validation metrics. ``compare`` prints the largest
absolute difference per case and fails when it exceeds ``--tol``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    # name: (config, epochs)  -- SimGCL's first 3 epochs are its BPR warm-up, so 6 cover the SSL term too
    "beauty-cl4srec": ("configs/beauty/cl4srec.yaml", 3),
    "yelp-sslrec-simgcl": ("configs/yelp-sslrec/simgcl.yaml", 6),
}


def record(out: Path, cases: list[str]) -> None:
    res = {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip(), "cases": {}}
    for name in cases:
        cfg, epochs = CASES[name]
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "contrastrec", "train", "--config", str(ROOT / cfg), "--output", tmp,
                   "--quiet", "--set", f"epochs={epochs} eval_every=1 threads=1 max_train_seconds=0"]
            subprocess.run(cmd, check=True, cwd=ROOT)
            rows = [json.loads(line) for line in (Path(tmp) / "log.jsonl").read_text().splitlines()]
        res["cases"][name] = [{k: v for k, v in r.items() if k not in ("seconds", "eval_seconds")} for r in rows]
        print(name, [round(r["valid"]["ndcg@20"], 6) for r in rows], flush=True)
    out.write_text(json.dumps(res, indent=1))


def _numbers(x, prefix=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _numbers(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield prefix, float(x)


def compare(a: Path, b: Path, tol: float) -> int:
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    bad = 0
    for name in sorted(set(ra["cases"]) & set(rb["cases"])):
        worst, where = 0.0, ""
        for ea, eb in zip(ra["cases"][name], rb["cases"][name]):
            na, nb = dict(_numbers(ea)), dict(_numbers(eb))
            if set(na) != set(nb):
                print(f"{name}: epoch {ea['epoch']} logs different terms: {sorted(set(na) ^ set(nb))}")
                bad += 1
            for k in set(na) & set(nb):
                d = abs(na[k] - nb[k])
                if d > worst:
                    worst, where = d, f"epoch {ea['epoch']} {k}"
        ok = worst <= tol
        bad += not ok
        print(f"{name}: {ra['commit']} vs {rb['commit']}: max |diff| {worst:.3g} ({where or '-'}) "
              f"{'<=' if ok else '>'} {tol:g}")
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--case", action="append", choices=sorted(CASES))
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--tol", type=float, default=1e-6)
    args = p.parse_args()
    if args.cmd == "record":
        record(args.out, args.case or sorted(CASES))
        return 0
    return compare(args.a, args.b, args.tol)


if __name__ == "__main__":
    sys.exit(main())
