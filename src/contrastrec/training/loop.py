"""The training loop, readable top to bottom.

    for each epoch:
        model.on_epoch_start(epoch)            # E-steps, schedules
        for each batch: loss = sum(model.loss_terms(batch)); backward; step; model.after_step()
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
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from contrastrec.config import Config, dump_yaml, model_class, resume_config
from contrastrec.data.dataset import DataError, Dataset
from contrastrec.data.sequences import padded_histories
from contrastrec.evaluation import FullRankingEvaluator
from contrastrec.evaluation.groups import Groups, per_user_columns, summarize_groups
from contrastrec.evaluation.metrics import parse_metric
from contrastrec.training.batches import (
    PairwiseBatches,
    SamplerNegatives,
    SequenceBatches,
    make_negatives,
)
from contrastrec.training.distributed import current, init_from_env, shard_batch
from contrastrec.training.optim import TrainingError, build_optimizer
from contrastrec.training.memory import check_memory
from contrastrec.training.rundir import RunDir, RunDirError
from contrastrec.training.checkpoint import (
    RunLock,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    config_of,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from contrastrec.rng import stream_seed


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device=cuda was asked for but no CUDA device is available (use --device cpu)")
    if name == "cuda" and current().enabled:
        return torch.device("cuda", current().local_rank)  # one GPU per rank
    return torch.device(name)


def effective_lr(cfg: Config) -> float:
    """``lr`` scaled to ``batch_size`` by ``lr_scale`` (``lr`` is the rate at ``lr_base_batch``)."""
    r = cfg.batch_size / cfg.lr_base_batch
    return cfg.lr * {"none": 1.0, "linear": r, "sqrt": math.sqrt(r)}[cfg.lr_scale]


def seed_everything(seed: int) -> None:
    """The global generators before the model is built (its initial weights): stream ``init``."""
    torch.manual_seed(stream_seed(seed, "init"))
    np.random.seed(stream_seed(seed, "init.numpy", bits=32))


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
                           with_negatives=model.wants_negatives(),
                           negatives=negatives, prefixes=cfg.train_prefixes, max_prefixes=cfg.max_prefixes)


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


def histories_for(model, dataset: Dataset, phase: str, max_len: int,
                  users: np.ndarray | None = None) -> torch.Tensor | None:
    """Sequential models: the left-padded histories of ``phase`` ``[n_users, max_len]`` (only the rows
    of ``users`` when given); None for other models."""
    if not getattr(model, "sequential", False):
        return None
    return padded_histories(dataset.history(phase), dataset.n_users, max_len, users)


def refit_dataset(dataset: Dataset) -> Dataset:
    """``dataset`` with the validation interactions moved into training (refit after selection):
    the test history (train + valid) and the test targets are unchanged; there is no validation."""
    from dataclasses import replace

    from contrastrec.data.dataset import Split

    empty = Split(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return replace(dataset, train=Split.concat(dataset.train, dataset.valid), valid=empty,
                   notes=[*dataset.notes, "refit: validation interactions moved into training"])


def evaluate_model(model, dataset: Dataset, phase: str, evaluator: FullRankingEvaluator, max_len: int,
                   eval_graph: str = "train", detailed: bool = False):
    """Full-ranking metrics of ``phase`` (``detailed``: the per-user
    :class:`~contrastrec.evaluation.EvaluationResult` of this process's users instead).
    ``eval_graph="history"``: graph models score the test set propagating over train + valid (the
    interactions known before it; see ``Config.eval_graph``)."""
    model.eval()
    graph = nullcontext()
    if eval_graph == "history" and phase == "test" and hasattr(model, "evaluation_graph"):
        known = dataset.history(phase)
        graph = model.evaluation_graph(known.users, known.items)
    # a sampled evaluation (eval_users) tells the scorer which users it will be asked for: a sequential
    # model then encodes those histories only (10k of 1M users at 10M interactions), not every user's
    users = evaluator.scored_users if evaluator.sampled else None
    with torch.no_grad(), graph:
        fn = model.scorer(histories_for(model, dataset, phase, max_len, users),
                          users=None if users is None else torch.from_numpy(users))
        return evaluator(fn, detailed=True) if detailed else evaluator(fn)


def make_groups(dataset: Dataset, cfg: Config) -> Groups | None:
    """The item-popularity and user-activity groups of the final evaluations (``item_groups``,
    ``user_groups``), from the training split; None when both are 0 or the run is data-parallel
    (each rank holds only its users' values: group metrics are single-process for now)."""
    if not (cfg.item_groups or cfg.user_groups) or current().world > 1:
        return None
    tr = dataset.train
    return Groups.from_train(tr.users, tr.items, dataset.n_users, dataset.n_items, cfg.item_groups, cfg.user_groups)


def final_evaluation(model, dataset: Dataset, phase: str, evaluator: FullRankingEvaluator, cfg: Config,
                     groups: Groups | None):
    """``(means, result)`` of a final evaluation; ``result`` (per-user values, group metrics) is
    None without ``groups``. The means are those of :func:`evaluate_model`."""
    graph = cfg.eval_graph if phase == "test" else "train"
    if groups is None:
        return evaluate_model(model, dataset, phase, evaluator, cfg.max_len, graph), None
    evaluator.groups = groups
    res = evaluate_model(model, dataset, phase, evaluator, cfg.max_len, graph, detailed=True)
    return res.means(), res


def write_per_user(path: Path, result, groups: Groups, dataset: Dataset) -> None:
    """``path`` (parquet, atomic): one row per evaluated user (groups.per_user_columns)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = per_user_columns(result, groups, dataset.user_map.raws(result.users))
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))


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
    loss_first: dict[str, float] = field(default_factory=dict)  # the divergence guard's reference values


def _state_dict_cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


# --------------------------------------------------------------------------- the steps of a run
def phase_for(cfg: Config, epoch: int) -> str:
    """The training phase of ``epoch``: ``pretrain`` / ``finetune`` (schema pretrain_finetune),
    ``warmup`` (schema joint, the first ``ssl.warmup_epochs``) or ``joint``."""
    pre = cfg.pretrain_epochs if cfg.schema == "pretrain_finetune" else 0
    if pre:
        return "pretrain" if epoch < pre else "finetune"
    if cfg.schema == "joint" and epoch < cfg.ssl.warmup_epochs:
        return "warmup"
    return "joint"


class DivergenceGuard:
    """Stops a run whose loss diverges: a term that is not finite, or whose magnitude grows by
    more than ``factor`` over its first value (floored at 1). Checked every ``every`` steps and
    at the end of each epoch (reading the loss between checks would synchronise a GPU every step)."""

    def __init__(self, factor: float = 1e4, every: int = 50, first: dict[str, float] | None = None):
        self.factor, self.every = factor, every
        self.first: dict[str, float] = {} if first is None else first  # kept in the resume state

    def check(self, terms: dict[str, torch.Tensor], where: str, run: RunDir) -> None:
        """Raise TrainingError (on every rank when any rank diverges)."""
        try:
            self._check(terms, where, run)
        except TrainingError as e:
            current().any(True)
            raise e
        if current().any(False):
            raise TrainingError(f"{where}: the loss diverged on another rank; training stopped")

    def _check(self, terms: dict[str, torch.Tensor], where: str, run: RunDir) -> None:
        values = {k: float(v.detach()) for k, v in terms.items()}
        for k, v in values.items():
            self.first.setdefault(k, v)
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        why = "not finite"
        if not bad:
            bad = [k for k, v in values.items() if abs(v) > self.factor * max(abs(self.first[k]), 1.0)]
            why = f"diverging (more than {self.factor:g} x its first value)"
        if bad:
            detail = ", ".join(f"{k}={values[k]:.3g} (first {self.first[k]:.3g})" for k in bad)
            kept = (f"the best checkpoint so far ({run.best}) is kept" if run.best.exists()
                    else "no checkpoint was selected yet (no validation has run)")
            raise TrainingError(f"{where}: loss term(s) {detail} {why}; training stopped, {kept} "
                                "(try a lower lr or a higher temperature)")


def train_epoch(model, opt, batches, epoch: int, phase: str, device: torch.device, run: RunDir,
                guard: DivergenceGuard, progress: bool = True) -> dict[str, Any]:
    """One epoch of optimisation; returns the log record (mean of every loss term, seconds).
    Data-parallel: each rank trains on its shard of every global batch, the gradients are
    averaged over the ranks and the record holds the means over the ranks."""
    d = current()
    params = [p for p in model.parameters() if p.requires_grad]
    sparse = {id(p) for p in model.sparse_parameters()}  # optimizer=lazy_adam: row-sparse gradients
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=model.cfg.amp)
    model.set_phase(phase)
    model.train()
    torch.manual_seed(stream_seed(model.cfg.seed, "torch.global", epoch))  # dropout etc.: repeatable and resumable
    model.on_epoch_start(epoch)
    t0 = time.time()
    sums: dict[str, torch.Tensor] = {}
    n_batches = 0
    it = batches.epoch(epoch, device)
    if progress and d.main:
        from tqdm import tqdm

        # a bar is redrawn in place, which only a terminal shows as one line: when stderr is a
        # file or a pipe, nothing is drawn (the per-epoch log line says what happened)
        it = tqdm(it, total=len(batches), desc=f"epoch {epoch}", leave=False, dynamic_ncols=True,
                  disable=not sys.stderr.isatty())
    terms: dict[str, torch.Tensor] = {}
    for batch in it:
        with autocast:
            terms = select_terms(model.loss_terms(shard_batch(batch, d.rank, d.world)), phase)
        terms = {k: v.float() for k, v in terms.items()}
        loss = sum(terms.values())
        terms_and_total = {**terms, "loss": loss}
        if n_batches % guard.every == 0:
            guard.check(terms_and_total, f"epoch {epoch}, batch {n_batches}", run)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        d.average_gradients(params, sparse)
        opt.step()
        model.after_step()
        n_batches += 1
        for k, v in terms_and_total.items():  # summed on the device, in float64: no host sync per step
            v = v.detach().double()
            sums[k] = sums[k] + v if k in sums else v
        if progress and d.main and n_batches % guard.every == 0:
            it.set_postfix(loss=f"{float(sums['loss']) / n_batches:.4f}")
    if d.enabled and sums:  # the mean over the ranks' shards (one reduction per epoch)
        keys = list(sums)
        red = d.sum(torch.stack([sums[k] for k in keys]).to(d.device())).cpu() / d.world
        sums = dict(zip(keys, red))
    means = {k: float(v) / max(n_batches, 1) for k, v in sums.items()}
    if means:
        guard.check({k: torch.tensor(v) for k, v in means.items()}, f"epoch {epoch} (mean)", run)
    record: dict[str, Any] = {"epoch": epoch, "phase": phase, "seconds": round(time.time() - t0, 3)}
    record.update({k: means[k] for k in sums if k != "loss"})
    if "loss" in means:
        record["loss"] = means["loss"]
    return record


def select(state: RunState, score: float, epoch: int) -> bool:
    """Model selection on a validation ``score``: whether it improved on the best so far."""
    if score > state.best_score:
        state.best_score, state.best_epoch, state.bad_evals = score, epoch, 0
        return True
    state.bad_evals += 1
    return False


def stopped_early(state: RunState, patience: int) -> bool:
    """Early stopping: more than ``patience`` evaluations without improvement since the selected
    epoch. Part of the resume state, so a stopped run that is resumed stays stopped."""
    return state.best_epoch >= 0 and state.bad_evals > patience


def stop_reason(state: RunState, patience: int, out_of_time: bool, trained: bool) -> str:
    """Why training ended (results.json ``"stopped"``): ``patience`` (early stopping),
    ``max_train_seconds`` (cut by the time budget), ``epochs`` (the epochs ran out, the model perhaps
    still improving; also a refit, which trains a fixed number) or ``untrained`` (popularity)."""
    if not trained:
        return "untrained"
    if stopped_early(state, patience):
        return "patience"
    return "max_train_seconds" if out_of_time else "epochs"


def no_selection_message(run: RunDir, cfg: Config, epoch: int, pre: int, out_of_time: bool) -> str:
    """Why a trained run has no selected checkpoint: its time budget ran out in the pre-training
    (schema pretrain_finetune: nothing was validated, and only a validation may select), or no
    validation epoch was in its schedule."""
    if out_of_time and epoch <= pre:
        return (f"{run}: max_train_seconds={cfg.max_train_seconds:g} ran out in the pre-training (epoch {epoch} of "
                f"{pre}), before any fine-tuning epoch was validated, so none is selected; resume it with more time "
                f"(contrastrec train --resume {run} --set max_train_seconds=S) or lower pretrain_epochs")
    return "no validation was run, so no checkpoint was selected (check eval_every/epochs)"


def make_evaluator(dataset: Dataset, phase: str, cfg: Config) -> FullRankingEvaluator:
    """Full ranking of ``phase`` over every item, for all users or a seeded sample of
    ``eval_users``; in data-parallel runs each rank scores its share of them."""
    d = current()
    return FullRankingEvaluator(dataset, phase, ks=cfg.ks, chunk_size=cfg.eval_batch_size,
                                sample_users=cfg.eval_users, seed=cfg.seed, shard=(d.rank, d.world))


def test_once(model, dataset: Dataset, cfg: Config, checkpoint: str | Path | None = None,
              evaluator: FullRankingEvaluator | None = None) -> dict[str, float]:
    """The single test evaluation, on ``checkpoint`` (the validation-selected one) when given."""
    if checkpoint is not None:
        model.load_state_dict(load_checkpoint(checkpoint)["model"])
    evaluator = evaluator or make_evaluator(dataset, "test", cfg)
    return evaluate_model(model, dataset, "test", evaluator, cfg.max_len, cfg.eval_graph)


def test_run(output: str | Path, cfg: Config, dataset: Dataset) -> dict[str, Any]:
    """The single test evaluation of a run trained with ``evaluate_test=False`` (a tuning trial): its
    validation-selected checkpoint on the test split, with the group metrics and the per-user file
    of a trained run; its results.json gains ``"test"`` (and ``groups.test``). Returns the metrics."""
    run = RunDir(output)
    model = build_model(cfg, dataset).to(resolve_device(cfg.device))
    model.load_state_dict(load_checkpoint(run.best)["model"])
    groups = make_groups(dataset, cfg)
    te = time.time()
    metrics, result = final_evaluation(model, dataset, "test", make_evaluator(dataset, "test", cfg), cfg, groups)
    results = json.loads(run.results.read_text())
    results["test"], results["eval_seconds"] = metrics, round(time.time() - te, 4)
    if result is not None:
        results.setdefault("groups", {})["test"] = summarize_groups(result, groups)
        write_per_user(run / RunDir.per_user_name("test"), result, groups, dataset)
    atomic_write_json(run.results, results)
    return metrics


def eval_users_record(requested: int, valid: FullRankingEvaluator | None,
                      test: FullRankingEvaluator | None) -> dict[str, Any] | None:
    """What results.json says of ``eval_users``: the users each phase really evaluated, and whether
    that was a sample or (``eval_users`` not below the users with a target) every user."""
    if not requested:
        return None
    phases = {"valid": valid, "test": test}
    counts = {f"{p}_users": e.n_users if e else None for p, e in phases.items()}
    if any(e is not None and e.sampled for e in phases.values()):
        return {"sampled": requested, **counts, **{f"{p}_of": e.n_candidates if e else None for p, e in phases.items()},
                "note": "metrics are means over a seeded sample of users; each is ranked against every item"}
    return {"requested": requested, "full": True, **counts,
            "note": f"eval_users={requested} is not below the number of users with a target: every user was "
                    "evaluated (a full evaluation)"}


def require_eval_rows(dataset: Dataset, cfg: Config, evaluate_test: bool) -> None:
    """Refuse, before training, a run whose validation (selection) or test split is empty: its
    metrics would be NaN."""
    empty = [name for name, split, needed in (("validation", dataset.valid, not cfg.refit),
                                              ("test", dataset.test, evaluate_test)) if needed and not len(split)]
    if empty:
        raise DataError(f"the {' and the '.join(empty)} split{'s are' if len(empty) > 1 else ' is'} empty (no user "
                        "has an interaction left there): nothing to evaluate on", cfg.dataset or dataset.name)


def _checkpoint(cfg: Config, model, **extra) -> dict[str, Any]:
    return {"config": cfg.to_dict(), "model": _state_dict_cpu(model), **extra}


def _start(run: RunDir, cfg: Config, dataset: Dataset, resume: bool, resume_overrides, log):
    """The config, loop state and resume checkpoint of a new or resumed run."""
    if not resume:
        return cfg, RunState(), None
    if not run.last.exists():
        raise TrainingError(f"{run}: nothing to resume (no {RunDir.LAST})")
    ckpt = load_checkpoint(run.last)
    cfg = config_of(ckpt, run.last)
    if resume_overrides:
        cfg = resume_config(cfg, resume_overrides)
        log(f"resume overrides: {resume_overrides}")
    state = RunState(**ckpt["state"])
    state.history = [r for r in state.history if r.get("epoch", -1) < state.epoch]
    run.truncate_log(state.epoch)  # epochs after the resume point are rewritten, once
    log(f"resuming {run} at epoch {state.epoch}")
    return cfg, state, ckpt


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
    may change only the keys in :data:`contrastrec.config.RESUME_KEYS` (``max_train_seconds``,
    ``epochs``, ``patience``, ``threads``, ``device``, ``eval_batch_size``), e.g. to give a budget-stopped run more time.

    ``tracker`` (optional, see :mod:`contrastrec.tracking`): gets the flattened config
    (``log_params``), every epoch's loss terms and validation metrics (``log_metrics``, step =
    epoch) and the test metrics; the caller closes it. ``evaluate_test=False`` skips the test
    evaluation (hyper-parameter search): results.json then has no ``"test"``.
    """
    run, d = RunDir(output), current()
    if not d.main:
        log = lambda *_: None  # noqa: E731  (rank 0 speaks and writes for the run)
    cfg, state, ckpt = _start(run, cfg, dataset, resume, resume_overrides, log)
    require_eval_rows(dataset, cfg, evaluate_test)
    if ckpt is None and dataset.fingerprint is not None:  # the run reads its data back from any folder
        cfg.dataset = dataset.fingerprint["path"]
    commit = git_commit()  # the code this (stage of the) run trains with, not the one at its end
    if cfg.refit:
        dataset = refit_dataset(dataset)
    device = resolve_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    check_memory(cfg, dataset.n_users, dataset.n_items, device)  # before allocating: a one-line refusal
    seed_everything(cfg.seed)
    model = build_model(cfg, dataset).to(device)
    batches = make_batches(model, cfg, dataset)
    pre = cfg.pretrain_epochs if cfg.schema == "pretrain_finetune" else 0
    total_epochs = pre + cfg.epochs

    def new_optimizer():
        return build_optimizer(model, cfg.optimizer, effective_lr(cfg), cfg.weight_decay)

    if ckpt is not None:
        if state.epoch > pre and pre > 0:
            apply_freeze(model, cfg.freeze)
        load_weights(model, ckpt.get("model"), run.last)  # a one-line error before any training
        opt = new_optimizer()
        if opt is not None and ckpt.get("optimizer"):
            opt.load_state_dict(ckpt["optimizer"])
    else:
        opt = new_optimizer()
        if d.main:
            atomic_write_text(run.config, dump_yaml(cfg.to_dict()))
            dataset.save_id_maps(run.id_maps)
            atomic_write_json(run.dataset, {**dataset.summary(), "path": cfg.dataset, "fingerprint": dataset.fingerprint,
                                            "notes": dataset.notes})
        for note in dataset.notes:
            log(f"note: {note}")
    if cfg.optimizer == "lazy_adam":
        tables = ", ".join("x".join(map(str, p.shape)) for p in model.sparse_parameters() if p.requires_grad)
        log(f"optimizer lazy_adam: row-sparse updates of {tables or 'no trainable table (Adam for all)'}; "
            "the other parameters by Adam")
    if cfg.lr_scale != "none":
        log(f"lr {cfg.lr:g} at batch {cfg.lr_base_batch} -> {effective_lr(cfg):g} at batch {cfg.batch_size} "
            f"({cfg.lr_scale} scaling)")
    if d.enabled:
        log(f"data parallel: {d.world} processes, global batch {cfg.batch_size}")

    if tracker is not None:
        from contrastrec.tracking import flatten

        tracker.log_params(flatten(cfg.to_dict()))
    metric_name = cfg.metric.lower()
    parse_metric(metric_name)
    valid_eval = None if cfg.refit else make_evaluator(dataset, "valid", cfg)
    if valid_eval is not None and valid_eval.sampled:
        log(f"evaluation: a seeded sample of {valid_eval.n_users} of {valid_eval.n_candidates} users "
            f"(eval_users), each ranked against all {dataset.n_items} items")
    elif valid_eval is not None and cfg.eval_users:
        log(f"evaluation: eval_users={cfg.eval_users} >= the {valid_eval.n_candidates} users with a validation "
            "target: every user is evaluated (a full evaluation)")
    deadline = time.time() + cfg.max_train_seconds if cfg.max_train_seconds > 0 else math.inf
    guard = DivergenceGuard(first=state.loss_first)

    epoch, out_of_time = state.epoch, False
    while batches is not None and epoch < total_epochs and not stopped_early(state, cfg.patience):
        phase = phase_for(cfg, epoch)
        if pre and epoch == pre:  # transition: save the pre-trained model, freeze, fresh optimizer
            if d.main:
                save_checkpoint(run.pretrained, _checkpoint(cfg, model))
            apply_freeze(model, cfg.freeze)
            opt = new_optimizer()
        record = train_epoch(model, opt, batches, epoch, phase, device, run, guard, progress)
        state.train_seconds += record["seconds"]
        state.epochs_run += 1

        evaluate_now = not cfg.refit and phase != "pretrain" and (
            (epoch - pre + 1) % cfg.eval_every == 0 or epoch == total_epochs - 1)
        if evaluate_now:
            te = time.time()
            metrics = evaluate_model(model, dataset, "valid", valid_eval, cfg.max_len)
            record["valid"] = metrics
            record["eval_seconds"] = round(time.time() - te, 3)
            if select(state, metrics[metric_name], epoch) and d.main:
                save_checkpoint(run.best, _checkpoint(cfg, model, epoch=epoch))
            log(f"epoch {epoch:3d} loss {record.get('loss', 0):.4f} valid {metric_name} {metrics[metric_name]:.4f} "
                f"(best {state.best_score:.4f} @ {state.best_epoch}) {record['seconds']:.1f}s")
        else:
            log(f"epoch {epoch:3d} [{phase}] loss {record.get('loss', 0):.4f} {record['seconds']:.1f}s")
        state.history.append(record)
        if d.main:
            run.append_log(record)
        if tracker is not None:
            from contrastrec.tracking import epoch_metrics

            tracker.log_metrics(epoch_metrics(record), step=epoch)
        epoch += 1
        state.epoch = epoch
        out_of_time = d.any(time.time() > deadline)  # every rank stops with the slowest rank's clock
        if out_of_time:
            log(f"max_train_seconds={cfg.max_train_seconds} reached: stopping")
        if d.main:
            save_checkpoint(run.last, _checkpoint(cfg, model, optimizer=opt.state_dict() if opt is not None else {},
                                                  state=state.__dict__))
        if out_of_time:
            break
    if batches is None and d.main and not run.last.exists():  # an untrained baseline: resuming re-tests it
        save_checkpoint(run.last, _checkpoint(cfg, model, optimizer={}, state=state.__dict__))
    d.barrier()  # rank 0's checkpoints are on disk before any rank reads them

    # ---------------------------------------------------------------- the single test evaluation
    # no selection: the model after the prescribed epochs is the one tested (an untrained baseline,
    # popularity, trains no epoch and is selected trivially below, as in its first run)
    if cfg.refit and batches is not None:
        if epoch < total_epochs:
            raise TrainingError(f"{run}: the refit stopped at epoch {epoch} of {total_epochs}; resume it "
                                f"(contrastrec train --resume {run}) to finish before testing")
        state.best_epoch = epoch - 1
        if d.main:
            save_checkpoint(run.best, _checkpoint(cfg, model, epoch=epoch - 1))
    d.barrier()
    if run.best.exists():
        model.load_state_dict(load_checkpoint(run.best)["model"])
    elif batches is not None:
        raise TrainingError(no_selection_message(run, cfg, epoch, pre, out_of_time))
    else:  # untrained baseline (popularity): select trivially, still on validation
        state.best_epoch = 0
        if d.main:
            save_checkpoint(run.best, _checkpoint(cfg, model, epoch=0))
    groups = make_groups(dataset, cfg)
    final: dict[str, Any] = {}  # phase -> per-user result (with groups)
    valid_metrics = None
    if not cfg.refit:
        valid_metrics, final["valid"] = final_evaluation(model, dataset, "valid", valid_eval, cfg, groups)
    test_metrics, eval_seconds = None, 0.0
    test_eval = make_evaluator(dataset, "test", cfg) if evaluate_test else None
    if evaluate_test:
        te = time.time()
        test_metrics, final["test"] = final_evaluation(model, dataset, "test", test_eval, cfg, groups)
        eval_seconds = time.time() - te
        if tracker is not None:
            from contrastrec.tracking import metric_name as _tname

            tracker.log_metrics({_tname(f"test/{k}"): v for k, v in test_metrics.items()}, step=state.best_epoch)

    results = {
        "model": cfg.model,
        "dataset": dataset.name,
        "unseen_items": dataset.unseen_items,  # valid/test interactions whose item has no training row
        "valid": valid_metrics,
        **({"test": test_metrics} if evaluate_test else {}),
        "best_epoch": state.best_epoch,
        "epochs": state.epochs_run,
        "train_seconds": round(state.train_seconds, 3),
        "seconds_per_epoch": round(state.train_seconds / max(state.epochs_run, 1), 4),
        "eval_seconds": round(eval_seconds, 4),
        "stopped": stop_reason(state, cfg.patience, out_of_time, batches is not None),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "commit": commit,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}",
        "processes": d.world,
        "config": cfg.to_dict(),
    }
    if groups is not None:
        results["groups"] = {phase: summarize_groups(r, groups) for phase, r in final.items() if r is not None}
        results["groups"]["definition"] = (f"{groups.n_item_groups} item groups of equal training interactions "
                                           f"(head first), {groups.n_user_groups} user groups of equal size by "
                                           "training interactions (sparsest first); see evaluation/groups.py")
        if d.main:
            for phase, r in final.items():
                if r is not None:
                    write_per_user(run / RunDir.per_user_name(phase), r, groups, dataset)
    elif d.world > 1 and (cfg.item_groups or cfg.user_groups):
        results["groups"] = {"note": "group metrics and per-user results are computed in single-process runs only"}
    if cfg.schema == "integrated":
        results["integrated"] = "views"  # the definition of docs/compose.md (issue 13), not the older one
    if cfg.eval_users:
        results["eval_users"] = eval_users_record(cfg.eval_users, valid_eval, test_eval)
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
    if d.main:
        atomic_write_json(run.results, results)
    d.barrier()
    return results


def fit(cfg: Config, dataset: Dataset, output: str | Path, resume: bool = False, progress: bool = True,
        log: Callable[[str], None] = print, overwrite: bool = False, prepare: bool = True,
        **kwargs: Any) -> dict[str, Any]:
    """Train with validation-based model selection, test once, write ``output/results.json``.

    A new run needs an empty (or absent) folder; ``overwrite=True`` empties a used one first, only
    when it is a run that no other process holds (:meth:`~contrastrec.training.rundir.RunDir.prepare_new`)
    (``prepare=False``: the caller did that already, e.g. the CLI once the data is read, before its tracker).
    Holds an exclusive lock on ``output`` for the whole run (two processes never write one run).
    See :func:`_fit` for the loop itself and the keyword options.
    """
    run, d = RunDir(output), init_from_env(cfg.device)
    lock = None
    if d.main:  # rank 0 owns the folder; the other ranks wait until it is ready
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            lock = RunLock(run.path).acquire()
        except (RuntimeError, OSError) as e:
            raise TrainingError(str(e)) from None
    try:
        if d.main and not resume and prepare:
            try:
                run.prepare_new(overwrite, dataset=cfg.dataset or None)
            except RunDirError as e:
                raise TrainingError(str(e)) from None
        d.barrier()
        return _fit(cfg, dataset, output, resume=resume, progress=progress, log=log, **kwargs)
    finally:
        if lock is not None:
            lock.release()
