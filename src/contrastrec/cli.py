"""The ``contrastrec`` command."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from contrastrec import __version__
from contrastrec.seeds import is_seeds_run, resume_seeds, train_seeds
from contrastrec.summary import run_summary, seeds_summary
from contrastrec.table import format_table


# --------------------------------------------------------------------------- commands
def _launch_torchrun(nproc: int, argv: list[str]) -> int:
    """``contrastrec train --nproc N ...``: the same command under ``torchrun --nproc-per-node N``
    (one machine; for several machines run torchrun yourself, see docs/scale.md)."""
    import subprocess

    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "contrastrec", *rest]
    return subprocess.call(cmd)


def cmd_train(args) -> int:
    import os

    if args.nproc and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _launch_torchrun(args.nproc, args.argv)
    from contrastrec.training.distributed import shutdown

    try:
        return _train(args)
    finally:
        shutdown()


def _train(args) -> int:
    from contrastrec.config import build_config, parse_set_args
    from contrastrec.data import dataset_for
    from contrastrec.training.distributed import init_from_env
    from contrastrec.training.loop import fit
    from contrastrec.training.rundir import RunDir

    overrides = parse_set_args(args.set or [])
    if args.device:
        overrides["device"] = args.device
    if args.dataset:
        overrides["dataset"] = str(args.dataset)
    if args.format:
        overrides["format"] = args.format
    if args.resume and is_seeds_run(args.resume):
        return _resume_seeds(args, overrides)
    if args.resume:
        from contrastrec.config import resume_config
        from contrastrec.training.checkpoint import load_checkpoint

        from contrastrec.training.checkpoint import config_of

        last = Path(args.resume) / "last.pt"
        ck = load_checkpoint(last)
        cfg = resume_config(config_of(ck, last), overrides)
        _check_resume_options(args, cfg.model)
        main = init_from_env(cfg.device).main
        ds = dataset_for(cfg, id_maps=Path(args.resume) / "id_maps.json")
        with _tracker(args if main else None, args.resume) as tracker:
            res = fit(cfg, ds, args.resume, resume=True, progress=not args.quiet, tracker=tracker,
                      resume_overrides=overrides)
        if main:
            _print_summary(res, args.resume, args.json)
        return 0
    if not args.output:
        raise SystemExit("error: --output DIR is required (or --resume DIR)")
    cfg = build_config(args.model, args.config, overrides)
    main = init_from_env(cfg.device).main
    if args.seeds > 1 and (not main or args.track or args.nproc > 1):
        raise SystemExit("error: --seeds: one process and no --track (each seed is its own run)")
    with _removed_if_left_empty(args.output if main else None):
        if main:  # before the data is read: a bad folder fails fast
            _check_output(args.output, args.overwrite, cfg.dataset)
        ds = dataset_for(cfg)
        if main:  # the data is read: the run it replaces may go (before the tracker writes into the folder)
            print(f"dataset {ds.name}: {ds.n_users} users, {ds.n_items} items, "
                  f"{len(ds.train)}/{len(ds.valid)}/{len(ds.test)} train/valid/test")
            RunDir(args.output).prepare_new(args.overwrite, cfg.dataset or None)
        if args.seeds > 1:
            summary = train_seeds(cfg, ds, args.output, args.seeds, fit, progress=not args.quiet)
            print(seeds_summary(summary, args.output))
            return 0
        with _tracker(args if main else None, args.output) as tracker:
            res = fit(cfg, ds, args.output, progress=not args.quiet, tracker=tracker, prepare=False)
    if main:
        _print_summary(res, args.output, args.json)
    return 0


@contextlib.contextmanager
def _removed_if_left_empty(output: str | None):
    """A run folder this command created is removed again when the command fails before writing
    anything into it (bad data, a refused config): no empty folders left behind."""
    created = output is not None and not Path(output).exists()
    try:
        yield
    except BaseException:
        if created and Path(output).is_dir() and not any(Path(output).iterdir()):
            Path(output).rmdir()
        raise


def _resume_seeds(args, overrides) -> int:
    from contrastrec.data import dataset_for
    from contrastrec.training.loop import fit

    if args.model or args.output or args.config or args.overwrite or args.seeds > 1:
        raise SystemExit(f"error: {args.resume}: a --seeds folder resumes with its own plan; drop --model, "
                         "--output, --config, --overwrite and --seeds")
    summary = resume_seeds(args.resume, dataset_for, fit, overrides, progress=not args.quiet)
    print(seeds_summary(summary, args.resume))
    return 0


def _check_resume_options(args, model: str) -> None:
    """A resumed run keeps its model, folder and config: an option that says otherwise is refused
    (it would be ignored)."""
    from contrastrec.config import RESUME_KEYS
    from contrastrec.training.rundir import RunDirError

    run = Path(args.resume)
    if args.model and args.model != model:
        raise RunDirError(f"--model {args.model}: {run} is a {model} run, and a resumed run keeps its model; "
                          "drop --model, or start a new run with --output")
    if args.output and Path(args.output).resolve() != run.resolve():
        raise RunDirError(f"--output {args.output}: a resumed run writes to its own folder ({run}); drop --output")
    if args.config:
        raise RunDirError(f"--config {args.config}: a resumed run keeps the config saved in {run / 'last.pt'}; "
                          f"drop --config (only {', '.join(RESUME_KEYS)} may change, with --set)")
    if args.overwrite:
        raise RunDirError(f"--overwrite: a resumed run continues {run} and replaces nothing; drop --overwrite")


def _print_summary(res: dict, run_dir, as_json: bool = False) -> None:
    """The short summary (summary.py), or with ``--json`` the run's results.json as written."""
    if as_json:
        print(json.dumps(res, indent=2))
    else:
        print(run_summary(res, run_dir))


def cmd_refit(args) -> int:
    """Second step of a validation-selected run: retrain on train + valid for the selected number
    of epochs (same config, seed and schedule), then test that final model once."""
    from contrastrec.data import dataset_for
    from contrastrec.config import apply_overrides, config_from_dict, parse_set_args, validate
    from contrastrec.training.checkpoint import atomic_write_json
    from contrastrec.training.loop import fit

    from contrastrec.config import ConfigError
    from contrastrec.training.rundir import RunDir, RunDirError, holds

    run = Path(args.run)
    if holds(Path(args.output), run):
        raise RunDirError(f"--output {args.output}: holds the selected run {run}, which the refit reads; "
                          "choose another --output")
    res_path = run / "results.json"
    if not res_path.exists():
        raise SystemExit(f"error: {res_path} not found: refit needs a finished, validation-selected run")
    selected = RunDir(run).read_results()  # a corrupt file: one line naming it
    if not isinstance(selected, dict) or not isinstance(selected.get("config"), dict) or "best_epoch" not in selected:
        raise RunDirError(f"{res_path}: not the results of a run (no config or best_epoch)")
    try:
        src_cfg = config_from_dict(selected["config"])
    except ConfigError as e:
        raise ConfigError(f"{res_path}: its saved config is not valid here ({e})") from None
    if src_cfg.refit:
        raise SystemExit(f"error: {run} is itself a refit")
    pre = src_cfg.pretrain_epochs if src_cfg.schema == "pretrain_finetune" else 0
    best_epoch = _selected_epoch(selected["best_epoch"], pre, pre + src_cfg.epochs, res_path)
    epochs = best_epoch + 1 - pre
    overrides = parse_set_args(args.set or [])
    bad = sorted(k for k in overrides if k not in ("threads", "device", "eval_batch_size"))
    if bad:
        raise SystemExit(f"error: a refit repeats the selected run; only threads, device, eval_batch_size may "
                         f"change (got {', '.join(bad)})")
    cfg = config_from_dict(src_cfg.to_dict())
    apply_overrides(cfg, {**overrides, "refit": True, "epochs": epochs, "max_train_seconds": 0}, source="refit")
    validate(cfg)
    _check_output(args.output, args.overwrite, args.dataset or cfg.dataset)
    ds = dataset_for(cfg, args.dataset, id_maps=run / "id_maps.json")  # the selected run's data, row for row
    res = fit(cfg, ds, args.output, progress=not args.quiet, overwrite=args.overwrite)
    res["refit_of"] = {"run": str(run), "best_epoch": best_epoch, "valid": selected.get("valid")}
    atomic_write_json(Path(args.output) / "results.json", res)
    print(json.dumps({"model": res["model"], "epochs": epochs, "test": res["test"]}, indent=2))
    return 0


def _selected_epoch(value, first: int, n_epochs: int, source: Path) -> int:
    """``best_epoch`` of a results file: a whole number from ``first`` (after ``first`` epochs of
    pre-training) to ``n_epochs - 1`` (the epochs the run was set to train), else a one-line
    RunDirError naming the file."""
    from contrastrec.training.rundir import RunDirError

    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or not 0 <= value < n_epochs:
        raise RunDirError(f"{source}: best_epoch: expected a whole number from {first} to {n_epochs - 1} "
                          f"(the run's epochs), got {value!r}")
    if value < first:
        raise RunDirError(f"{source}: best_epoch: {int(value)} is a pre-training epoch (fine-tuning starts at "
                          f"epoch {first}), so there is no fine-tuned model to refit")
    return int(value)


def _check_output(output: str, overwrite: bool, dataset: str | None = None) -> None:
    """Before the data is read: a new run's folder is created and writable, and empty or (with
    --overwrite) a run that no process holds and not the folder of ``dataset``. It is emptied
    (``RunDir.prepare_new``) once the data is read, so a bad data set leaves the old run as it was."""
    import os
    import tempfile

    from contrastrec.training.checkpoint import WriteError
    from contrastrec.training.rundir import RunDir

    run = RunDir(output)
    try:
        run.check_new(overwrite, dataset or None)
        run.path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=run.path).close()
    except OSError as e:
        raise WriteError(e.errno, f"{output}: cannot write the run folder ({os.strerror(e.errno).lower() if e.errno else e})") from None


@contextlib.contextmanager
def _tracker(args, run_dir):
    """The ``--track`` tracker for ``run_dir`` (None without --track), closed afterwards."""
    if args is None or not getattr(args, "track", None):
        yield None
        return
    from contrastrec.tracking import MissingExtra, make_tracker

    try:
        tracker = make_tracker(args.track, run_dir, args.track_uri)
    except MissingExtra as e:
        raise _fail(str(e)) from None
    try:
        yield tracker
    finally:
        tracker.close()


def cmd_evaluate(args) -> int:
    from contrastrec.serving.run import run_dataset
    from contrastrec.training.checkpoint import load_checkpoint
    from contrastrec.training.loop import build_model, evaluate_model, make_evaluator

    from contrastrec.training.checkpoint import config_of, load_weights

    run = Path(args.run)
    ck = load_checkpoint(run / "best.pt")
    cfg = config_of(ck, run / "best.pt")
    if args.eval_graph:  # a key either acts or is refused
        from contrastrec.config import inert_keys

        reason = inert_keys(cfg).get("eval_graph")
        if reason:
            raise _fail(f"--eval-graph: does nothing for model {cfg.model}: {reason}")
    # the data must map raw ids to the rows the run was trained with (a user-rotated copy is refused)
    ds = run_dataset(run, cfg, args.dataset)
    model = build_model(cfg, ds)
    load_weights(model, ck.get("model"), run / "best.pt")
    import dataclasses

    from contrastrec.evaluation.groups import summarize_groups
    from contrastrec.training.loop import final_evaluation, make_groups, write_per_user
    from contrastrec.training.rundir import RunDir

    eval_graph = args.eval_graph or cfg.eval_graph
    cfg = dataclasses.replace(cfg, eval_graph=eval_graph)
    per_user = Path(args.per_user) if args.per_user else None
    if per_user is not None:  # never over a file: not the run's own, nor an earlier evaluation's
        names = [RunDir.per_user_name("valid"), RunDir.per_user_name("test"), RunDir.DATASET, RunDir.ID_MAPS]
        taken = [per_user / n for n in names if (per_user / n).exists()]
        if taken or (per_user.exists() and not per_user.is_dir()):
            raise _fail(f"--per-user {per_user}: {taken[0] if taken else per_user} exists; give a new folder")
    groups = make_groups(ds, cfg)
    out, detailed = {}, {}
    for phase in ("valid", "test"):
        out[phase], detailed[phase] = final_evaluation(model, ds, phase, make_evaluator(ds, phase, cfg), cfg, groups)
    out["eval_graph"] = eval_graph
    if groups is not None:
        out["groups"] = {phase: summarize_groups(r, groups) for phase, r in detailed.items()}
        if per_user is not None:  # a folder `compare` reads: per-user values, the split's fingerprint, the ids
            from contrastrec.training.checkpoint import atomic_write_json

            for phase, r in detailed.items():
                write_per_user(per_user / RunDir.per_user_name(phase), r, groups, ds)
            ds.save_id_maps(per_user / RunDir.ID_MAPS)
            atomic_write_json(per_user / RunDir.DATASET, {**ds.summary(), "evaluated_run": str(run.resolve()),
                                                          "model": cfg.model})
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
    print(format_table(rows, list(rows[0].keys())))
    return 0


def cmd_demo(args) -> int:
    from contrastrec.demo import run_demo

    run_demo(output=args.output, quick=args.quick, models=args.models)
    return 0


# --------------------------------------------------------------------------- from a run to users
def _fail(message: str) -> SystemExit:
    """Print ``error: message`` and return the SystemExit (status 2) to raise."""
    print(f"error: {message}", file=sys.stderr)
    return SystemExit(2)


def cmd_export(args) -> int:
    from contrastrec.export import export_run

    meta = export_run(args.run, args.output, args.format, args.dataset, args.overwrite)
    print(f"exported {meta['model']} ({meta['dataset']['n_users']} users, {meta['dataset']['n_items']} items, "
          f"dimension {meta['dimension']}) to {args.output}: {', '.join(meta['files'])}, metadata.json")
    return 0


def cmd_recommend(args) -> int:
    from contrastrec.serving import BadRequest, Engine, UnknownId, load_run

    if args.user is None and not args.history:
        raise _fail("give --user RAW_ID and/or --history ITEM [ITEM ...]")
    engine = Engine(load_run(args.run, args.dataset))
    try:
        items = engine.recommend(args.user, args.history, args.k, args.include_seen)
    except (UnknownId, BadRequest) as e:
        raise _fail(str(e)) from None
    if args.json:
        based_on, history = engine.basis(args.user, args.history)
        print(json.dumps({"model": engine.model_name, "user": args.user, "based_on": based_on, "history": history,
                          "items": [{"id": i.id, "score": i.score} for i in items]}))
    else:
        rows = [{"rank": r + 1, "item": i.id, "score": i.score} for r, i in enumerate(items)]
        print(format_table(rows, ["rank", "item", "score"]) if rows else "no items left to recommend")
    return 0


def cmd_serve(args) -> int:
    from contrastrec.serving.app import BadAddress, serve
    from contrastrec.tracking import MissingExtra

    try:
        serve(args.run, args.host, args.port, args.threads, args.dataset, args.log_level)
    except (MissingExtra, BadAddress) as e:
        raise _fail(str(e)) from None
    return 0


def cmd_tune(args) -> int:
    from contrastrec.config import ConfigError, parse_set_args
    from contrastrec.tracking import MissingExtra
    from contrastrec.tuning import load_space, tune_models

    models = args.model
    spaces = {}
    for item in args.space or []:  # PATH (one model) or MODEL=PATH
        name, sep, path = item.rpartition("=")
        if not sep and len(models) > 1:
            raise ConfigError(f"--space {item}: with several --model, write --space MODEL=PATH")
        name = name if sep else models[0]
        if name not in models:
            raise ConfigError(f"--space {item}: {name!r} is not a tuned --model")
        spaces[name] = load_space(path, name)
    try:
        res = tune_models(models, args.dataset, args.trials, args.output, spaces, parse_set_args(args.set or []),
                          budget_seconds=args.budget_seconds)
    except MissingExtra as e:
        raise _fail(str(e)) from None
    print(json.dumps(res, indent=2))
    return 0


def cmd_plot(args) -> int:
    from contrastrec.plots import PlotOutputError, plot_curves, plot_embeddings

    if args.what == "curves" and len(args.run) != 1:
        raise _fail("plot curves takes one --run (use `contrastrec report` to compare runs)")
    try:  # the output is checked before any run is read
        if args.what == "embeddings":
            out = plot_embeddings(args.run, args.output, max_points=args.max_points, dataset=args.dataset,
                                  overwrite=args.overwrite)
        else:
            out = plot_curves(args.run[0], args.output, overwrite=args.overwrite)
    except PlotOutputError as e:
        raise _fail(str(e)) from None
    print(f"wrote {out}")
    return 0


def cmd_compare(args) -> int:
    from contrastrec.compare import CompareError, compare_runs, format_table, rows_json

    if args.bootstrap < 100 or not 0 < args.level < 1 or not 0 < args.alpha < 1:
        raise _fail("compare: --bootstrap must be >= 100, --level and --alpha in (0, 1)")
    try:
        rows = compare_runs(args.runs, metrics=args.metrics, n_boot=args.bootstrap, level=args.level,
                            alpha=args.alpha, seed=args.seed)
    except CompareError as e:
        raise _fail(str(e)) from None
    if args.json:
        print(rows_json(rows))
    else:
        print(format_table(rows, args.level))
        n = sum(r.significant for r in rows)
        print(f"{n} of {len(rows)} differences significant (Wilcoxon signed-rank, Holm-corrected over all rows, "
              f"alpha {args.alpha}); base: {args.runs[0]}")
    return 0


def cmd_report(args) -> int:
    from contrastrec.report import write_report

    out = write_report(args.runs, args.output, args.dataset, warn=lambda m: print(m, file=sys.stderr),
                       metrics=args.metrics, overwrite=args.overwrite)
    print(f"wrote {out}")
    return 0


def add_serving_commands(sub) -> None:
    """export, recommend, serve, tune, plot and report."""
    ex = sub.add_parser("export", help="export user/item embeddings (and the sequence encoder) of a run",
                        description="Write users/items embeddings keyed by raw ids and metadata.json into "
                        "OUTPUT (a folder). Scores are inner products. Sequential models: users are encoded "
                        "from their test-time history (train + valid); encoder.pt encodes new histories "
                        "(contrastrec.export.load_encoder).")
    ex.add_argument("--run", required=True, help="run directory")
    ex.add_argument("--output", required=True, help="output folder")
    ex.add_argument("--format", choices=["parquet", "npy"], default="parquet", help="default: parquet")
    ex.add_argument("--dataset", help="override the data path stored in the run")
    ex.add_argument("--overwrite", action="store_true",
                    help="replace the export in --output (only a folder that holds an export and nothing else)")
    ex.set_defaults(func=cmd_export)

    r = sub.add_parser("recommend", help="top-k items for a user or a history of items",
                       description="Recommend for a known user (graph models: its embedding; sequential models: "
                       "its full known history encoded) or for --history raw item ids (sequential models: the "
                       "encoded history; graph models: the mean of the items' embeddings). The user's train, "
                       "valid and test items and the history items are excluded unless --include-seen.")
    r.add_argument("--run", required=True, help="run directory")
    r.add_argument("--user", help="raw user id")
    r.add_argument("--history", nargs="+", metavar="ITEM", help="raw item ids, oldest first")
    r.add_argument("-k", type=int, default=10, help="number of items (default 10)")
    r.add_argument("--include-seen", action="store_true", help="do not exclude known/history items")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table; its history lists what the "
                   "query was computed from (based_on: history = --history; train = the user's training items, "
                   "graph/MF models; known = the user's last max_len known items, sequential models)")
    r.add_argument("--dataset", help="override the data path stored in the run")
    r.set_defaults(func=cmd_recommend)

    sv = sub.add_parser("serve", help="serve recommendations over HTTP (FastAPI; needs contrastrec[serve])",
                        description="GET /recommend?user=ID&k=10, POST /recommend {\"history\": [...], \"k\": 10, "
                        "\"user\": optional}, GET /health; OpenAPI docs at /docs.")
    sv.add_argument("--run", required=True, help="run directory")
    sv.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    sv.add_argument("--port", type=int, default=8000, help="1..65535 (default 8000); checked, with --host, "
                    "before the run is loaded")
    sv.add_argument("--threads", type=int, default=2,
                    help="torch threads (default 2); FAISS searches use one thread per request")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    sv.add_argument("--dataset", help="override the data path stored in the run")
    sv.set_defaults(func=cmd_serve)

    tu = sub.add_parser("tune", help="hyper-parameter search with Optuna, several models at one budget "
                        "(needs contrastrec[tune])",
                        description="TPE (seeded with the config seed) + median pruning on the per-epoch validation "
                        "metric; trials never see the test set; the best trial is tested once. Writes "
                        "DIR/trials.csv, DIR/trials.md, DIR/trials/NNN/ and DIR/best/ (a run directory), "
                        "DIR/budget.json and DIR/summary.md; with several --model, each model's study is DIR/MODEL/ "
                        "and every model gets the same --trials and --budget-seconds. DIR must be new or empty.")
    tu.add_argument("--model", required=True, action="append",
                    help="model name; repeat (--model lightgcn --model simgcl) to tune them at one budget")
    tu.add_argument("--dataset", required=True, help="data file or folder")
    tu.add_argument("--trials", type=int, default=20, help="number of trials per model (default 20; pruned and "
                    "failed trials count)")
    tu.add_argument("--budget-seconds", type=float, default=0.0, metavar="S",
                    help="training seconds per model: each trial gets max_train_seconds = S / trials "
                    "(default 0: no time limit)")
    tu.add_argument("--output", required=True, help="output folder")
    tu.add_argument("--space", action="append", metavar="[MODEL=]PATH",
                    help="YAML search space: key: {type: float|int|categorical, low, high, log, choices} "
                    "(default: the model's own SPACE); with several --model, MODEL=PATH, repeatable")
    tu.add_argument("--set", action="append", nargs="+", metavar="KEY=VALUE", help="fixed config overrides for every trial")
    tu.set_defaults(func=cmd_tune)

    pl = sub.add_parser("plot", help="figures of runs: embeddings (unit circle + angle density) or curves")
    pl.add_argument("what", choices=["embeddings", "curves"])
    pl.add_argument("--run", action="append", required=True, help="run directory (repeat for embeddings)")
    pl.add_argument("--output", required=True, help="figure file: .png, .pdf or .svg")
    pl.add_argument("--overwrite", action="store_true", help="replace --output if it exists (refused without)")
    pl.add_argument("--max-points", type=int, default=2000, help="points per run and side (default 2000)")
    pl.add_argument("--dataset", help="override the data path stored in the runs")
    pl.set_defaults(func=cmd_plot)

    cp = sub.add_parser("compare", help="paired per-user tests of runs on the same split (the first is the base)",
                        description="Paired t-test, Wilcoxon signed-rank and a bootstrap CI of the relative "
                        "difference on the users both runs scored, overall and per item-popularity and "
                        "user-activity group; Holm-corrected over all rows. Refuses runs on other splits.")
    cp.add_argument("runs", nargs="+", metavar="RUN", help="run folders; the first is the base")
    cp.add_argument("--metrics", nargs="+", help="metrics to compare (default: every recall@k and ndcg@k)")
    cp.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    cp.add_argument("--level", type=float, default=0.95, help="confidence level of the interval (default 0.95)")
    cp.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    cp.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    cp.add_argument("--json", action="store_true", help="print the rows as JSON")
    cp.set_defaults(func=cmd_compare)

    rp = sub.add_parser("report", help="a Markdown/HTML report comparing runs",
                        description="A table of test metrics and costs (a `train --seeds` folder: mean ± std [CI] over "
                        "its seeds), the test metrics per item-popularity and user-activity group, coverage, ARP "
                        "and Gini, the paired per-user comparison of every run with the first (as `compare`), "
                        "training curves and embedding figures. PNGs are written beside the report; .html embeds them.")
    rp.add_argument("runs", nargs="+", metavar="RUN_DIR")
    rp.add_argument("--output", required=True, help="report.md or report.html")
    rp.add_argument("--metrics", nargs="+", metavar="METRIC",
                    help="test metrics to show, e.g. recall@20 ndcg@20 (default: recall and ndcg at every k in the "
                    "main table, at the largest k in the group tables and the comparison)")
    rp.add_argument("--dataset", help="override the data path stored in the runs")
    rp.add_argument("--overwrite", action="store_true",
                    help="replace an existing report and its figures (a run's own files are never replaced)")
    rp.set_defaults(func=cmd_report)


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
    t.add_argument("--set", action="append", nargs="+", metavar="KEY=VALUE",
                   help="override config keys, e.g. --set lr=1e-3 ssl.weight=0.1 (repeatable)")
    t.add_argument("--output", help="run directory")
    t.add_argument("--resume", metavar="DIR", help="continue an interrupted run in DIR")
    t.add_argument("--nproc", type=int, default=0, metavar="N",
                   help="data-parallel training on N processes of this machine (launches torchrun; see "
                        "docs/scale.md for several machines)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace the run in --output (a folder that is not empty is refused without it; only a "
                        "run's own folder that no process is writing is replaced, never other files)")
    t.add_argument("--device", choices=["cpu", "cuda", "auto"], help="device (default from config: auto)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="train N seeds (seed, seed+1, ...) on one split into OUTPUT/seed-S/ and write OUTPUT/seeds.json "
                        "(mean, std, t confidence interval); --resume OUTPUT continues them")
    t.add_argument("--json", action="store_true", help="print results.json at the end instead of the short summary")
    t.add_argument("--track", choices=["tensorboard", "mlflow"],
                   help="log config, loss terms and validation metrics per epoch: tensorboard (DIR/tb/) or "
                   "mlflow (file store DIR/mlruns unless --track-uri); needs the extra of that name")
    t.add_argument("--track-uri", help="tensorboard log folder or MLflow tracking URI (e.g. sqlite:///mlflow.db)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="re-evaluate a saved run on validation and test",
                       description="Rebuild the run's data split and model from DIR/best.pt and print metrics.")
    e.add_argument("--run", required=True, help="run directory")
    e.add_argument("--dataset", help="override the data path stored in the run")
    e.add_argument("--eval-graph", choices=["train", "history"],
                   help="graph models: the graph for the test set (default: the run's eval_graph); "
                        "history = train + valid, the interactions known before the test one; refused for "
                        "models it does nothing for (sequential models, mf)")
    e.add_argument("--per-user", metavar="DIR",
                   help="also write the per-user values (per_user_{valid,test}.parquet), the split's fingerprint and "
                        "the id maps into DIR (a new folder), so that `contrastrec compare` can pair this run, also "
                        "one trained before per-user results existed")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("refit", help="retrain a selected run on train + valid for its selected epochs, test once",
                       description="Read DIR/results.json (config and validation-selected epoch), train the same "
                       "config on train + valid for exactly that many epochs without validation, and evaluate "
                       "the test set once on the final model. Writes OUT/results.json with refit_of.")
    r.add_argument("--run", required=True, help="the validation-selected run directory")
    r.add_argument("--output", required=True, help="run directory of the refit")
    r.add_argument("--dataset", help="override the data path stored in the run")
    r.add_argument("--set", action="append", nargs="+", metavar="KEY=VALUE", help="threads, device or eval_batch_size only")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the run in --output (only a run's folder that no process is writing)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_refit)

    m = sub.add_parser("models", help="list the available models",
                       description="List every registered model with its paper. Use the name with "
                       "`contrastrec train --model NAME`.")
    m.set_defaults(func=cmd_models)

    d = sub.add_parser("datasets", help="list the data sets found in a folder",
                       description="Scan a folder for data sets (files or pre-split folders) and show the "
                       "format detected for each; any of them can be passed to --dataset.")
    d.add_argument("--root", default="../shared/datasets", help="folder to scan (default: ../shared/datasets)")
    d.set_defaults(func=cmd_datasets)

    dm = sub.add_parser("demo", help="train the models on a synthetic data set and print a comparison",
                        description="Generate a synthetic data set shaped like a sparse log (thousands of items, "
                        "a median of 6 training interactions per user, Zipf popularity, user groups, item clusters, "
                        "sequential patterns), train every model with a demo setting on it until early stopping "
                        "(or its epoch cap or time budget, which the table marks), and print the rows by family: "
                        "each base first, then the contrastive models on it with their difference to the base "
                        "(overall and on tail items; * = significant in the paired per-user test), popularity as "
                        "the floor, and a closing line that reads the table. Needs no download.")
    dm.add_argument("--output", default=None, help="keep the runs here (default: a temporary folder); each run "
                    "records how to regenerate its synthetic data (dataset.json), so evaluate, plot, recommend "
                    "and serve read it like any run")
    dm.add_argument("--quick", action="store_true", help="even smaller, for tests")
    dm.add_argument("--models", nargs="*", help="subset of models to run")
    dm.set_defaults(func=cmd_demo)
    add_serving_commands(sub)
    from contrastrec.synth import add_synth_command

    add_synth_command(sub)
    return p


def _interrupted(args) -> str:
    """What to tell after Ctrl-C: the run folder to resume (train, refit), when it has a resume point."""
    run = getattr(args, "resume", None) or getattr(args, "output", None)
    if args.command not in ("train", "refit") or not run:
        return "interrupted"
    from contrastrec.training.rundir import RunDir

    if not RunDir(run).last.exists():
        return f"interrupted before the first epoch of {run} finished: nothing to resume"
    return f"interrupted: resume with `contrastrec train --resume {run}`"


def main(argv: list[str] | None = None) -> int:
    from contrastrec.config import ConfigError
    from contrastrec.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    from contrastrec.training.checkpoint import CheckpointError, WriteError
    from contrastrec.training.rundir import RunDirError

    try:
        return int(args.func(args) or 0)
    except (DataError, ConfigError, CheckpointError, RunDirError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except WriteError as e:  # full disk, unwritable folder: the message names the file
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # any other failed read or write: one line, the file when the OS names it
        import os

        cause = os.strerror(e.errno).lower() if e.errno else (" ".join(str(e).split()) or type(e).__name__)
        print(f"error: {e.filename}: {cause}" if e.filename else f"error: {cause}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return 130
    except Exception as e:
        from contrastrec.training.loop import TrainingError

        if isinstance(e, TrainingError):
            print(f"error: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
