"""The training loop, readable top to bottom.

    for each epoch:
        model.on_epoch_start(epoch)            # E-steps, schedules
        for each batch: loss = sum(model.loss_terms(batch)); backward; step
        every eval_every epochs: validation metrics -> keep the best checkpoint, early stopping
        write last.pt atomically (resume point) and one JSON line to log.jsonl
    reload the best checkpoint, evaluate the test set exactly once, write results.json

Schemas: ``joint`` sums every term; ``pretrain_finetune`` first trains ``pretrain_epochs`` epochs
on the self-supervised terms only (names starting with ``ssl``, plus ``reg``), saves the encoder
to ``pretrained.pt``, then fine-tunes on the other terms with a fresh optimizer; ``integrated``
models return a single term that does both.
"""
from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from contrastrec.config import Config, config_from_dict, model_class, resume_config
from contrastrec.data.dataset import Dataset
from contrastrec.evaluation import FullRankingEvaluator
from contrastrec.evaluation.metrics import parse_metric
from contrastrec.training.batches import (
    PairwiseBatches,
    SamplerNegatives,
    SequenceBatches,
    make_negatives,
    padded_histories,
)
from contrastrec.training.checkpoint import (
    RunLock,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)


class TrainingError(RuntimeError):
    """Training cannot continue (for example a NaN loss); the best checkpoint so far is kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device=cuda was asked for but no CUDA device is available (use --device cpu)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def build_model(cfg: Config, dataset: Dataset) -> torch.nn.Module:
    return model_class(cfg.model)(cfg, dataset)


def make_batches(model, cfg: Config, dataset: Dataset):
    if model.task == "none":
        return None
    negatives = make_negatives(cfg, dataset)
    if isinstance(negatives, SamplerNegatives):  # hard negatives re-rank with the current model
        def score_source():
            was = model.training
            model.eval()
            fn = model.scorer(histories_for(model, dataset, "valid", cfg.max_len))
            model.train(was)
            return fn

        negatives.score_source = score_source
    if model.task == "pairwise":
        return PairwiseBatches(dataset, cfg.batch_size, cfg.n_negatives, cfg.seed, negatives=negatives)
    return SequenceBatches(dataset, cfg.batch_size, cfg.max_len, cfg.seed,
                           with_negatives=(cfg.loss or "ce") != "ce" or getattr(model, "needs_negatives", False),
                           negatives=negatives)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def histories_for(model, dataset: Dataset, phase: str, max_len: int) -> torch.Tensor | None:
    if not getattr(model, "sequential", False):
        return None
    return padded_histories(dataset.history(phase), dataset.n_users, max_len)


def refit_dataset(dataset: Dataset) -> Dataset:
    """``dataset`` with the validation interactions moved into training (refit after selection):
    the test history (train + valid) and the test targets are unchanged; there is no validation."""
    from dataclasses import replace

    from contrastrec.data.dataset import Split

    empty = Split(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return replace(dataset, train=Split.concat(dataset.train, dataset.valid), valid=empty,
                   notes=[*dataset.notes, "refit: validation interactions moved into training"])


def evaluate_model(model, dataset: Dataset, phase: str, evaluator: FullRankingEvaluator, max_len: int,
                   eval_graph: str = "train") -> dict[str, float]:
    """Full-ranking metrics of ``phase``. ``eval_graph="history"``: graph models score the test set
    propagating over train + valid (the interactions known before it; see ``Config.eval_graph``)."""
    model.eval()
    graph = nullcontext()
    if eval_graph == "history" and phase == "test" and hasattr(model, "evaluation_graph"):
        known = dataset.history(phase)
        graph = model.evaluation_graph(known.users, known.items)
    with torch.no_grad(), graph:
        fn = model.scorer(histories_for(model, dataset, phase, max_len))
        return evaluator(fn)


def select_terms(terms: dict[str, torch.Tensor], phase: str) -> dict[str, torch.Tensor]:
    if phase == "pretrain":
        return {k: v for k, v in terms.items() if k.startswith("ssl") or k == "reg"}
    if phase in ("finetune", "warmup"):
        return {k: v for k, v in terms.items() if not k.startswith("ssl")}
    return terms


def apply_freeze(model, how: str) -> None:
    if how == "none":
        return
    enc = getattr(model, "encoder", model)
    if how == "embeddings":
        for name, p in enc.named_parameters():
            if "emb" in name:
                p.requires_grad_(False)
    elif how == "all_but_last":
        params = list(enc.named_parameters())
        blocks = getattr(enc, "blocks", None)
        last = set(id(p) for p in blocks[-1].parameters()) if blocks is not None and len(blocks) else set()
        for _, p in params:
            if id(p) not in last:
                p.requires_grad_(False)


@dataclass
class RunState:
    epoch: int = 0  # next epoch to run
    best_score: float = -math.inf
    best_epoch: int = -1
    bad_evals: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    epochs_run: int = 0


def _state_dict_cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def _fit(
    cfg: Config,
    dataset: Dataset,
    output: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    tracker: Any = None,
    evaluate_test: bool = True,
    resume_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train with validation-based model selection, test once, write ``output/results.json``.

    ``resume=True`` continues from ``output/last.pt`` with the saved config; ``resume_overrides``
    may change only the keys in :data:`contrastrec.config.RESUME_KEYS` (budget, threads, device,
    patience, epochs), e.g. to give a budget-stopped run more time.

    ``tracker`` (optional, see :mod:`contrastrec.tracking`): gets the flattened config
    (``log_params``), every epoch's loss terms and validation metrics (``log_metrics``, step =
    epoch) and the test metrics; the caller closes it. ``evaluate_test=False`` skips the test
    evaluation (hyper-parameter search): results.json then has no ``"test"``.
    """
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    state = RunState()
    ckpt = None
    if resume:
        if not (out / "last.pt").exists():
            raise TrainingError(f"{out}: nothing to resume (no last.pt)")
        ckpt = load_checkpoint(out / "last.pt")
        cfg = config_from_dict(ckpt["config"])
        if resume_overrides:
            cfg = resume_config(cfg, resume_overrides)
            log(f"resume overrides: {resume_overrides}")
        state = RunState(**ckpt["state"])
        log(f"resuming {out} at epoch {state.epoch}")

    commit = git_commit()  # the code this (stage of the) run trains with, not the one at its end
    if cfg.refit:
        dataset = refit_dataset(dataset)
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    model = build_model(cfg, dataset).to(device)
    batches = make_batches(model, cfg, dataset)
    trainable = [p for p in model.parameters() if p.requires_grad]
    pre = cfg.pretrain_epochs if cfg.schema == "pretrain_finetune" else 0
    total_epochs = pre + cfg.epochs

    def new_optimizer():
        ps = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(ps, lr=cfg.lr, weight_decay=cfg.weight_decay) if ps else None

    if ckpt is not None:
        if state.epoch > pre and pre > 0:
            apply_freeze(model, cfg.freeze)
        model.load_state_dict(ckpt["model"])
        opt = new_optimizer()
        if opt is not None and ckpt.get("optimizer"):
            opt.load_state_dict(ckpt["optimizer"])
    else:
        opt = new_optimizer() if trainable else None
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        dataset.save_id_maps(out / "id_maps.json")
        atomic_write_json(out / "dataset.json", {**dataset.summary(), "path": cfg.dataset, "notes": dataset.notes})
        for note in dataset.notes:
            log(f"note: {note}")

    if tracker is not None:
        from contrastrec.tracking import flatten

        tracker.log_params(flatten(cfg.to_dict()))
    metric_name = cfg.metric.lower()
    parse_metric(metric_name)
    valid_eval = None if cfg.refit else FullRankingEvaluator(dataset, "valid", ks=cfg.ks,
                                                             chunk_size=cfg.eval_batch_size)
    log_path = out / "log.jsonl"
    if not resume and log_path.exists():
        log_path.unlink()
    deadline = time.time() + cfg.max_train_seconds if cfg.max_train_seconds > 0 else math.inf

    epoch = state.epoch
    while batches is not None and epoch < total_epochs:
        phase = "pretrain" if epoch < pre else ("finetune" if pre else "joint")
        if phase == "joint" and cfg.schema == "joint" and epoch < cfg.ssl.warmup_epochs:
            phase = "warmup"  # main loss only; the SSL terms start after ssl.warmup_epochs
        if pre and epoch == pre:  # transition: save the pre-trained encoder, freeze, fresh optimizer
            save_checkpoint(out / "pretrained.pt", {"config": cfg.to_dict(), "model": _state_dict_cpu(model)})
            apply_freeze(model, cfg.freeze)
            opt = new_optimizer()
        model.phase = phase
        model.train()
        torch.manual_seed(cfg.seed * 1000003 + epoch)  # dropout etc.: repeatable and resumable
        model.on_epoch_start(epoch)
        t0 = time.time()
        sums: dict[str, float] = {}
        n_batches = 0
        it = batches.epoch(epoch, device)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(batches), desc=f"epoch {epoch}", leave=False, dynamic_ncols=True)
        for batch in it:
            terms = select_terms(model.loss_terms(batch), phase)
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                bad = [k for k, v in terms.items() if not torch.isfinite(v)]
                raise TrainingError(
                    f"epoch {epoch}, batch {n_batches}: loss term(s) {bad} are not finite; "
                    f"the best checkpoint so far is kept in {out} (try a lower lr or a higher temperature)"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n_batches += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            if progress:
                it.set_postfix(loss=f"{sums['loss'] / n_batches:.4f}")
        seconds = time.time() - t0
        state.train_seconds += seconds
        state.epochs_run += 1
        record: dict[str, Any] = {"epoch": epoch, "phase": phase, "seconds": round(seconds, 3)}
        record.update({k: v / max(n_batches, 1) for k, v in sums.items()})

        stop = False
        evaluate_now = not cfg.refit and phase != "pretrain" and (
            (epoch - pre + 1) % cfg.eval_every == 0 or epoch == total_epochs - 1)
        if evaluate_now:
            te = time.time()
            metrics = evaluate_model(model, dataset, "valid", valid_eval, cfg.max_len)
            record["valid"] = metrics
            record["eval_seconds"] = round(time.time() - te, 3)
            score = metrics[metric_name]
            if score > state.best_score:
                state.best_score, state.best_epoch, state.bad_evals = score, epoch, 0
                save_checkpoint(out / "best.pt", {"config": cfg.to_dict(), "model": _state_dict_cpu(model), "epoch": epoch})
            else:
                state.bad_evals += 1
                if state.bad_evals > cfg.patience:
                    stop = True
            msg = f"epoch {epoch:3d} loss {record.get('loss', 0):.4f} valid {metric_name} {score:.4f} " \
                  f"(best {state.best_score:.4f} @ {state.best_epoch}) {seconds:.1f}s"
        else:
            msg = f"epoch {epoch:3d} [{phase}] loss {record.get('loss', 0):.4f} {seconds:.1f}s"
        log(msg)
        state.history.append(record)
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if tracker is not None:
            from contrastrec.tracking import epoch_metrics

            tracker.log_metrics(epoch_metrics(record), step=epoch)
        epoch += 1
        state.epoch = epoch
        if time.time() > deadline:
            log(f"max_train_seconds={cfg.max_train_seconds} reached: stopping")
            stop = True
        save_checkpoint(out / "last.pt", {
            "config": cfg.to_dict(), "model": _state_dict_cpu(model),
            "optimizer": opt.state_dict() if opt is not None else {}, "state": state.__dict__,
        })
        if stop:
            break

    # ---------------------------------------------------------------- the single test evaluation
    if cfg.refit:  # no selection: the model after the prescribed epochs is the one tested
        if epoch < total_epochs:
            raise TrainingError(f"{out}: the refit stopped at epoch {epoch} of {total_epochs}; resume it "
                                f"(contrastrec train --resume {out}) to finish before testing")
        state.best_epoch = epoch - 1
        save_checkpoint(out / "best.pt", {"config": cfg.to_dict(), "model": _state_dict_cpu(model), "epoch": epoch - 1})
    if (out / "best.pt").exists():
        best = load_checkpoint(out / "best.pt")
        model.load_state_dict(best["model"])
    elif batches is not None:
        raise TrainingError("no validation was run, so no checkpoint was selected (check eval_every/epochs)")
    else:  # untrained baseline (popularity): select trivially, still on validation
        state.best_epoch = 0
        save_checkpoint(out / "best.pt", {"config": cfg.to_dict(), "model": _state_dict_cpu(model), "epoch": 0})
    valid_metrics = None if cfg.refit else evaluate_model(model, dataset, "valid", valid_eval, cfg.max_len)
    test_metrics, eval_seconds = None, 0.0
    if evaluate_test:
        test_eval = FullRankingEvaluator(dataset, "test", ks=cfg.ks, chunk_size=cfg.eval_batch_size)
        te = time.time()
        test_metrics = evaluate_model(model, dataset, "test", test_eval, cfg.max_len, cfg.eval_graph)
        eval_seconds = time.time() - te
        if tracker is not None:
            from contrastrec.tracking import metric_name as _tname

            tracker.log_metrics({_tname(f"test/{k}"): v for k, v in test_metrics.items()}, step=state.best_epoch)

    results = {
        "model": cfg.model,
        "dataset": dataset.name,
        "valid": valid_metrics,
        **({"test": test_metrics} if evaluate_test else {}),
        "best_epoch": state.best_epoch,
        "epochs": state.epochs_run,
        "train_seconds": round(state.train_seconds, 3),
        "seconds_per_epoch": round(state.train_seconds / max(state.epochs_run, 1), 4),
        "eval_seconds": round(eval_seconds, 4),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "commit": commit,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}",
        "config": cfg.to_dict(),
    }
    try:
        from contrastrec.evaluation import embedding_diagnostics

        model.eval()
        hist = histories_for(model, dataset, "test", cfg.max_len)
        u, i = model.export_embeddings(hist)
        if u.shape[1] == i.shape[1] and u.shape[1] > 1:
            results["embedding"] = embedding_diagnostics(
                u.cpu(), i.cpu(), dataset.train.users, dataset.train.items, seed=cfg.seed
            )
    except Exception as e:  # diagnostics never fail a run
        results["embedding_error"] = f"{type(e).__name__}: {e}"
    atomic_write_json(out / "results.json", results)
    return results


def fit(cfg: Config, dataset: Dataset, output: str | Path, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print, **kwargs: Any) -> dict[str, Any]:
    """Train with validation-based model selection, test once, write ``output/results.json``.

    Holds an exclusive lock on ``output`` for the whole run (two processes never write one run).
    See :func:`_fit` for the loop itself and the keyword options.
    """
    Path(output).mkdir(parents=True, exist_ok=True)
    try:
        lock = RunLock(output).acquire()
    except RuntimeError as e:
        raise TrainingError(str(e)) from None
    try:
        return _fit(cfg, dataset, output, resume=resume, progress=progress, log=log, **kwargs)
    finally:
        lock.release()
