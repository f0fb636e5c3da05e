"""Helpers for benchmarks/sslrec_side_by_side.sh (running the reference HKUDS/SSLRec next to ours).

No SSLRec code lives here: this only writes its input files, time-stamps its console output and
parses that output into a JSON curve.

    python benchmarks/sslrec_data.py convert ../shared/datasets/yelp-sslrec OUT_DIR
        train.txt / valid.txt / test.txt (adjacency lists ``user item item ...``, ids from 0) ->
        OUT_DIR/{train_mat,valid_mat,test_mat}.pkl: pickled scipy.sparse.coo_matrix, float64, every
        value 1, shape [n_users, n_items] (largest id + 1 over the three files), the layout SSLRec's
        data_utils/data_handler_general_cf.py loads (pickle.load, != 0, coo_matrix).
    ... | python benchmarks/sslrec_data.py stamp > LOG
        prefixes every line of stdin with the wall time (unix seconds) it arrived at.
    python benchmarks/sslrec_data.py curve LOG OUT.json --commit C --command CMD --config YML [--notes N]
        SSLRec's console lines "[Epoch   e /   E] ..." (end of an epoch's training),
        "Epoch   e Validation set [recall@10: ...] Validation set [ndcg@10: ...]" and the final
        "Test set [...]" -> {"epochs": [{"epoch", "seconds", "valid_seconds", "valid"}], "test"}.
    python benchmarks/sslrec_data.py compare THEIRS.json OURS_LOG.jsonl [--shift S]
        a Markdown table of validation recall@10 / recall@20 / ndcg@20, theirs vs ours. Both sides
        number epochs from 0 (epoch e = after e + 1 epochs of training); a row pairs their epoch e with
        our epoch e + S (S = 0: the same epoch). With --loss bpr_loss:rec ...: training losses per epoch.
    python benchmarks/sslrec_data.py ours-test RUN_DIR [--out OUT.json]
        our run's best checkpoint on the test set under both exclusions: train + valid (our protocol,
        as in the run's results.json) and train only (SSLRec's: its test ranking masks only training items).
"""
from __future__ import annotations

import argparse
import json
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FILES = {"train": "train_mat.pkl", "valid": "valid_mat.pkl", "test": "test_mat.pkl"}


def _read_lists(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        u = int(parts[0])
        for i in parts[1:]:
            rows.append(u)
            cols.append(int(i))
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)


def convert(src: Path, out: Path) -> None:
    parts = {name: _read_lists(src / f"{name}.txt") for name in FILES}
    n_users = 1 + max(int(r.max()) for r, _ in parts.values())
    n_items = 1 + max(int(c.max()) for _, c in parts.values())
    out.mkdir(parents=True, exist_ok=True)
    for name, (r, c) in parts.items():
        mat = sp.coo_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n_users, n_items))
        mat.sum_duplicates()
        with open(out / FILES[name], "wb") as f:
            pickle.dump(mat, f)
        print(f"{out / FILES[name]}: coo_matrix {mat.shape} {mat.dtype}, nnz {mat.nnz}")


def stamp() -> None:
    for line in sys.stdin:
        sys.stdout.write(f"{time.time():.3f} {line}")
        sys.stdout.flush()


_LOSS = re.compile(r"^\[Epoch\s+(\d+)\s*/\s*\d+\]\s*(.*)$")
_EVAL = re.compile(r"^(?:Epoch\s+(\d+)\s+)?(Validation set|Test set)\s*\[(.*)$")
_METRIC = re.compile(r"([a-z]+)@(\d+):\s*([-0-9.eE]+)")


def _metrics(text: str) -> dict:
    return {f"{m}@{k}": float(v) for m, k, v in _METRIC.findall(text)}


def curve(log: Path, commit: str, command: str, config: Path, notes: str, dataset: str = "yelp",
          device: str = "cpu") -> dict:
    import yaml  # SSLRec itself needs PyYAML

    epochs, test, final_valid, start, last = [], None, None, None, None
    losses = {}
    for raw in log.read_text(errors="replace").splitlines():
        ts, _, line = raw.partition(" ")
        try:
            t = float(ts)
        except ValueError:
            continue
        line = line.strip()
        if start is None:
            start = last = t  # first console line: the configuration, printed once the data are loaded
        m = _LOSS.match(line)
        if m:
            e = int(m.group(1))
            losses = {k: float(v) for k, v in re.findall(r"(\w+):\s*([-0-9.eE]+)", m.group(2))}
            epochs.append({"epoch": e, "seconds": round(t - last, 3), "loss": losses})
            last = t
            continue
        m = _EVAL.match(line)
        if m:
            vals = _metrics(line)
            if m.group(2) == "Test set":
                test = vals
            elif m.group(1) is not None and epochs and epochs[-1]["epoch"] == int(m.group(1)):
                epochs[-1]["valid_seconds"] = round(t - last, 3)
                epochs[-1]["valid"] = vals
                last = t
            else:
                final_valid = vals  # the best checkpoint validated again after early stopping
    cfg = yaml.safe_load(config.read_text())
    cfg.pop("tune", None)
    cfg["data"]["name"] = dataset  # main.py --dataset overrides the file's data name
    cfg["device"] = device  # main.py --device
    return {
        "sslrec_commit": commit,
        "command": command,
        "config": cfg,
        "epoch_numbering": "SSLRec's epoch_idx, from 0: epoch e is logged after e + 1 epochs of training",
        "epochs": epochs,
        "best_valid_again": final_valid,
        "test": test,
        "wall_seconds": round(last - start, 1) if start is not None else None,
        "notes": notes,
    }


def _ours(path: Path) -> dict[int, dict]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            if "valid" in rec:
                out[int(rec["epoch"])] = rec
    return out


def compare_loss(theirs: Path, ours: Path, shift: int, pairs: list[str], last: int) -> str:
    th = json.loads(theirs.read_text())
    ou = {}
    for line in ours.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            ou[int(rec["epoch"])] = rec
    pairs = [tuple(p.split(":")) for p in pairs]
    rows = ["| their epoch | our epoch | " + " | ".join(f"{a} theirs | {b} ours" for a, b in pairs) + " |",
            "|" + "---|" * (2 + 2 * len(pairs))]
    for rec in th["epochs"]:
        e = rec["epoch"]
        if last >= 0 and e > last:
            break
        o = ou.get(e + shift)
        cells = [str(e), str(e + shift) if o else "-"]
        for a, b in pairs:
            cells.append(f"{rec['loss'][a]:.4f}" if a in rec.get("loss", {}) else "-")
            cells.append(f"{o[b]:.4f}" if o and b in o else "-")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def compare(theirs: Path, ours: Path, shift: int, keys: list[str]) -> str:
    th = json.loads(theirs.read_text())
    ou = _ours(ours)
    head = "| their epoch | our epoch | " + " | ".join(f"{k} theirs | {k} ours" for k in keys) + " |"
    rows = [head, "|" + "---|" * (2 + 2 * len(keys))]
    for rec in th["epochs"]:
        if "valid" not in rec:
            continue
        e = rec["epoch"]
        o = ou.get(e + shift)
        cells = [str(e), str(e + shift) if o else "-"]
        for k in keys:
            cells.append(f"{rec['valid'].get(k, float('nan')):.4f}")
            cells.append(f"{o['valid'][k]:.4f}" if o else "-")
        rows.append("| " + " | ".join(cells) + " |")
    med = lambda xs: f"{float(np.median(xs)):.1f}" if xs else "-"  # noqa: E731
    ours_all = [json.loads(x) for x in ours.read_text().splitlines() if x.strip()]
    rows.append("")
    rows.append(f"median seconds per epoch (training only): theirs {med([r['seconds'] for r in th['epochs']])} "
                f"({len(th['epochs'])} epochs), ours {med([r['seconds'] for r in ours_all])} ({len(ours_all)} epochs); "
                f"per validation: theirs {med([r['valid_seconds'] for r in th['epochs'] if 'valid_seconds' in r])}, "
                f"ours {med([r['eval_seconds'] for r in ours_all if 'eval_seconds' in r])}")
    return "\n".join(rows)


def ours_test(run_dir: Path) -> dict:
    import torch

    from contrastrec.evaluation.evaluator import evaluate
    from contrastrec.serving.run import load_run

    torch.set_num_threads(1)
    run = load_run(run_dir)
    ds = run.dataset
    users, items = (torch.from_numpy(x) for x in run.embeddings("test"))
    n_u, n_i = int(ds.n_users), int(ds.n_items)
    targets = ds.targets("test").csr(n_u, n_i)
    ks = tuple(run.cfg.ks)
    out = {"run": str(run_dir), "best_epoch": run.results.get("best_epoch")}
    for name, excl in (("test_exclude_train_valid", ds.history("test")), ("test_exclude_train", ds.history("valid"))):
        res = evaluate(lambda u: users[u] @ items.T, None, targets, excl.csr(n_u, n_i), ks, ("recall", "ndcg"))
        out[name] = {k: round(float(v), 6) for k, v in res.items()}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert")
    c.add_argument("src", type=Path)
    c.add_argument("out", type=Path)
    sub.add_parser("stamp")
    c = sub.add_parser("curve")
    c.add_argument("log", type=Path)
    c.add_argument("out", type=Path)
    c.add_argument("--commit", required=True)
    c.add_argument("--command", required=True)
    c.add_argument("--config", type=Path, required=True)
    c.add_argument("--notes", default="")
    c.add_argument("--dataset", default="yelp")
    c.add_argument("--device", default="cpu")
    c = sub.add_parser("compare")
    c.add_argument("theirs", type=Path)
    c.add_argument("ours", type=Path)
    c.add_argument("--shift", type=int, default=0)
    c.add_argument("--keys", nargs="+", default=["recall@10", "recall@20", "ndcg@20"])
    c.add_argument("--loss", nargs="+", metavar="THEIRS:OURS",
                   help="instead: a table of training losses per epoch, e.g. bpr_loss:rec (ours: log.jsonl keys)")
    c.add_argument("--last", type=int, default=-1, help="with --loss: up to their epoch LAST")
    c = sub.add_parser("ours-test")
    c.add_argument("run", type=Path)
    c.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "convert":
        convert(a.src, a.out)
    elif a.cmd == "stamp":
        stamp()
    elif a.cmd == "curve":
        res = curve(a.log, a.commit, a.command, a.config, a.notes, a.dataset, a.device)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=1) + "\n")
        print(f"{a.out}: {len(res['epochs'])} epochs, {sum('valid' in e for e in res['epochs'])} validations, "
              f"test {'yes' if res['test'] else 'no'}")
    elif a.cmd == "ours-test":
        res = ours_test(a.run)
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            a.out.write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps(res, indent=1))
    elif a.loss:
        print(compare_loss(a.theirs, a.ours, a.shift, a.loss, a.last))
    else:
        print(compare(a.theirs, a.ours, a.shift, a.keys))


if __name__ == "__main__":
    main()
