"""The ``contrastrec`` command."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contrastrec import __version__


def _print_table(rows: list[dict], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols), "  ".join("-" * widths[c] for c in cols)]
    for r in rows:
        lines.append("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in cols))
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


# --------------------------------------------------------------------------- dataset loading
def load_for_config(cfg, dataset_path: str | None = None):
    from contrastrec.data import load_dataset

    path = dataset_path or cfg.dataset
    if not path:
        raise SystemExit("error: no dataset given (use --dataset PATH or `dataset:` in the config)")
    return load_dataset(path, format=cfg.format or None, split=cfg.split, seed=cfg.seed,
                        k_core=cfg.k_core, unseen_users=cfg.unseen_users)


# --------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from contrastrec.config import build_config, parse_set_args
    from contrastrec.training.loop import fit

    overrides = parse_set_args(args.set or [])
    if args.device:
        overrides["device"] = args.device
    if args.dataset:
        overrides["dataset"] = str(args.dataset)
    if args.format:
        overrides["format"] = args.format
    if args.resume:
        from contrastrec.config import config_from_dict
        from contrastrec.training.checkpoint import load_checkpoint

        ck = load_checkpoint(Path(args.resume) / "last.pt")
        cfg = config_from_dict(ck["config"])
        ds = load_for_config(cfg)
        res = fit(cfg, ds, args.resume, resume=True, progress=not args.quiet)
        print(json.dumps({"test": res["test"], "best_epoch": res["best_epoch"]}, indent=2))
        return 0
    if not args.output:
        raise SystemExit("error: --output DIR is required (or --resume DIR)")
    cfg = build_config(args.model, args.config, overrides)
    ds = load_for_config(cfg)
    print(f"dataset {ds.name}: {ds.n_users} users, {ds.n_items} items, "
          f"{len(ds.train)}/{len(ds.valid)}/{len(ds.test)} train/valid/test")
    res = fit(cfg, ds, args.output, progress=not args.quiet)
    print(json.dumps({"model": res["model"], "best_epoch": res["best_epoch"], "valid": res["valid"],
                      "test": res["test"]}, indent=2))
    print(f"wrote {Path(args.output) / 'results.json'}")
    return 0


def cmd_evaluate(args) -> int:
    from contrastrec.config import config_from_dict
    from contrastrec.evaluation import FullRankingEvaluator
    from contrastrec.training.checkpoint import load_checkpoint
    from contrastrec.training.loop import build_model, evaluate_model

    run = Path(args.run)
    ck = load_checkpoint(run / "best.pt")
    cfg = config_from_dict(ck["config"])
    ds = load_for_config(cfg, args.dataset)
    model = build_model(cfg, ds)
    model.load_state_dict(ck["model"])
    out = {}
    for phase in ("valid", "test"):
        ev = FullRankingEvaluator(ds, phase, ks=cfg.ks, chunk_size=cfg.eval_batch_size)
        out[phase] = evaluate_model(model, ds, phase, ev, cfg.max_len)
    print(json.dumps(out, indent=2))
    return 0


def cmd_models(args) -> int:
    from contrastrec.config import MODEL_DESCRIPTIONS, MODELS

    for name in MODELS:
        print(f"{name:10s} {MODEL_DESCRIPTIONS.get(name, '')}")
    return 0


def cmd_datasets(args) -> int:
    from contrastrec.data import describe_datasets

    root = Path(args.root)
    rows = describe_datasets(root)
    if not rows:
        print(f"no data sets found under {root}")
        return 0
    print(_print_table(rows, list(rows[0].keys())))
    return 0


def cmd_demo(args) -> int:
    from contrastrec.demo import run_demo

    run_demo(output=args.output, quick=args.quick, models=args.models)
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="contrastrec",
        description="Contrastive self-supervised learning for recommender systems: train, evaluate "
        "(full ranking, validation-selected, test once), and compare.",
    )
    p.add_argument("--version", action="version", version=f"contrastrec {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model, select on validation, test once, write results.json",
                       description="Train MODEL on DATASET; the epoch is selected on validation and the test "
                       "set is evaluated once on the selected checkpoint. Writes DIR/results.json, "
                       "DIR/log.jsonl, DIR/best.pt, DIR/last.pt, DIR/config.yaml and DIR/id_maps.json.")
    t.add_argument("--model", help="model name (see `contrastrec models`)")
    t.add_argument("--dataset", help="data file or folder (format detected from content)")
    t.add_argument("--format", help="force the input format (lists, triples, atomic, parquet)")
    t.add_argument("--config", help="YAML config file; --set values override it")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override config keys, e.g. --set lr=1e-3 ssl.weight=0.1 (repeatable)")
    t.add_argument("--output", help="run directory")
    t.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR")
    t.add_argument("--device", choices=["cpu", "cuda", "auto"], help="device (default from config: auto)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="re-evaluate a saved run on validation and test",
                       description="Rebuild the run's data split and model from DIR/best.pt and print metrics.")
    e.add_argument("--run", required=True, help="run directory")
    e.add_argument("--dataset", help="override the data path stored in the run")
    e.set_defaults(func=cmd_evaluate)

    m = sub.add_parser("models", help="list the available models")
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("datasets", help="list the data sets found in a folder")
    d.add_argument("--root", default="../shared/datasets", help="folder to scan (default: ../shared/datasets)")
    d.set_defaults(func=cmd_datasets)

    dm = sub.add_parser("demo", help="train the models on a synthetic data set and print a comparison",
                        description="Generate a synthetic data set with planted structure (user groups, item "
                        "clusters, popularity skew, sequential patterns), train every model on it, and print "
                        "a table with popularity as the floor. Needs no download.")
    dm.add_argument("--output", default=None, help="keep the runs here (default: a temporary folder)")
    dm.add_argument("--quick", action="store_true", help="even smaller, for tests")
    dm.add_argument("--models", nargs="*", help="subset of models to run")
    dm.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from contrastrec.config import ConfigError
    from contrastrec.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (DataError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: resume with `contrastrec train --resume DIR`", file=sys.stderr)
        return 130
    except Exception as e:
        from contrastrec.training.loop import TrainingError

        if isinstance(e, TrainingError):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
