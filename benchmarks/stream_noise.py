"""Collect benchmarks/stream_noise.sh: per arm, the old and new seeding's valid/test NDCG@20 and
recall@20 for seeds 2024 and 2025, the seed-to-seed spread of each, and the old->new change.

    python benchmarks/stream_noise.py OUT [--write docs/runs/stream_noise]

--write copies each run's small files (results.json, log.jsonl, config.yaml, dataset.json) and
writes summary.md there.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ARMS = ("beauty-cl4srec", "yelp-sslrec-simgcl")
KEYS = ("valid:ndcg@20", "test:ndcg@20", "test:recall@20")


def _get(res: dict, key: str) -> float:
    phase, metric = key.split(":")
    return float(res[phase][metric])


def summary(out: Path) -> str:
    lines = ["| arm | metric | old 2024 | old 2025 | new 2024 | new 2025 | seed spread old | seed spread new | "
             "old -> new (mean of seeds) | commits |", "|" + "---|" * 10]
    for arm in ARMS:
        runs = {(tag, s): out / f"{arm}-{tag}-s{s}" for tag in ("old", "new") for s in (2024, 2025)}
        res = {k: json.loads((p / "results.json").read_text()) for k, p in runs.items() if (p / "results.json").exists()}
        for key in KEYS:
            v = {k: _get(r, key) for k, r in res.items()}
            cell = [f"{v[k]:.4f}" if k in v else "–" for k in runs]

            def spread(tag):
                a, b = v.get((tag, 2024)), v.get((tag, 2025))
                return f"{abs(a - b) / ((a + b) / 2):.1%}" if a is not None and b is not None else "–"

            old = [v[k] for k in v if k[0] == "old"]
            new = [v[k] for k in v if k[0] == "new"]
            change = (f"{(sum(new) / len(new) - sum(old) / len(old)) / (sum(old) / len(old)):+.1%}"
                      if old and new else "–")
            commits = ", ".join(sorted({r["commit"] for r in res.values()}))
            lines.append(f"| {arm} | {key} | " + " | ".join(cell) + f" | {spread('old')} | {spread('new')} | {change} | {commits} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--write", type=Path)
    a = ap.parse_args()
    table = summary(a.out)
    print(table)
    if a.write:
        a.write.mkdir(parents=True, exist_ok=True)
        for run in sorted(a.out.glob("*-s20*")):
            if (run / "results.json").exists():
                dest = a.write / run.name
                dest.mkdir(exist_ok=True)
                for name in ("results.json", "log.jsonl", "config.yaml", "dataset.json"):
                    if (run / name).exists():
                        shutil.copy2(run / name, dest / name)
        cmp = ""
        for arm in ARMS:
            f = a.out / f"cmp-{arm}.md"
            if f.exists():
                shutil.copy2(f, a.write / f.name)
                cmp += f"\n### {arm}: paired per user (`contrastrec compare`)\n\n" + f.read_text()
        (a.write / "summary.md").write_text(
            "# Named random streams vs seed noise (issue 23 §6)\n\n"
            "`bash benchmarks/stream_noise.sh OLD NEW OUT`, then `python benchmarks/stream_noise.py OUT --write "
            "docs/runs/stream_noise`. Seed spread: |s2024 - s2025| / their mean. Fixed epochs, one thread.\n\n"
            + table + "\n" + cmp)


if __name__ == "__main__":
    main()
