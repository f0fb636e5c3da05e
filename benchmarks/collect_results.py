"""Write docs/results.md from the runs' results.json files and the benchmark JSON outputs.

Copies each run's results.json, log.jsonl and config.yaml (no weights) to docs/runs/ as evidence.
Runs are named ``runs/<config-folder>-<model>`` and were produced by
``contrastrec train --config configs/<config-folder>/<model>.yaml --output runs/<config-folder>-<model>``
(see benchmarks/run_all.sh). Numbers from outside the project (published results, the peer's
results and timings) are read from benchmarks/peer_numbers.yaml, where each one carries its source;
nothing here is typed in by hand.

    python benchmarks/collect_results.py --runs runs --bench runs/bench --output docs/results.md
    python benchmarks/collect_results.py --update yelp-seq-bert4rec ...   # add runs, regenerate the tables
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from contrastrec.config import load_yaml

PEER_NUMBERS = Path(__file__).with_name("peer_numbers.yaml")
SEQ_KEYS = ("hit@5", "hit@20", "ndcg@5", "ndcg@20")
GRAPH_KEYS = ("recall@10", "recall@20", "recall@40", "ndcg@10", "ndcg@20", "ndcg@40")


def load_peer_numbers(path: Path = PEER_NUMBERS) -> dict:
    """The cited outside numbers (benchmarks/peer_numbers.yaml) in the shapes the sections use."""
    d = load_yaml(path)
    speed = d["speed"]
    return {
        # sequential: (data set folder, model) -> (HR@5, HR@20, NDCG@5, NDCG@20)
        "seq": {(e["dataset"], e["model"]): tuple(e["metrics"][k] for k in SEQ_KEYS) for e in d["sequential"]},
        # graph CF on yelp-sslrec: model -> (Recall@10/20/40, NDCG@10/20/40)
        "graph": {e["model"]: tuple(e["metrics"][k] for k in GRAPH_KEYS) for e in d["graph"]},
        # the peer's XSimGCL on Beauty as graph CF (epoch selected on the test set): Recall@20, NDCG@20
        "peer_beauty_graph": (d["peer_beauty_graph"]["metrics"]["recall@20"], d["peer_beauty_graph"]["metrics"]["ndcg@20"]),
        "peer_graph_epoch_s": dict(speed["peer_graph_epoch_s"]["values"]),
        "peer_graph_eval_s": speed["peer_graph_eval_s"]["value"],
        "reference_seq_epoch_s": dict(speed["reference_seq_epoch_s"]["values"]),
        "reference_seq_eval_s": speed["reference_seq_eval_s"]["value"],
    }


PEER = load_peer_numbers()
PUBLISHED_SEQ = PEER["seq"]
PUBLISHED_GRAPH = PEER["graph"]


def f4(x) -> str:
    return "" if x is None else f"{x:.4f}"


def load_runs(root: Path) -> dict[str, dict]:
    out = {}
    for p in sorted(root.glob("*/results.json")):
        r = json.loads(p.read_text())
        log = p.parent / "log.jsonl"
        if log.exists():  # training minutes until the end of the selected (best validation) epoch
            recs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            r["_min_to_best"] = sum(x["seconds"] for x in recs if x["epoch"] <= r["best_epoch"]) / 60
            r["_evals_after_best"] = sum(1 for x in recs if "valid" in x and x["epoch"] > r["best_epoch"])
        out[p.parent.name] = r
    return out


def load_tuned(root: Path) -> dict[str, dict]:
    """The best trial of each ``contrastrec tune`` search in ``runs/tune/<folder>-<model>/`` (tested
    once), as run ``<folder>-<model>-tuned``."""
    out = {}
    for d in sorted(p for p in root.glob("*") if (p / "best" / "results.json").exists()):
        sub = load_runs(d)
        if "best" in sub:
            out[d.name + "-tuned"] = sub["best"]
    return out


def tuning_section(root: Path) -> list[str]:
    """Every trial of each search (validation only), from the tune command's trials.md."""
    lines = []
    for d in sorted(p for p in root.glob("*") if (p / "trials.md").exists()):
        lines += [f"### `{d.name}`", "", (d / "trials.md").read_text().strip(), ""]
    return lines


FOLDERS = ("beauty", "beauty-graph", "yelp-seq", "yelp-sslrec")


def in_folder(run: str, folder: str) -> bool:
    """Run ``<folder>-<model>`` belongs to ``folder`` (and not to a longer folder name such as beauty-graph)."""
    longest = max((f for f in FOLDERS if run.startswith(f + "-")), key=len, default=None)
    return longest == folder


def cost(r: dict) -> str:
    to_best = r.get("_min_to_best")
    return (f"{r['best_epoch']} | {'' if to_best is None else f'{to_best:.1f}'} | {r['epochs']} | "
            f"{r['seconds_per_epoch']:.1f} | {r.get('eval_seconds', 0):.1f} | "
            f"{r['train_seconds'] / 60:.1f} | {r['peak_memory_mb']:.0f}")


def seq_section(runs: dict, folder: str) -> list[str]:
    rows = [(n, r) for n, r in runs.items() if in_folder(n, folder) and r["config"]["model"] != "pop"]
    if not rows:
        return []
    lines = [f"### `{folder}` (leave-one-out, full ranking, history ranked last)", "",
             "| model | HR@5 | HR@10 | HR@20 | NDCG@5 | NDCG@10 | NDCG@20 | published HR@5 / HR@20 / NDCG@5 / NDCG@20 "
             "| meets published? | beats our SASRec? | best epoch | min to best | epochs run | s/epoch | eval s | train min | peak MB | commit |",
             "|" + "---|" * 19]
    keys = ("hit@5", "hit@20", "ndcg@5", "ndcg@20")
    base = next((r["test"] for n, r in rows if r["config"]["model"] == "sasrec"), None)
    for name, r in rows:
        t, model = r["test"], r["config"]["model"]
        enc = r["config"].get("encoder") or ""
        label = model + (f" ({enc})" if enc and enc != "sasrec" else "")
        pub = PUBLISHED_SEQ.get((folder, model))
        ours = (t.get("hit@5"), t.get("hit@20"), t.get("ndcg@5"), t.get("ndcg@20"))
        if pub:
            met = all(o is not None and o >= p for o, p in zip(ours, pub))
            pub_s, met_s = " / ".join(f"{p:.4f}" for p in pub), ("yes" if met else "**no**")
        else:
            pub_s, met_s = "–", "–"
        if model == "sasrec" or base is None:
            beats = "–"
        else:
            beats = "yes (all four)" if all(t[k] > base[k] for k in keys) else \
                "**no** (" + ", ".join(k for k in keys if t[k] <= base[k]) + ")"
        lines.append(f"| {label} | {f4(t.get('hit@5'))} | {f4(t.get('hit@10'))} | {f4(t.get('hit@20'))} | "
                     f"{f4(t.get('ndcg@5'))} | {f4(t.get('ndcg@10'))} | {f4(t.get('ndcg@20'))} | {pub_s} | {met_s} | {beats} | "
                     f"{cost(r)} | {r.get('commit', '')} |")
    return lines + [""]


def is_contrastive(model: str) -> bool:
    """Whether ``model`` trains a self-supervised term (its class declares ``HAS_SSL``)."""
    from contrastrec.config import model_class

    try:
        return bool(model_class(model).HAS_SSL)
    except Exception:  # a model removed since the run was made
        return False


def verdict_section(runs: dict, ablation: Path | None = None) -> list[str]:
    """Issue 15's test per data set: the contrastive row with the best *validation* NDCG@20 (no
    selection on the test set) against our SASRec (sequential, test NDCG@20, target +3 %) or the best
    published Recall@20 (yelp-sslrec, target +3 %), with the cost of each."""
    lines = ["| data set | best contrastive row (by validation NDCG@20) | its test | baseline | baseline's test | "
             "difference | meets +3 %? | minutes trained (row / baseline) |", "|" + "---|" * 8]
    for folder, metric in (("beauty", "ndcg@20"), ("yelp-seq", "ndcg@20"), ("yelp-sslrec", "recall@20")):
        rows = {n: r for n, r in runs.items() if in_folder(n, folder)}
        cands = {n: r for n, r in rows.items() if is_contrastive(r["config"]["model"])}
        if not cands:
            continue
        name, r = max(cands.items(), key=lambda x: x[1]["valid"].get("ndcg@20", 0.0))
        if folder == "yelp-sslrec":
            base_name, base_val, base_min = max(((m, v[1]) for m, v in PUBLISHED_GRAPH.items()), key=lambda x: x[1]) + ("–",)
            base_name = f"best published ({base_name})"
        else:
            b = rows.get(f"{folder}-sasrec")
            if b is None:
                continue
            base_name, base_val, base_min = "our SASRec (CE)", b["test"][metric], f"{b['train_seconds'] / 60:.0f}"
        ours = r["test"][metric]
        diff = (ours / base_val - 1) * 100
        lines.append(f"| {folder} | {name[len(folder) + 1:]} | {metric} {ours:.4f} | {base_name} | {base_val:.4f} | "
                     f"{diff:+.1f} % | {'yes' if diff >= 3 else '**no**'} | {r['train_seconds'] / 60:.0f} / {base_min} |")
    lines.append("")
    pre = ablation / "beauty-sasrec-prefixes-on" / "results.json" if ablation else None
    best = max(((n, r) for n, r in runs.items() if in_folder(n, "beauty") and is_contrastive(r["config"]["model"])),
               key=lambda x: x[1]["valid"].get("ndcg@20", 0.0), default=None)
    if pre is not None and pre.exists() and best is not None:
        p = json.loads(pre.read_text())
        t, v = best[1]["test"]["ndcg@20"], p["test"]["ndcg@20"]
        lines += [f"Beauty's strongest SASRec is not the table's: trained on prefixes (`train_prefixes: true`, prefix "
                  f"ablation, {p['train_seconds'] / 60:.0f} minutes, {p.get('commit', '')}) it reaches valid NDCG@20 {p['valid']['ndcg@20']:.4f}, "
                  f"test {v:.4f}; against it the best contrastive row ({best[0][len('beauty') + 1:]}, valid "
                  f"{best[1]['valid']['ndcg@20']:.4f}) differs by {(t / v - 1) * 100:+.1f} % on test.", ""]
    return lines


# The peer's XSimGCL on Beauty as graph CF (epoch selected on the test set): Recall@20, NDCG@20.
PEER_BEAUTY_GRAPH = PEER["peer_beauty_graph"]


def graph_section(runs: dict, folder: str, published: bool, root: Path | None = None) -> list[str]:
    """Test metrics of each run. Beauty-as-graph (``published=False``) also shows, for the same
    validation-selected checkpoint, the test scored over train + valid (``eval_history.json``,
    written by ``contrastrec evaluate --eval-graph history``), and compares with the peer."""
    rows = [(n, r) for n, r in runs.items() if in_folder(n, folder)]
    if not rows:
        return []
    ref_head = "published R@20 / N@20" if published else "history-graph test R@20 / N@20"
    lines = [f"### `{folder}`", "",
             f"| model | Recall@10 | Recall@20 | Recall@40 | NDCG@10 | NDCG@20 | NDCG@40 | {ref_head} "
             f"| {'meets published?' if published else 'beats the peer (R@20, N@20)?'} | best epoch | min to best | "
             "epochs run | s/epoch | eval s | train min | peak MB | commit |",
             "|" + "---|" * 18]
    for name, r in rows:
        t, model = r["test"], r["config"]["model"]
        pub = PUBLISHED_GRAPH.get(model) if published else None
        if pub:
            met = t["recall@20"] >= pub[1] and t["ndcg@20"] >= pub[4]
            pub_s, met_s = f"{pub[1]:.4f} / {pub[4]:.4f}", ("yes" if met else "**no**")
        elif not published:
            hist_path = (root or Path("runs")) / name / "eval_history.json"
            hist = json.loads(hist_path.read_text())["test"] if hist_path.exists() else None
            pub_s = f"{hist['recall@20']:.4f} / {hist['ndcg@20']:.4f}" if hist else "–"
            best = max((x for x in (t, hist) if x), key=lambda x: x["ndcg@20"])
            beats = [best["recall@20"] > PEER_BEAUTY_GRAPH[0], best["ndcg@20"] > PEER_BEAUTY_GRAPH[1]]
            met_s = "yes" if all(beats) else ("**no**" if not any(beats) else "**partly**")
        else:
            pub_s, met_s = "–", "–"
        lines.append(f"| {name[len(folder) + 1:]} | {f4(t.get('recall@10'))} | {f4(t.get('recall@20'))} | {f4(t.get('recall@40'))} | "
                     f"{f4(t.get('ndcg@10'))} | {f4(t.get('ndcg@20'))} | {f4(t.get('ndcg@40'))} | {pub_s} | {met_s} | "
                     f"{cost(r)} | {r.get('commit', '')} |")
    return lines + [""]


def model_settings(c: dict) -> str:
    """The model's own section of a saved config (``<model>.*``); configs saved before each model had
    one kept SGL's in ``sgl`` and SimGCL's / XSimGCL's in ``graph``."""
    model = c["model"]
    sec = c.get(model) if isinstance(c.get(model), dict) else None
    if sec is None and model in ("simgcl", "xsimgcl") and isinstance(c.get("graph"), dict):
        sec = {k: c["graph"][k] for k in ("eps", "layer_cl") if k in c["graph"] and (model == "xsimgcl" or k == "eps")}
    return ", ".join(f"{k}={v}" for k, v in (sec or {}).items())


def settings_section(runs: dict) -> list[str]:
    keys = ["lr", "batch_size", "embedding_dim", "n_layers", "reg_weight", "weight_decay", "dropout", "loss"]
    lines = ["### Settings of each run", "", "| run | " + " | ".join(keys) + " | ssl (loss, τ, λ) | model-specific |",
             "|" + "---|" * (len(keys) + 3)]
    for name, r in runs.items():
        c = r["config"]
        ssl = c.get("ssl") or {}
        ssl_s = f"{ssl['loss']}, {ssl['temperature']}, {ssl['weight']}" if is_contrastive(c["model"]) and ssl else "–"
        lines.append(f"| {name} | " + " | ".join(str(c.get(k, "")) for k in keys)
                     + f" | {ssl_s} | {model_settings(c)} |")
    return lines + [""]


def trials_section(root: Path) -> list[str]:
    """Short validation-only trials used to pick settings (never the test set): valid NDCG@20 per epoch."""
    logs = sorted(root.glob("*/log.jsonl"))
    if not logs:
        return []
    lines = ["Validation NDCG@20 of the short trials in `runs/trials/` (settings picked on these; the test set "
             "is not looked at). `epoch:value` at each evaluated epoch (at most 14 shown).", "",
             "| trial | settings | validation NDCG@20 by epoch | best (epoch) |", "|---|---|---|---|"]
    for p in logs:
        recs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
        vals = [(x["epoch"], x["valid"]["ndcg@20"]) for x in recs if "ndcg@20" in x.get("valid", {})]
        settings = ""
        cfgp = p.parent / "config.yaml"
        if cfgp.exists():
            c = load_yaml(cfgp)  # no aliases, bounded, one line when bad
            ssl = c.get("ssl", {})
            settings = (f"{c.get('model')}: lr {c.get('lr')}, reg {c.get('reg_weight')}, wd {c.get('weight_decay')}, "
                        f"λ {ssl.get('weight')}, τ {ssl.get('temperature')}")
        best = max(vals, key=lambda t: t[1]) if vals else None
        shown = " ".join(f"{e}:{v:.4f}" for e, v in vals[:14])
        lines.append(f"| {p.parent.name} | {settings} | {shown} | "
                     f"{'' if best is None else f'{best[1]:.4f} ({best[0]})'} |")
    return lines + [""]


def speed_summary(bench: Path) -> list[str]:
    """The promised ratios, computed from the benchmark JSON (target beside each)."""
    rows = []
    g = bench / "graph_speed.json"
    if g.exists():
        d = json.loads(g.read_text())
        e = d["epochs"]
        rows += [
            ("LightGCN epoch / (batches x one propagation fwd+bwd)", f"{d['lightgcn_ratio']:.2f}", "<= 1.5"),
            ("SimGCL epoch / (batches x 3 propagations)", f"{d.get('simgcl_ratio', float('nan')):.2f}", "<= 1.3"),
            ("XSimGCL epoch / SimGCL epoch", f"{d.get('xsimgcl_over_simgcl', float('nan')):.2f}", "<= 0.6"),
        ]
        if "simgcl_separate_ratio" in d:
            rows += [
                ("SimGCL with one differentiated propagation per view (the authors' way) / (batches x 3 "
                 "propagations)", f"{d['simgcl_separate_ratio']:.2f}", "<= 1.3"),
                ("XSimGCL epoch / SimGCL-per-view-propagations epoch",
                 f"{d.get('xsimgcl_over_simgcl_separate', float('nan')):.2f}", "<= 0.6"),
            ]
        peer = dict(PEER["peer_graph_epoch_s"])
        peer["simgcl_separate"] = peer["simgcl"]  # our per-view-propagation SimGCL against the peer's SimGCL
        for m, t in e.items():
            rows.append((f"{m} epoch on Beauty-as-graph (s)", f"{t:.1f}", f"< {peer.get(m, 0) / 2:.0f} (half the peer's {peer.get(m)})"))
        pe = PEER["peer_graph_eval_s"]
        rows.append(("full evaluation, Beauty-as-graph (s)", f"{d['eval_s']:.1f}", f"< {pe / 2:.1f} (half the peer's {pe})"))
    q = bench / "seq_speed.json"
    if q.exists():
        d = json.loads(q.read_text())
        for k, v in d.items():
            if k.endswith("_over_sasrec"):
                rows.append((f"{k.split('_')[0]} epoch / SASRec epoch", f"{v:.2f}", "<= 3"))
        for m in ("cl4srec", "coserec"):
            if f"{m}_augment_share_of_step" in d:
                rows.append((f"{m} augmentation of a batch of 256 / step", f"{100 * d[m + '_augment_share_of_step']:.1f}%", "< 5%"))
        if "iclrec_estep_share_of_epoch" in d:
            rows.append(("ICLRec k-means E-step / epoch", f"{100 * d['iclrec_estep_share_of_epoch']:.1f}%", "< 10%"))
        for m, t in d["epoch_s_estimate"].items():
            ref = PEER["reference_seq_epoch_s"].get(m)
            rows.append((f"{m} epoch on Beauty (s, {d['steps_timed']} steps x batches)", f"{t:.1f}",
                         f"< {ref / 5:.0f} (a fifth of the reference's {ref})" if ref else "–"))
        re_ = PEER["reference_seq_eval_s"]
        rows.append(("full evaluation, Beauty (s)", f"{d['eval_s']:.1f}", f"< {re_ / 3:.1f} (a third of the reference's {re_})"))
    ev = bench / "eval_speed.json"
    if ev.exists():
        d = json.loads(ev.read_text())
        rows.append(("full-ranking evaluate() / bare matmul + top-k, same users (42.7k x 26.8k)",
                     f"{d['ratio']:.2f}", "<= 2"))
    r = bench / "retrieval_speed.json"
    if r.exists():
        rows.append(("approximate retrieval (see raw output below)", "recall@20 and latency", "–"))
    if not rows:
        return []
    return ["| measure | measured | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows] + [""]


def ablation_section(root: Path, runs: dict) -> list[str]:
    """SSL-loss and schema ablation (benchmarks/ablation.sh): validation NDCG@20 at equal epochs, test at the end."""
    lines = ["Written by `bash benchmarks/ablation.sh` (every variant with the same 10-minute budget, 1 thread; "
             "the CL4SRec InfoNCE/joint row is the main run, which had 25 minutes). Compare the validation "
             "columns at equal epochs; the test columns are each run's own validation-selected checkpoint, "
             "evaluated once. pretrain_finetune: 5 (CL4SRec) or 3 (SimGCL) pre-training epochs (no validation) "
             "then fine-tuning; the SimGCL joint variants train BPR alone for 3 warm-up epochs first; SimGCL "
             "evaluates every 3rd epoch (empty cells).", ""]
    n = 10
    for base, main_run, hk in (("beauty-cl4srec", "beauty-cl4srec", "hit@20"),
                                ("yelp-sslrec-simgcl", None, "recall@20")):
        rows = []
        if main_run and main_run in runs:
            rows.append((f"{main_run} (main run)", Path("runs") / main_run, runs[main_run]))
        for p in sorted(root.glob(f"{base}-*/results.json")):
            if "-prefixes-" in p.parent.name or "-anchors-" in p.parent.name:  # their own checks, not this table
                continue
            rows.append((p.parent.name, p.parent, json.loads(p.read_text())))
        if not rows:
            continue
        lines += [f"### `{base}`", "",
                  "| variant | ssl.loss | schema | " + " | ".join(f"valid ep {i}" for i in range(n)) +
                  f" | epochs run | best valid NDCG@20 | test {hk} | test NDCG@20 | commit |", "|" + "---|" * (n + 8)]
        for name, d, r in rows:
            logp = d / "log.jsonl"
            recs = [json.loads(l) for l in logp.read_text().splitlines()] if logp.exists() else []
            vals = [x.get("valid", {}).get("ndcg@20") for x in recs if x.get("phase") != "pretrain"]
            cells = [f4(v) for v in vals[:n]] + [""] * (n - min(len(vals), n))
            best = max((v for v in vals if v is not None), default=None)
            c = r["config"]
            schema = c["schema"]
            if schema == "integrated" and r.get("integrated") != "views":
                schema = "integrated (old definition: user–item contrast, no views)"
            lines.append(f"| {name} | {c['ssl']['loss']} | {schema} | " + " | ".join(cells) +
                         f" | {r['epochs']} | {f4(best)} | {f4(r['test'][hk])} | {f4(r['test']['ndcg@20'])} | {r.get('commit', '')} |")
        lines.append("")
    return lines


PREFIX_MODELS = ("sasrec", "cl4srec", "iclrec")


def prefix_section(root: Path) -> list[str]:
    """Issue 15.3, ``train_prefixes`` on / off on Beauty at equal wall-clock budget
    (benchmarks/prefix_ablation.sh): runs ``<root>/beauty-<model>-prefixes-{on,off}``."""
    runs = {n: r for n, r in load_runs(root).items() if n.startswith("beauty-") and "-prefixes-" in n}
    if not runs:
        return []
    lines = ["Written by `bash benchmarks/prefix_ablation.sh` and `python benchmarks/collect_results.py --update "
             "ablation/beauty-<model>-prefixes-<on|off> ...`: each model trained twice from its shipped Beauty config "
             "with the same wall-clock budget (`max_train_seconds`, checked after each epoch, so a run can overshoot "
             "by part of an epoch), 1 thread, one training at a time; `train_prefixes: true` makes every prefix of "
             "every training sequence one example with its target at the last position, `false` trains one sequence "
             "per user with a target at every position. Epochs and checkpoint selected on validation NDCG@20; test once.",
             "", "| model | train_prefixes | budget s | epochs run | s/epoch | best epoch | min to best | best valid NDCG@20 | "
             "test HR@20 | test NDCG@20 | commit |", "|" + "---|" * 11]
    verdict, arms = [], {}
    for model in PREFIX_MODELS:
        pair = arms.setdefault(model, {})
        for arm in ("on", "off"):
            name = f"beauty-{model}-prefixes-{arm}"
            r = runs.get(name)
            if r is None:
                continue
            c = r["config"]
            if bool(c.get("train_prefixes")) != (arm == "on"):
                raise SystemExit(f"{root / name}: train_prefixes={c.get('train_prefixes')} does not match its name")
            pair[arm] = r
            lines.append(f"| {model} | {str(arm == 'on').lower()} | {c.get('max_train_seconds', 0):.0f} | {r['epochs']} | "
                         f"{r['seconds_per_epoch']:.1f} | {r['best_epoch']} | {r['_min_to_best']:.1f} | {f4(r['valid']['ndcg@20'])} | "
                         f"{f4(r['test']['hit@20'])} | {f4(r['test']['ndcg@20'])} | {r.get('commit', '')} |")
        if len(pair) == 2:
            dv = pair["on"]["valid"]["ndcg@20"] / pair["off"]["valid"]["ndcg@20"] - 1
            dt = pair["on"]["test"]["ndcg@20"] / pair["off"]["test"]["ndcg@20"] - 1
            verdict.append(f"* {model}: prefixes {'help' if dv > 0 else 'do not help'} on validation "
                           f"(best valid NDCG@20 {dv:+.1%}; test NDCG@20 {dt:+.1%}).")
    base = arms.get("sasrec", {})
    for model in PREFIX_MODELS[1:]:
        for arm in ("on", "off"):
            r, b = arms.get(model, {}).get(arm), base.get(arm)
            if r and b:
                verdict.append(f"* {model} vs sasrec, both with train_prefixes {str(arm == 'on').lower()} and the same "
                               f"budget: valid NDCG@20 {r['valid']['ndcg@20'] / b['valid']['ndcg@20'] - 1:+.1%}, "
                               f"test NDCG@20 {r['test']['ndcg@20'] / b['test']['ndcg@20'] - 1:+.1%}.")
    return lines + [""] + verdict + ([""] if verdict else [])


# issue 12: the options for large data against the default, each pair (or triple) at one wall-clock budget
SCALE_OPTIONS = (
    ("beauty-sasrec-ssm-", ("adam", "lazy_adam"), "optimizer",
     "SASRec on Beauty, `loss: sampled_softmax` (1000 shared negatives, logQ), `train_prefixes: false`, dense "
     "`adam` against `lazy_adam` (the item table's rows move only when a step looks them up); "
     "from configs/beauty/sasrec.yaml with `--set threads=1 train_prefixes=false loss=sampled_softmax "
     "n_negatives=1000 optimizer=<arm> max_train_seconds=600`"),
    ("yelp-sslrec-simgcl-anchors-", ("shipped", "big", "big-k4096"), None,
     "SimGCL on yelp-sslrec: the shipped config (batch 4096), batch 32768 with the lr scaled by sqrt(32768 / 4096), "
     "and the same with `ssl.max_anchors: 4096` (the contrastive term on a seeded sample of at most 4096 of each "
     "batch's users and items), the setting benchmarks/scale.py's `*-k100` rows time; `bash "
     "benchmarks/max_anchors_check.sh 600 32768`"),
)


def scale_options_section(root: Path) -> list[str]:
    """Issue 12: does each large-data option keep the accuracy of the default at the same budget?
    Runs ``<root>/<prefix><arm>`` of :data:`SCALE_OPTIONS`; the first arm is the reference."""
    runs = load_runs(root) if root.exists() else {}
    lines = []
    for prefix, arms, key, what in SCALE_OPTIONS:
        found = [(a, runs[prefix + a]) for a in arms if prefix + a in runs]
        if not found:
            continue
        metric = found[0][1]["config"].get("metric", "ndcg@20")
        lines += [what + ". One training at a time, 1 thread; epochs and checkpoint selected on validation "
                  f"{metric}; test once.", "",
                  f"| arm | batch | budget s | epochs run | stopped by | s/epoch | best epoch | min to best | "
                  f"best valid {metric} | test {metric} | vs {found[0][0]} (valid / test) | commit |", "|" + "---|" * 12]
        ref = found[0][1]
        for arm, r in found:
            c = r["config"]
            if key is not None and c.get(key) != arm:
                raise SystemExit(f"{root / (prefix + arm)}: {key}={c.get(key)} does not match its name")
            dv = r["valid"][metric] / ref["valid"][metric] - 1
            dt = r["test"][metric] / ref["test"][metric] - 1
            budget = c.get("max_train_seconds", 0)  # wall clock, evaluations included: train_seconds is less
            stop = ("epochs" if r["epochs"] >= c.get("epochs", 0) + c.get("pretrain_epochs", 0) * (
                c.get("schema") == "pretrain_finetune") else
                    "patience" if r.get("_evals_after_best", 0) > c.get("patience", 0) else "budget")
            lines.append(f"| {arm} | {c.get('batch_size')} | {budget:.0f} | {r['epochs']} | {stop} | "
                         f"{r['seconds_per_epoch']:.1f} | {r['best_epoch']} | {r.get('_min_to_best', 0):.1f} | "
                         f"{f4(r['valid'][metric])} | {f4(r['test'][metric])} | "
                         f"{'' if r is ref else f'{dv:+.1%} / {dt:+.1%}'} | {r.get('commit', '')} |")
        lines.append("")
    return lines


UNSEEN = (("sequential", "beauty", "sasrec"), ("pairwise", "yelp-sslrec", "lightgcn"))


def unseen_section(root: Path, runs: dict) -> list[str]:
    """Shipped configs on data sets they were not tuned on (benchmarks/unseen_data.sh): runs
    ``<root>/<data>-<config>``, beside the same config's row on its home data set (``runs``)."""
    from contrastrec.config import model_class

    found = {}  # (kind, data, config name) -> results
    for name, r in load_runs(root).items():
        data = Path(r["config"]["dataset"]).name
        found[model_class(r["config"]["model"]).task, data, name[len(data) + 1:]] = r
    if not found:
        return []
    lines = ["Written by `bash benchmarks/unseen_data.sh` and `python benchmarks/collect_results.py --update "
             "unseen/<data>-<config> ...`: each shipped config trained unchanged on another data set of its kind "
             "(only `dataset`, `max_train_seconds` and, on MovieLens for sequential models, `split: loo` set), "
             "1 thread, one training at a time; validation-selected, tested once. The question is whether the "
             "ranking of the models on their home data set holds elsewhere: a contrastive model that beats its "
             "base model (SASRec, LightGCN) only at home was tuned to that data set. Test NDCG@20, and in "
             "brackets the difference to the base model on the same data set. The home column is the data set's "
             "main row (its own, longer budget); on the unseen sets every config had the same budget, so a model "
             "that is slower per epoch also saw fewer epochs there (last column), and a run that stopped well "
             "inside it stopped early on validation.", ""]
    for kind, home, base in UNSEEN:
        datas = sorted({d for k, d, _ in found if k == kind})
        names = sorted({n for k, _, n in found if k == kind}, key=lambda n: (n != base, n))
        if not datas:
            continue
        lines += [f"### {'sequential' if kind == 'sequential' else 'graph'} configs (home: {home})", "",
                  "| config | " + " | ".join([f"{home} (home)"] + datas) + " | unseen: epochs / train s @ commit |",
                  "|" + "---|" * (len(datas) + 3)]
        for n in names:
            cells = []
            for d in [home] + datas:
                r = runs.get(f"{home}-{n}") if d == home else found.get((kind, d, n))
                b = runs.get(f"{home}-{base}") if d == home else found.get((kind, d, base))
                if r is None:
                    cells.append("")
                    continue
                nd = r["test"]["ndcg@20"]
                rel = "" if n == base or b is None else f" ({nd / b['test']['ndcg@20'] - 1:+.1%})"
                cells.append(f4(nd) + rel)
            cost_s = "; ".join(f"{found[kind, d, n]['epochs']} ep / {found[kind, d, n]['train_seconds']:.0f} s "
                               f"@ {found[kind, d, n].get('commit', '')}" for d in datas if (kind, d, n) in found)
            lines.append(f"| {n} | " + " | ".join(cells) + f" | {cost_s} |")
        lines.append("")
    return lines


def stall_section(bench: Path) -> list[str]:
    """BPR loss per window of optimizer steps, from benchmarks/graph_ssl_stall.py runs (stall_*.json)."""
    runs = sorted(bench.glob("stall_*.json"))
    if not runs:
        return []
    data = [(p.stem, json.loads(p.read_text())) for p in runs]
    steps = sorted({w["step"] for _, d in data for w in d["windows"]})
    lines = ["Mean BPR loss over each window of optimizer steps (yelp-sslrec, batch 4096: 45 steps = one "
             "epoch), from `python benchmarks/graph_ssl_stall.py --variant V --weight λ --temperature τ --lr LR "
             "--steps S [--warmup-steps W]` (the `--json-out` file is the row name; script as of commit 73fa0a7), "
             "a plain-PyTorch SGL-ED that shares no code with contrastrec.", "",
             "| probe | variant | λ | τ | lr | warm-up steps | " + " | ".join(f"BPR @ {s}" for s in steps) + " |",
             "|" + "---|" * (6 + len(steps))]
    for name, d in data:
        a = d["args"]
        by_step = {w["step"]: w["bpr"] for w in d["windows"]}
        cells = [f4(by_step.get(s)) for s in steps]
        lam = a["weight"] if a["variant"] != "none" else "–"
        tau = a["temperature"] if a["variant"] != "none" else "–"
        lines.append(f"| {name} | {a['variant']} | {lam} | {tau} | {a['lr']} | {a['warmup_steps']} | "
                     + " | ".join(cells) + " |")
    return lines + [""]


def bench_section(bench: Path) -> list[str]:
    lines = []
    for p in sorted(q for q in bench.glob("*.json") if q.name != "scale.json"):
        if p.stem.startswith("stall_"):
            continue
        d = json.loads(p.read_text())
        lines += [f"### `{p.stem}`", "", "```json", json.dumps(d, indent=2), "```", ""]
    return lines


def scale_section(bench: Path, plot: Path | None = None) -> list[str]:
    """Cost growth (benchmarks/scale.py output scale.json): epoch and sampled-evaluation time, peak RSS,
    and the log-log growth exponent of the epoch time per model; writes the plot when asked."""
    path = bench / "scale.json"
    if not path.exists():
        return []
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_bench", Path(__file__).with_name("scale.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = json.loads(path.read_text())
    rows = d["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    commits = sorted({r.get("commit", "") for r in rows if "commit" in r})
    lines = ["Written by " + ", then ".join(f"`{c}`" for c in d.get("commands", [d.get("command", "")])) + f" (commit {', '.join(commits)}; 1 thread; one epoch and one evaluation of "
             "a seeded sample of 10,000 users, each ranked against every item; data from `contrastrec synth`, "
             "users = K/10, items = K/50; see docs/scale.md for the settings).", "", mod.table(rows, models), ""]
    if plot is not None:
        mod.plot(rows, models, plot)
        lines += [f"![epoch time against interactions, log-log]({plot.relative_to(Path('docs')) if plot.is_relative_to('docs') else plot})", ""]
    return lines


EVIDENCE = ("results.json", "log.jsonl", "config.yaml", "dataset.json")



def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:+.1f}%"


def where_section(folder: Path) -> list[str]:
    """'Where contrastive learning earns its place' from docs/runs/where/*.json
    (benchmarks/where_cl_helps.py): per data set, each contrastive run against its base, paired per
    user, overall and on the tail items and the sparse users, with what it recommends."""
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return []
    lines = ["Written by `python benchmarks/where_cl_helps.py ...` (the command is under each table) and "
             "`python benchmarks/collect_results.py --update`. Paired per user on the test set (`contrastrec "
             "compare`): relative difference of the means, its bootstrap 95% CI, `*` where the Wilcoxon "
             "signed-rank p is below 0.05 after Holm's correction over every row compared. tail: the least "
             "popular items holding a third of the training interactions (the user's targets among them); "
             "sparse: the third of the users with the fewest training interactions. The settings are the "
             "shipped configs unless a note says otherwise (not yet tuned at equal budget per data set); the "
             "budget each row had is in its minutes and epochs columns, and a row stopped by `epochs` or "
             "`max_train_seconds` was cut, not converged.", ""]
    for f in files:
        ev = json.loads(f.read_text())
        k, m = ev["k"], f"recall@{ev['k']}"
        rows = {(r["run"], r["metric"], r["group"]): r for r in ev["rows"]}
        b = ev["base"]
        lines += [f"**{ev['dataset']}** (base {b['model']}, {b['run']}; made at {ev['made_at']})", "",
                  f"| model | {m} | vs base [95% CI] | tail {m} | vs base | sparse users {m} | vs base | "
                  f"coverage@{k} | ARP@{k} | uniformity | minutes | epochs (best, stopped) | commit |",
                  "|" + "---|" * 13]

        def cells(facts, run):
            out = []
            for group in ("all", "items:tail", "users:sparse"):
                r = rows.get((run, m, group))
                if r is None:
                    out += [f"{facts.get('value', '–')}", "–"]
                    continue
                value = r["mean_a"] if facts is b else r["mean_b"]
                diff = "" if facts is b else (_pct(r["rel_diff"]) + ("*" if r["significant"] else "")
                                              + (f" [{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]" if group == "all" else ""))
                out += [f"{value:.4f}", diff]
            return out

        first_run = ev["contrastive"][0]["run"]
        for facts in [b, *ev["contrastive"]]:
            run = first_run if facts is b else facts["run"]
            g = [facts.get(f"coverage@{k}"), facts.get(f"arp@{k}"), facts.get("uniformity")]
            lines.append(" | ".join([f"| {facts['model']}" + (f" ({facts['seeds']} seeds)" if facts["seeds"] > 1 else ""),
                                     *cells(facts, run),
                                     *("–" if v is None else f"{v:.3f}" if i != 1 else f"{v:.1f}" for i, v in enumerate(g)),
                                     f"{facts['minutes']}", f"{facts['epochs']} ({facts['best_epoch']}, {facts['stopped']})",
                                     f"{facts['commit']} |"]))
        verdicts = []
        for c in ev["contrastive"]:
            parts = []
            for group, name in (("all", "overall"), ("items:tail", "tail items"), ("users:sparse", "sparse users")):
                r = rows.get((c["run"], m, group))
                if r is not None:
                    parts.append(f"{name} {_pct(r['rel_diff'])}{' (significant)' if r['significant'] else ' (not significant)'}")
            groups = [(g.split(":", 1)[1], r) for (run, met, g), r in rows.items()
                      if run == c["run"] and met == m and g.startswith("items:")]
            parts.append(f"by item group ({m}): " + ", ".join(
                f"{label} {_pct(r['rel_diff'])}{'*' if r['significant'] else ''}" for label, r in groups))
            verdicts.append(f"{c['model']} against {b['model']}: " + ", ".join(parts))
        lines += ["", "; ".join(verdicts) + ".", "", f"`{ev['command']}`", ""]
    return lines


def copy_evidence(runs_root: Path, names: list[str], evidence: Path) -> None:
    """Each named run's results, per-epoch log, config and data summary (no weights) into ``evidence``."""
    import shutil

    for name in names:
        dst = evidence / name
        dst.mkdir(parents=True, exist_ok=True)
        for f in EVIDENCE:
            if (runs_root / name / f).exists():
                shutil.copy2(runs_root / name / f, dst / f)


def replace_section(text: str, heading: str, body: list[str], before: str = "## Run settings") -> str:
    """``text`` with the section under the line ``heading`` (up to the next ``##``/``###`` heading)
    replaced by ``heading`` + ``body``; a missing section is inserted before the line ``before``."""
    lines = text.split("\n")
    if heading in lines:
        i = lines.index(heading)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ") or lines[k].startswith("### ")),
                 len(lines))
        # a "##" heading's own "###" sub-sections belong to it only when it is a "##" heading
        if heading.startswith("## "):
            j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        return "\n".join(lines[:i] + [heading, ""] + body + lines[j:])
    k = lines.index(before)
    return "\n".join(lines[:k] + [heading, ""] + body + lines[k:])


def update_sections(output: Path, evidence_runs: Path, copy_from: Path | None, copy_names: list[str]) -> None:
    """Regenerate the data-set tables and the issue-15 verdict of an existing docs/results.md from the
    evidence folder (docs/runs), after copying the named new runs into it; the rest of the page
    (ablations, trials, speed), whose runs are not all kept in runs/, is left as it is."""
    if copy_from is not None:
        copy_evidence(copy_from, copy_names, evidence_runs)
    runs = load_runs(evidence_runs)
    text = output.read_text()
    for folder in ("beauty", "yelp-seq"):
        sec = seq_section(runs, folder)
        text = replace_section(text, sec[0], sec[2:])
    sec = graph_section(runs, "yelp-sslrec", published=True)
    text = replace_section(text, sec[0], sec[2:])
    text = replace_section(text, "## Does contrastive learning earn its place? (issue 15)",
                           verdict_section(runs, evidence_runs / "ablation"))
    sec = settings_section(runs)
    text = replace_section(text, sec[0], sec[2:])
    prefix = prefix_section(evidence_runs / "ablation")
    if prefix:
        text = replace_section(text, "## Prefix training on Beauty (issue 15)", prefix,
                               before="## Ablation: SSL loss and training schema")
    unseen = unseen_section(evidence_runs / "unseen", runs)
    if unseen:
        text = replace_section(text, "## Shipped configs on unseen data", unseen,
                               before="## Ablation: SSL loss and training schema")
    where = where_section(evidence_runs / "where")
    if where:
        text = replace_section(text, "## Where contrastive learning earns its place (issue 24)", where,
                               before="## Does contrastive learning earn its place? (issue 15)")
    options = scale_options_section(evidence_runs / "ablation")
    if options:
        text = replace_section(text, "## Large-data options at equal budgets (issue 12)", options,
                               before="## Cost growth with data size (issue 12)")
    if copy_from is not None and (copy_from / "bench" / "scale.json").exists():  # the cost-growth table and plot
        bench = evidence_runs / "bench"
        bench.mkdir(parents=True, exist_ok=True)
        import shutil

        shutil.copy2(copy_from / "bench" / "scale.json", bench / "scale.json")
        scale = scale_section(bench, output.parent / "img" / "scale.png")
        text = replace_section(text, "## Cost growth with data size (issue 12)", scale, before="## Speed")
    output.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--bench", default="runs/bench")
    ap.add_argument("--output", default="docs/results.md")
    ap.add_argument("--preamble", default="benchmarks/results_preamble.md")
    ap.add_argument("--update", nargs="*", metavar="RUN",
                    help="only copy these runs (from --runs) into docs/runs and regenerate the beauty, yelp-seq and "
                         "yelp-sslrec tables and the verdict from docs/runs, leaving the rest of --output as it is")
    a = ap.parse_args(argv)
    if a.update is not None:
        update_sections(Path(a.output), Path(a.output).parent / "runs", Path(a.runs), a.update)
        return 0
    runs = load_runs(Path(a.runs))
    runs.update(load_tuned(Path(a.runs) / "tune"))
    pre = Path(a.preamble).read_text() if Path(a.preamble).exists() else "# Results\n"
    lines = [pre.rstrip(), "", "## Sequential recommendation", ""]
    for folder in ("beauty", "yelp-seq"):
        lines += seq_section(runs, folder)
    lines += ["## Graph collaborative filtering", ""]
    lines += graph_section(runs, "yelp-sslrec", published=True)
    lines += graph_section(runs, "beauty-graph", published=False, root=Path(a.runs))
    lines += ["## Does contrastive learning earn its place? (issue 15)", ""] + verdict_section(runs, Path(a.runs) / "ablation")
    lines += ["## Run settings", ""] + settings_section(runs)
    prefix = prefix_section(Path(a.runs) / "ablation")
    if prefix:
        lines += ["## Prefix training on Beauty (issue 15)", ""] + prefix
    unseen = unseen_section(Path(a.runs) / "unseen", runs)
    if unseen:
        lines += ["## Shipped configs on unseen data", ""] + unseen
    lines += ["## Ablation: SSL loss and training schema", ""] + ablation_section(Path(a.runs) / "ablation", runs)
    lines += ["## Why graph contrastive models need an SSL warm-up", ""] + stall_section(Path(a.bench))
    lines += ["## Hyperparameter trials (validation only)", ""] + trials_section(Path(a.runs) / "trials")
    searches = tuning_section(Path(a.runs) / "tune")
    if searches:
        lines += ["### Searches (`contrastrec tune`, validation only; the best trial is the `-tuned` row above)", ""]
        lines += searches
    options = scale_options_section(Path(a.runs) / "ablation")
    if options:
        lines += ["## Large-data options at equal budgets (issue 12)", ""] + options
    scale = scale_section(Path(a.bench), Path("docs/img/scale.png"))
    if scale:
        lines += ["## Cost growth with data size (issue 12)", ""] + scale
    lines += ["## Speed", "",
              "Written by `python benchmarks/graph_speed.py --epochs 2 --simgcl-separate --json-out runs/bench/graph_speed.json` "
              "(1 thread, median of 2 epochs, nothing else running) and "
              "`python benchmarks/seq_speed.py --threads 1 --steps 30 --json-out runs/bench/seq_speed.json` "
              "(1 thread, on the shared 2-core machine while another training ran on the other core), "
              "`python benchmarks/eval_speed.py --repeat 2 --json-out runs/bench/eval_speed.json` and "
              "`python benchmarks/retrieval_speed.py --run runs/yelp-sslrec-lightgcn --large-items 1000000 "
              "--large-kinds ivf --threads 1 --json-out runs/bench/retrieval_speed.json`.", ""]
    lines += speed_summary(Path(a.bench))
    lines += ["### Raw benchmark output", ""] + bench_section(Path(a.bench))
    Path(a.output).write_text("\n".join(lines) + "\n")
    # keep the evidence next to the table: each run's results, per-epoch log and config (no weights)
    import shutil

    evidence = Path(a.output).parent / "runs"
    for name in runs:
        dst = evidence / name
        dst.mkdir(parents=True, exist_ok=True)
        src_dir = Path(a.runs) / name
        if name.endswith("-tuned") and not src_dir.exists():
            src_dir = Path(a.runs) / "tune" / name[: -len("-tuned")] / "best"
        for f in ("results.json", "log.jsonl", "config.yaml", "dataset.json", "eval_history.json"):
            src = src_dir / f
            if src.exists():
                shutil.copy(src, dst / f)
    for p in sorted((Path(a.runs) / "trials").glob("*/log.jsonl")) + sorted((Path(a.runs) / "ablation").glob("*/log.jsonl")):
        dst = evidence / p.parent.parent.name / p.parent.name
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst / "log.jsonl")
        if (p.parent / "results.json").exists():
            shutil.copy(p.parent / "results.json", dst / "results.json")
    bench_dst = evidence / "bench"
    for p in sorted(Path(a.bench).glob("*.json")):
        bench_dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, bench_dst / p.name)
    print(f"wrote {a.output} ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
