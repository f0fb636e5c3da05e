"""The short summary `contrastrec train` prints at the end of a run (``--json``: the JSON instead)."""
from __future__ import annotations

from pathlib import Path


def _f(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def run_summary(res: dict, run_dir: str | Path) -> str:
    """A few lines: the selected epoch, the main metrics, the test groups and where the run is."""
    cfg = res.get("config", {})
    metric = cfg.get("metric", "ndcg@20")
    ks = cfg.get("ks") or [int(metric.split("@")[1])]
    keys = [f"{m}@{k}" for m in ("recall", "ndcg") for k in ks]
    stopped = {"patience": "early stop", "epochs": "cut by the epoch cap", "max_train_seconds": "cut by max_train_seconds",
               "untrained": "untrained"}.get(res.get("stopped"), res.get("stopped"))
    lines = [f"{res['model']} on {res.get('dataset', '?')}: selected epoch {res['best_epoch']} of {res['epochs']} "
             f"on validation {metric}, {res.get('train_seconds', 0):.1f} s training"
             + (f" ({stopped})" if stopped else "")]
    width = max(len(k) for k in keys) + 2
    lines.append("        " + "".join(k.rjust(width) for k in keys))
    for phase in ("valid", "test"):
        if res.get(phase):
            lines.append(f"  {phase:<6}" + "".join(_f(res[phase].get(k)).rjust(width) for k in keys))
    groups = (res.get("groups") or {}).get("test")
    if groups:
        main = metric if metric in next(iter(groups["item_groups"].values()), {}) else keys[-1]
        if groups["item_groups"]:
            lines.append(f"  test {main} by item popularity: " + ", ".join(
                f"{label} {_f(g.get(main))} ({g['users']} users)" for label, g in groups["item_groups"].items()))
        if groups["user_groups"]:
            lines.append(f"  test {main} by user activity: " + ", ".join(
                f"{label} {_f(g.get(main))} ({g['users']} users)" for label, g in groups["user_groups"].items()))
        k = main.split("@")[1]
        if f"coverage@{k}" in groups:
            lines.append(f"  test @{k}: coverage {groups[f'coverage@{k}']:.3f}, ARP {groups[f'arp@{k}']:.1f}, "
                         f"Gini {groups[f'gini@{k}']:.3f}")
    sample = res.get("eval_users") or {}
    if sample.get("sampled"):
        lines.append(f"note: validation and test metrics are means over a seeded sample of {sample['sampled']} "
                     "users (eval_users); each user is ranked against every item")
    elif sample.get("full"):
        lines.append(f"note: {sample['note']}")
    lines.append(f"wrote {run_dir} (results.json; --json prints it)")
    return "\n".join(lines)


def seeds_summary(summary: dict, run_dir: str | Path) -> str:
    """The lines `train --seeds N` prints: per main metric, mean ± std and the interval over the seeds."""
    seeds = summary["seeds"]
    lines = [f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), one split; selected epochs {summary['best_epoch']}"]
    pct = round(100 * summary.get("level", 0.95))
    for phase in ("valid", "test"):
        for k, v in (summary.get(phase) or {}).items():
            if k.split("@")[0] in ("recall", "ndcg"):
                ci = v["ci"]
                lines.append(f"  {phase} {k}: {v['mean']:.4f} ± {v['std']:.4f} (std), {pct}% CI "
                             f"[{ci[0]:.4f}, {ci[1]:.4f}]")
    lines.append(f"wrote {run_dir} (seeds.json, seed-*/)")
    return "\n".join(lines)
