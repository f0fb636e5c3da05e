"""Typed, validated configuration. The only place where strings become classes.

Precedence (lowest first): dataclass defaults < the model's ``DEFAULTS`` < config file < ``--set``.
Unknown keys are errors that name the key and suggest the nearest valid one.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import stat
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """Invalid configuration (unknown key, bad value, incompatible combination)."""


MAX_CONFIG_BYTES = 1 << 20  # a config file (or a tuning space) larger than this is refused


class _StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` without anchors and aliases (nested aliases expand exponentially: a few
    hundred bytes become gigabytes) and without duplicate keys (the last one would win silently)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "YAML anchors and aliases (&, *) are not accepted",
                                              event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first[key]})", key_node.start_mark)
            first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str) -> Any:
    """``text`` parsed as YAML by :class:`_StrictLoader`; a ``ConfigError`` naming ``where`` (and
    the line, for text of several lines) when it is not valid."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None and "\n" in text.strip() else ""
        problem = getattr(e, "problem", None) or " ".join(str(e).split())
        raise ConfigError(f"{where}{line}: invalid YAML ({problem})") from None


class _NoAliasDumper(yaml.SafeDumper):
    """``yaml.safe_dump`` that writes a value shared by two keys twice instead of as an alias."""

    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data: dict[str, Any]) -> str:
    """``data`` as YAML that :func:`parse_yaml` reads back (no anchors or aliases), keys in order."""
    return yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False)


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (values quoted in error messages)."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


@dataclass
class SSLConfig:
    """The self-supervised branch: loss, negatives, temperature, weight λ, projection head."""

    loss: str = "infonce"  # infonce | debiased | hard_negative | supcon | triplet | nce | align_uniform
    temperature: float = 0.2
    weight: float = 0.1  # λ in  L = L_rec + λ·L_ssl
    tau_plus: float = 0.1  # class prior of the debiased loss
    beta: float = 1.0  # concentration of hard-negative weighting
    margin: float = 1.0  # triplet margin
    similarity: str = "cosine"  # cosine | dot
    negatives: str = "in_batch"  # in_batch | all | uniform | popularity | hard
    n_negatives: int = 64  # explicit negatives per anchor (uniform / popularity / hard)
    popularity_alpha: float = 1.0
    hard_skip_top: int = 10
    hard_band: int = 100
    hard_ratio: float = 0.5
    hard_refresh_every: int = 100  # graph models (whole-table pools): calls between re-rankings of the table; 0 = mine every step (sequential models always do: their pool is the batch)
    head: str = "none"  # none | linear | mlp
    head_batch_norm: bool = False
    false_negatives: str = "none"  # none | same_target | same_cluster | same_user
    warmup_epochs: int = 0  # schema=joint: epochs on the main loss alone before the SSL terms start
    gamma: float = 1.0  # align_uniform: weight of the uniformity term
    # infonce: clamp the positive logit s(q, k+)/T of the numerator to [-c, c] (0 = off); the
    # denominator keeps it unclamped (LightGCL's authors' code, c = 5): the loss cannot be driven to 0
    # by inflating the positive pair's score
    pos_clamp: float = 0.0
    # graph models: the nodes contrasted per step: "unique" (the batch's unique users and positive items),
    # "batch" (every row's user and positive item, duplicates kept) or "batch_negatives" (also every sampled
    # negative item: SSLRec's SGL); one loss term per set (mean over its rows), the terms summed
    anchors: str = "unique"
    # graph models: at most this many anchors per set and step (a seeded sample of the set; 0 = all).
    # Bounds the contrastive cost of a step when batches grow with the data (docs/scale.md)
    max_anchors: int = 0


@dataclass
class AugConfig:
    """Sequence augmentation ratios (CL4SRec / CoSeRec)."""

    crop_ratio: float = 0.2
    mask_ratio: float = 0.7
    reorder_ratio: float = 0.2
    substitute_ratio: float = 0.2
    insert_ratio: float = 0.2
    augment_threshold: int = 4  # CoSeRec: shorter sequences only get insert / substitute
    correlation_top_k: int = 10
    correlation_update_epoch: int = 10  # CoSeRec: switch to embedding-based correlation after this epoch
    # the operators a view draws from, one per sequence uniformly (CL4SRec family; CoSeRec: the operators
    # of long sequences): a subset of crop, mask, reorder, substitute, insert; empty = the model's own set
    ops: list[str] = field(default_factory=list)


@dataclass
class Config:
    model: str = "lightgcn"
    dataset: str | None = None
    format: str | None = None
    split: str = "auto"  # auto | loo | random | temporal | presplit
    sequential: bool | None = None  # None: lists files are sequences; false: treat them as graph CF
    unseen_users: str = "auto"  # pre-split data, valid/test users with no training rows: auto | error | keep | drop
    k_core: int = 0
    epochs: int = 300
    batch_size: int = 2048
    eval_batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    embedding_dim: int = 64
    seed: int = 2024
    # the seed of the data split (random splits, carved validation); None = `seed`. `train --seeds N` fixes
    # it to the first seed, so that every seed trains and tests on the same split
    split_seed: int | None = None
    patience: int = 20
    eval_every: int = 1
    device: str = "auto"  # cpu | cuda | auto
    threads: int = 0  # CPU threads for torch (0 = torch's default)
    metric: str = "ndcg@20"
    ks: list[int] = field(default_factory=lambda: [10, 20, 40])
    # graph the graph models propagate over when scoring the test set: "train" (the training graph,
    # the released-split protocol) or "history" (every interaction known before the test one:
    # train + valid, as the sequential models' input histories). Validation always uses train.
    eval_graph: str = "train"
    # refit: train on train + valid for exactly `epochs` epochs, no validation, and test the final
    # model (`contrastrec refit` sets it, with the epoch count a validation-selected run chose)
    refit: bool = False
    max_train_seconds: float = 0.0  # 0 = no limit; otherwise stop (keeping the best checkpoint)
    # evaluate a seeded sample of this many users (each still ranked against every item); 0 = all.
    # For large data: the sample is stated in results.json and in the printed summary.
    eval_users: int = 0
    # group metrics of the final validation and the test evaluation (evaluation/groups.py): items cut
    # into item_groups groups of equal training interactions (head .. tail), users into user_groups
    # groups of equal size by training interactions (sparse .. active); 0 = off
    item_groups: int = 3
    user_groups: int = 3
    # learning rate for large batches: lr is the rate at batch size lr_base_batch, scaled
    # "linear" (x B/B0, Goyal et al. 2017) or "sqrt" (x sqrt(B/B0), for Adam) to batch_size B
    lr_scale: str = "none"  # none | linear | sqrt
    lr_base_batch: int = 2048
    # adam | lazy_adam (large catalogues: the tables the model only looks rows up in get sparse gradients and a
    # row-wise Adam step, the rest Adam; see contrastrec.training.optim)
    optimizer: str = "adam"
    amp: bool = False  # bf16 autocast of the forward pass (CUDA; see docs/scale.md)
    # encoder
    encoder: str = ""  # "" = the model's default; mf | lightgcn | sasrec | gru4rec | caser
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.5
    attn_dropout: float = 0.5
    max_len: int = 50
    # sequential models: train on every prefix of every training sequence (one example and one target
    # each, as the reference implementations) instead of one sequence per user with a target per position
    train_prefixes: bool = False
    max_prefixes: int = 0  # train_prefixes: each user's most recent prefixes only (0 = all)
    reg_weight: float = 1e-4
    # lightgcn encoder: the output combines the layers by their "mean" (LightGCN) or "sum" (SSLRec's models)
    layer_aggregate: str = "mean"
    # main loss
    loss: str = ""  # "" = the model's default; bpr | bce | ce | sampled_softmax | softmax (graph: in-batch)
    rec_temperature: float = 0.2  # loss=softmax: temperature of the in-batch cosine softmax
    n_negatives: int = 1  # sampled negatives for bpr / bce / sampled_softmax
    neg_sampler: str = "uniform"  # main-loss negatives: uniform | popularity | hard | mixgcf (graph models: synthetic
    # negatives mixed from n_negatives uniform candidates and the positive, Huang et al. KDD 2021)
    neg_alpha: float = 1.0  # popularity exponent (popularity^alpha)
    neg_hard_skip_top: int = 10  # hard: skip these top-ranked non-positives (likely false negatives)
    neg_hard_band: int = 200  # hard: sample from the next `band` ranks
    neg_hard_ratio: float = 0.5  # hard: share of hard negatives (the rest uniform)
    neg_hard_refresh_every: int = 500  # hard: steps between re-rankings with the current model
    schema: str = "joint"  # joint | pretrain_finetune | integrated
    pretrain_epochs: int = 0
    freeze: str = "none"  # none | embeddings | all_but_last (fine-tune phase)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    aug: AugConfig = field(default_factory=AugConfig)
    # the model's own hyper-parameters: an instance of its ``Params`` dataclass (None when it has
    # none), written and read as the section named after the model (``simgcl.eps``, ``ncl.n_clusters``)
    params: Any = None

    def to_dict(self) -> dict[str, Any]:
        params = self.params
        self.params = None
        try:
            d = dataclasses.asdict(self)
        finally:
            self.params = params
        d.pop("params")
        if params is not None:
            d[self.model] = dataclasses.asdict(params)
        return d


# --------------------------------------------------------------------------- registry
# Derived from the model classes (see contrastrec.models.registry): each model declares its NAME,
# DESCRIPTION, Params, DEFAULTS, tuning SPACE and DEMO setting in its own file.
from contrastrec.models.registry import RegistryView  # noqa: E402  (no torch import at this point)

MODELS = RegistryView()  # name -> model class
MODEL_DESCRIPTIONS = RegistryView("DESCRIPTION")  # name -> one-line description

class _Choices(dict):
    """Choices of the shared keys. ``ssl.loss`` is read from the loss registry
    (``contrastrec.losses.SSL_LOSSES``), so that adding a loss does not touch this file."""

    LAZY = ("ssl.loss",)

    def __missing__(self, key: str) -> tuple[str, ...]:
        if key == "ssl.loss":
            from contrastrec.losses import SSL_LOSSES

            return tuple(SSL_LOSSES)
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        return key in self.LAZY or super().__contains__(key)


# choices of the shared keys; a model's own keys declare theirs with typing.Literal in its Params
CHOICES: dict[str, tuple[str, ...]] = _Choices({
    "split": ("auto", "loo", "random", "temporal", "presplit"),
    "unseen_users": ("auto", "error", "keep", "drop"),
    "device": ("cpu", "cuda", "auto"),
    "encoder": ("", "mf", "lightgcn", "sasrec", "gru4rec", "caser"),
    "loss": ("", "bpr", "bce", "ce", "sampled_softmax", "softmax"),
    "schema": ("joint", "pretrain_finetune", "integrated"),
    "eval_graph": ("train", "history"),
    "lr_scale": ("none", "linear", "sqrt"),
    "optimizer": ("adam", "lazy_adam"),
    "neg_sampler": ("uniform", "popularity", "hard", "mixgcf"),
    "freeze": ("none", "embeddings", "all_but_last"),
    "ssl.similarity": ("cosine", "dot"),
    "ssl.negatives": ("in_batch", "all", "uniform", "popularity", "hard"),
    "ssl.head": ("none", "linear", "mlp"),
    "ssl.false_negatives": ("none", "same_target", "same_cluster", "same_user"),
    "ssl.anchors": ("unique", "batch", "batch_negatives"),
    "layer_aggregate": ("mean", "sum"),
})

# Before each model had its own section, model keys lived in shared sections; a saved config or
# an old config file that uses them is read into the model's section (when the model has the key).
LEGACY_SECTIONS = ("graph", "seq", "sgl")


def register_model(cls_or_name, module: str | None = None, cls: str | None = None, description: str = "") -> type:
    from contrastrec.models.registry import register_model as _register

    return _register(cls_or_name, module, cls, description)


def model_class(name: str) -> type:
    from contrastrec.models.registry import registered

    models = registered()
    if name not in models:
        raise ConfigError(f"unknown model {_short(name)}{_suggest(name, models)}; valid: {', '.join(sorted(models))}")
    return models[name]


def params_class(model: str) -> type | None:
    """The model's ``Params`` dataclass (its own section of the config), or None."""
    return getattr(model_class(model), "Params", None)


# --------------------------------------------------------------------------- building
# Names other libraries and papers use for our keys, consulted before spelling similarity (which
# finds, e.g., "ssl.hard_ratio" nearest to "learning_rate").
ALIASES: dict[str, str] = {
    **dict.fromkeys(("learning_rate", "learningrate", "lr_rate", "learning_rate_init", "eta", "step_size"), "lr"),
    **dict.fromkeys(("batchsize", "bs", "train_batch_size", "batch", "minibatch_size", "mini_batch_size"),
                    "batch_size"),
    **dict.fromkeys(("eval_batch", "test_batch_size", "valid_batch_size", "eval_bs"), "eval_batch_size"),
    **dict.fromkeys(("emb_size", "embedding_size", "embed_size", "emb_dim", "embed_dim", "embedding_dimension",
                     "hidden_size", "hidden_dim", "hidden_units", "dim", "latent_dim", "d_model", "factors",
                     "n_factors", "num_factors"), "embedding_dim"),
    **dict.fromkeys(("num_layers", "n_layer", "layers", "num_layer", "gcn_layers", "n_blocks", "num_blocks"),
                    "n_layers"),
    **dict.fromkeys(("num_heads", "n_head", "heads", "num_attention_heads"), "n_heads"),
    **dict.fromkeys(("temperature", "tau", "temp", "ssl_temp", "ssl_tau", "cl_temp", "cl_temperature",
                     "ssl_temperature"), "ssl.temperature"),
    **dict.fromkeys(("ssl_weight", "cl_weight", "ssl_reg", "cl_rate", "cl_reg", "lambda", "lambda_ssl",
                     "lambda_cl", "ssl_lambda"), "ssl.weight"),
    **dict.fromkeys(("l2", "wd", "l2_weight", "decay", "weight_decay_rate"), "weight_decay"),
    **dict.fromkeys(("reg", "l2_reg", "reg_lambda", "regularization", "emb_reg"), "reg_weight"),
    **dict.fromkeys(("num_epochs", "n_epochs", "epoch", "max_epochs", "train_epochs"), "epochs"),
    **dict.fromkeys(("early_stop", "early_stopping", "early_stopping_patience", "stopping_step",
                     "stopping_steps"), "patience"),
    **dict.fromkeys(("max_seq_length", "max_seq_len", "max_sequence_length", "seq_len", "maxlen",
                     "max_length", "history_len"), "max_len"),
    **dict.fromkeys(("dropout_rate", "dropout_prob", "hidden_dropout_prob", "hidden_dropout"), "dropout"),
    **dict.fromkeys(("attn_dropout_prob", "attention_dropout", "attn_dropout_rate"), "attn_dropout"),
    **dict.fromkeys(("num_negatives", "neg_num", "n_neg", "num_neg", "neg_samples", "negatives"), "n_negatives"),
    **dict.fromkeys(("topk", "top_k", "k", "cutoffs"), "ks"),
    **dict.fromkeys(("valid_metric", "eval_metric", "selection_metric"), "metric"),
    **dict.fromkeys(("eval_step", "eval_steps", "eval_interval", "eval_freq"), "eval_every"),
    **dict.fromkeys(("random_seed", "rng_seed"), "seed"),
    **dict.fromkeys(("num_threads", "n_threads", "workers"), "threads"),
    **dict.fromkeys(("time_limit", "max_seconds", "budget_seconds"), "max_train_seconds"),
    **dict.fromkeys(("data", "data_path", "dataset_path"), "dataset"),
}


def _suggest(key: str, valid) -> str:
    """`` (did you mean 'x'?)`` for the valid name nearest ``key``: a known alias first (``learning_rate``
    -> ``lr``, ``ssl.tau`` -> ``ssl.temperature``), then spelling similarity; "" if none is close."""
    valid = [str(v) for v in valid]
    norm = str(key).strip().lower().replace("-", "_")
    head, _, tail = norm.rpartition(".")
    candidates = [ALIASES.get(norm), ALIASES.get(tail)]
    if head:  # a section's own spelling (ssl.tau -> ssl.temperature), then a top-level key (seq.max_len -> max_len)
        alias = ALIASES.get(tail, "")
        candidates[:0] = [f"{head}.{alias.rpartition('.')[2]}" if alias else None, tail]
    for c in candidates:
        if c and c in valid and c != key:
            return f" (did you mean {c!r}?)"
    # spelling similarity, to the valid names and to the aliases of valid names (learning_rat -> lr)
    names = {v: v for v in valid} | {a: t for a, t in ALIASES.items() if t in valid and a not in valid}
    m = difflib.get_close_matches(key, list(names), n=1, cutoff=0.5)
    return f" (did you mean {names[m[0]]!r}?)" if m else ""


@functools.lru_cache(maxsize=None)
def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def valid_keys(cls=Config, prefix: str = "", model: str | None = None) -> list[str]:
    """The config keys (``ssl.temperature``); with ``model``, its own section's keys too."""
    out = []
    for f in dataclasses.fields(cls):
        if cls is Config and f.name == "params":
            continue
        t = _field_types(cls)[f.name]
        if dataclasses.is_dataclass(t):
            out += valid_keys(t, prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    if model is not None:
        p = params_class(model)
        if p is not None:
            out += valid_keys(p, f"{model}.")
    return out


def _coerce(key: str, value: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin is typing.Literal:
        val = _coerce(key, value, type(args[0]))
        if val not in args:
            raise ConfigError(f"{key}: invalid value {val!r}{_suggest(str(val), [str(a) for a in args])}; "
                              f"valid: {', '.join(str(a) for a in args)}")
        return val
    if origin is typing.Union or (origin is not None and type(None) in args):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is list:
        if isinstance(value, str):
            value = (parse_yaml(value, key) if value.strip().startswith("[")
                     else [v for v in value.split(",") if v])
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [_coerce(key, v, args[0]) for v in value]
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            try:
                f = float(str(value))
                if f.is_integer():
                    return int(f)
            except ValueError:
                pass
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            val = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if not math.isfinite(val):  # nan passes every `<= 0` check, then poisons training
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return val
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def _flatten(d: dict, prefix: str = "", where: str = "") -> dict[str, Any]:
    """``{"ssl": {"loss": x}}`` -> ``{"ssl.loss": x}``; a key given twice (``ssl.loss`` and ``ssl:
    {loss:}``) is refused: one spelling would silently win."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = prefix + str(k)
        flat = _flatten(v, key + ".", where) if isinstance(v, dict) else {key: v}
        for twice in flat.keys() & out.keys():
            raise ConfigError(f"{where}{twice} is given twice (as a dotted key and inside its section)")
        out.update(flat)
    return out


def _resolve_key(cfg: Config, key: str, where: str, legacy: str = "translate") -> tuple[Any, str] | None:
    """The object holding ``key`` and the attribute name; None when a legacy key is dropped.

    ``legacy``: "translate" (files and --set: a legacy ``graph.eps`` is read as the model's
    ``simgcl.eps``; one the model does not have is refused) or "drop" (saved configs, which held
    every model's keys: those of other models did nothing and are dropped)."""
    head, _, rest = key.partition(".")
    if rest and head == cfg.model and cfg.params is not None:
        if rest not in {f.name for f in dataclasses.fields(cfg.params)}:
            raise ConfigError(f"{where}unknown key {key!r} for model {cfg.model}"
                              f"{_suggest(key, valid_keys(model=cfg.model))}")
        return cfg.params, rest
    if rest and head in LEGACY_SECTIONS and "." not in rest:
        if cfg.params is not None and rest in {f.name for f in dataclasses.fields(cfg.params)}:
            return cfg.params, rest
        if legacy == "drop":
            return None
        if rest in valid_keys():
            raise ConfigError(f"{where}{key}: {rest} is a top-level key, not one of the {head} section "
                              f"(did you mean {rest!r}?)")
        raise ConfigError(f"{where}{key} does nothing for model {cfg.model}: model keys live in the model's own "
                          f"section now (e.g. simgcl.eps), and {cfg.model} has no key {rest!r}"
                          f"{_suggest(key, valid_keys(model=cfg.model))}")
    keys = valid_keys()
    if key in keys:
        obj: Any = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            obj = getattr(obj, p)
        return obj, parts[-1]
    if rest and head == cfg.model:  # a model without a section of its own
        raise ConfigError(f"{where}unknown key {key!r}: model {cfg.model} has no keys of its own"
                          f"{_suggest(key, valid_keys(model=cfg.model))}")
    if rest:
        from contrastrec.models.registry import registered

        if head in registered():
            raise ConfigError(f"{where}{key} is a key of model {head}, but this config's model is {cfg.model}")
    raise ConfigError(f"{where}unknown config key {key!r}{_suggest(key, valid_keys(model=cfg.model))}")


def apply_overrides(cfg: Config, overrides: dict[str, Any], source: str = "", legacy: str = "translate") -> Config:
    """Apply flat or nested overrides to ``cfg`` in place, validating keys, types and choices.
    Keys of the model's own section are ``<model>.<key>`` (``cfg.params``)."""
    where = f"{source}: " if source else ""
    set_by: dict[tuple[int, str], str] = {}  # (section, key) -> the spelling that set it
    for key, value in _flatten(overrides, where=where).items():
        if key == "model":
            if str(value) != cfg.model:
                raise ConfigError(f"{where}model {_short(value)} differs from the config's model {cfg.model!r}")
            continue
        found = _resolve_key(cfg, key, where, legacy)
        if found is None:
            continue
        obj, attr = found
        first = set_by.setdefault((id(obj), attr), key)
        if first != key and legacy == "translate":
            raise ConfigError(f"{where}{key} and {first} are the same key, given twice")
        typ = _field_types(type(obj))[attr]
        try:
            val = _coerce(key, value, typ)
        except ConfigError as e:
            raise ConfigError(where + str(e)) from None
        if key in CHOICES and val not in CHOICES[key]:
            raise ConfigError(
                f"{where}{key}: invalid value {val!r}{_suggest(str(val), CHOICES[key])}; "
                f"valid: {', '.join(c for c in CHOICES[key] if c)}"
            )
        setattr(obj, attr, val)
    return cfg


def new_config(model: str) -> Config:
    """The library defaults for ``model`` (its ``Params`` section at their dataclass defaults)."""
    cfg = Config(model=model)
    p = params_class(model)
    cfg.params = p() if p is not None else None
    return cfg


def parse_set_args(items: list[str]) -> dict[str, Any]:
    """``["a=1 b=2", "ssl.loss=debiased"]`` -> ``{"a": 1, "b": 2, "ssl.loss": "debiased"}``.

    One ``--set`` may hold several ``key=value`` pairs, as separate arguments (``--set a=1 b=2``,
    given here as a list) or in one quoted argument. Values are parsed
    as YAML (so ``1e-3`` is a number and ``[5,10]`` a list), by :func:`parse_yaml` (no aliases);
    a list or mapping that is not valid YAML is refused naming the key.
    """
    out: dict[str, Any] = {}
    flat: list[str] = []
    for item in items:  # argparse with nargs="+" and action="append" gives a list per --set
        flat += [item] if isinstance(item, str) else list(item)
    for item in flat:
        for tok in item.split():
            if "=" not in tok:
                raise ConfigError(f"--set expects key=value, got {tok!r}")
            k, v = tok.split("=", 1)
            if not k:
                raise ConfigError(f"--set expects key=value, got {tok!r}")
            val = _set_value(k.strip(), v)
            if isinstance(val, str):  # YAML 1.1 reads "1e-3" as a string
                try:
                    val = float(val) if any(c in val for c in ".eE") else int(val)
                except ValueError:
                    pass
            out[k.strip()] = val
    return out


def read_config_text(path: str | Path) -> str:
    """The text of a config file: a regular file (not a folder, FIFO or device, which could block or
    never end) of at most :data:`MAX_CONFIG_BYTES`, in UTF-8. Refusals are one-line ConfigErrors."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise ConfigError(f"{p}: not a regular file ({kind}); give a YAML file")
    with p.open("rb") as f:
        data = f.read(MAX_CONFIG_BYTES + 1)  # bounded, whatever the file claims its size is
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not a config file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{p}:{line}: not UTF-8 text "
                          f"(byte 0x{data[e.start]:02x}); save the file as UTF-8") from None


def _set_value(key: str, text: str) -> Any:
    """A ``--set`` value parsed as YAML. A flow list or mapping (``[5,10]``) that is not valid YAML is
    refused; any other text that is not valid YAML is taken as the string it is."""
    if text == "":
        return ""
    try:
        return parse_yaml(text, f"--set {key}={_short(text)}")
    except ConfigError:
        if text.lstrip().startswith(("[", "{")):
            raise
        return text


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a config file (:func:`read_config_text`, :func:`parse_yaml`)."""
    p = Path(path)
    data = parse_yaml(read_config_text(p), str(p))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the config file must be a mapping of keys to values")
    return data


def explicit_keys(cfg: Config, *sources: dict[str, Any]) -> set[str]:
    """The keys a file or ``--set`` names, as they resolve in ``cfg`` (legacy keys translated)."""
    out = set()
    for src in sources:
        for key in _flatten(src):
            head, _, rest = key.partition(".")
            out.add(f"{cfg.model}.{rest}" if head in LEGACY_SECTIONS and rest else key)
    return out


def build_config(
    model: str | None = None,
    file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Build a validated Config: defaults < model DEFAULTS < file < overrides (< explicit model).

    A key that the file or the overrides set and that does nothing under the resulting config
    (see :func:`inert_keys`) is refused with a one-line error naming the key and the model."""
    file_d = load_yaml(file) if file else {}
    over = dict(overrides or {})
    name = str(over.get("model") or model or file_d.get("model") or Config.model)
    cls = model_class(name)
    cfg = new_config(name)
    apply_overrides(cfg, getattr(cls, "DEFAULTS", {}), source=f"model {name} defaults")
    file_d = {k: v for k, v in file_d.items() if k != "model"}
    over.pop("model", None)
    apply_overrides(cfg, file_d, source=str(file) if file else "")
    apply_overrides(cfg, over, source="--set")
    validate(cfg, explicit=explicit_keys(cfg, file_d, over))
    return cfg


MAX_K = 1_000_000  # the largest cut-off (ks) accepted
SEED_MAX = 2**32 - 1  # numpy's and torch's generators take seeds (and seed * salt + epoch) in range
# key -> its least valid value and what the value means, checked by validate
MINIMUMS: dict[str, tuple[int, str]] = {
    "n_negatives": (1, "sampled negatives per positive"),
    "ssl.n_negatives": (1, "explicit negatives per anchor"),
    "weight_decay": (0, "0 = none"),
    "threads": (0, "0 = torch's default"),
    "k_core": (0, "0 = no filtering"),
    "max_train_seconds": (0, "0 = no limit"),
}


def _check_minimums(cfg: Config) -> None:
    """Refuse a value of :data:`MINIMUMS` below its least valid value, naming the key and the range."""
    for key, (least, meaning) in MINIMUMS.items():
        obj: Any = cfg
        for part in key.split("."):
            obj = getattr(obj, part)
        if obj < least:
            raise ConfigError(f"{key} must be >= {least} ({meaning}), got {obj}")


def validate(cfg: Config, explicit: set[str] | None = None) -> None:
    """Cross-field checks; incompatible combinations are refused here, at configuration time.
    ``explicit``: keys a file or ``--set`` named; any of them that does nothing is refused."""
    model_class(cfg.model)
    for k in ("epochs", "batch_size", "embedding_dim", "eval_every", "eval_batch_size", "max_len"):
        if getattr(cfg, k) <= 0:
            raise ConfigError(f"{k} must be positive, got {getattr(cfg, k)}")
    if cfg.patience < 0:
        raise ConfigError(f"patience must be >= 0, got {cfg.patience}")
    _check_minimums(cfg)
    if not 0 <= cfg.seed <= SEED_MAX:
        raise ConfigError(f"seed must be an integer in [0, {SEED_MAX}], got {_short(cfg.seed)}")
    if cfg.lr <= 0:
        raise ConfigError(f"lr must be positive, got {cfg.lr}")
    if cfg.ssl.max_anchors < 0:
        raise ConfigError(f"ssl.max_anchors must be >= 0 (0 = all), got {cfg.ssl.max_anchors}")
    if cfg.max_prefixes < 0:
        raise ConfigError(f"max_prefixes must be >= 0 (0 = all), got {cfg.max_prefixes}")
    if cfg.eval_users < 0 or cfg.lr_base_batch <= 0:
        raise ConfigError("eval_users must be >= 0 and lr_base_batch positive")
    for key in ("item_groups", "user_groups"):
        if not 0 <= getattr(cfg, key) <= 100:
            raise ConfigError(f"{key} must be in 0..100 (0 = no group metrics), got {getattr(cfg, key)}")
    if not 0 <= cfg.dropout < 1 or not 0 <= cfg.attn_dropout < 1:
        raise ConfigError("dropout and attn_dropout must be in [0, 1)")
    if cfg.ssl.hard_refresh_every < 0:
        raise ConfigError(f"ssl.hard_refresh_every must be >= 0, got {cfg.ssl.hard_refresh_every}")
    if cfg.optimizer == "lazy_adam" and cfg.weight_decay:
        raise ConfigError(f"optimizer=lazy_adam has no weight decay (weight_decay={cfg.weight_decay:g}); set "
                          "weight_decay: 0 or use optimizer=adam")
    if cfg.rec_temperature <= 0:
        raise ConfigError(f"rec_temperature must be positive, got {cfg.rec_temperature}")
    if cfg.ssl.temperature <= 0:
        raise ConfigError(f"ssl.temperature must be positive, got {cfg.ssl.temperature}")
    if not 0 <= cfg.ssl.tau_plus < 1:
        raise ConfigError(f"ssl.tau_plus must be in [0, 1), got {cfg.ssl.tau_plus}")
    if any(not 1 <= k <= MAX_K for k in cfg.ks):
        raise ConfigError(f"ks: each cut-off must be in [1, {MAX_K}], got {_short(cfg.ks)} (a cut-off above the "
                          "number of items ranks every item; the ranks beyond it count as misses)")
    from contrastrec.evaluation.metrics import parse_metric  # local: avoids import cycles

    try:
        _, k = parse_metric(cfg.metric)
    except ValueError as e:
        raise ConfigError(f"metric: {e}") from None
    if k not in cfg.ks:
        cfg.ks = sorted(set(cfg.ks) | {k})
    if cfg.neg_sampler == "mixgcf" and model_class(cfg.model).task != "pairwise":  # graph models check the rest
        raise ConfigError(f"neg_sampler=mixgcf does not apply to model {cfg.model}: it mixes the layer embeddings "
                          "of a graph encoder (graph models only)")
    if cfg.neg_sampler != "uniform" and (cfg.loss or cls_default_loss(cfg)) == "ce":
        raise ConfigError(f"neg_sampler={cfg.neg_sampler} draws sampled negatives, but loss=ce ranks against all "
                          "items and uses none; use loss=bce or loss=sampled_softmax")
    if not 0 <= cfg.neg_hard_ratio <= 1:
        raise ConfigError(f"neg_hard_ratio must be in [0, 1], got {cfg.neg_hard_ratio}")
    if cfg.schema == "pretrain_finetune" and cfg.pretrain_epochs <= 0:
        raise ConfigError("schema=pretrain_finetune needs pretrain_epochs > 0")
    if cfg.ssl.warmup_epochs < 0:
        raise ConfigError(f"ssl.warmup_epochs must be >= 0, got {cfg.ssl.warmup_epochs}")
    if cfg.ssl.weight < 0:
        raise ConfigError(f"ssl.weight must be >= 0, got {cfg.ssl.weight}")
    bad_ops = [o for o in cfg.aug.ops if o not in SEQUENCE_OPS]
    if bad_ops or len(set(cfg.aug.ops)) != len(cfg.aug.ops):
        raise ConfigError(f"aug.ops: {cfg.aug.ops} must name distinct operators of {', '.join(SEQUENCE_OPS)}")
    cls = model_class(cfg.model)
    if (cfg.schema == "joint" and cls.reads_ssl(cfg) and cfg.ssl.warmup_epochs > 0
            and cfg.ssl.warmup_epochs >= cfg.epochs):
        raise ConfigError(f"ssl.warmup_epochs={cfg.ssl.warmup_epochs} >= epochs={cfg.epochs}: the contrastive "
                          f"terms of {cfg.model} would never start (lower ssl.warmup_epochs, or raise epochs)")
    cls.check_config(cfg)
    if explicit:
        inert = inert_keys(cfg)
        for key in sorted(explicit):
            reason = inert.get(key) or next((r for k, r in inert.items() if k.endswith(".*")
                                             and key.startswith(k[:-1])), None)
            if reason:
                raise ConfigError(f"{key} does nothing for model {cfg.model}: {reason}")


SSL_LOSS_KEYS = ("temperature", "similarity", "tau_plus", "beta", "margin", "gamma", "pos_clamp")
SEQUENCE_OPS = ("crop", "mask", "reorder", "substitute", "insert")  # augment.sequence.make_sequence_ops


def ssl_loss_keys(loss: str) -> set[str]:
    """The ``ssl.*`` keys that the SSL loss ``loss`` takes (from its constructor's signature)."""
    import inspect

    from contrastrec.losses import SSL_LOSSES

    return set(inspect.signature(SSL_LOSSES[loss].__init__).parameters) & set(SSL_LOSS_KEYS)


def inert_keys(cfg: Config) -> dict[str, str]:
    """Keys that do nothing under ``cfg`` -> why (``"ssl.*"`` covers a section). Shared rules here;
    each model adds its own (``Recommender.inert_keys``)."""
    cls = model_class(cfg.model)
    out: dict[str, str] = {}
    s = cfg.ssl
    if not cls.reads_ssl(cfg):
        out["ssl.*"] = f"it has no contrastive term{'' if cfg.schema == 'joint' else ' under schema=' + cfg.schema}"
    else:
        for k in set(SSL_LOSS_KEYS) - ssl_loss_keys(s.loss):
            out[f"ssl.{k}"] = f"ssl.loss={s.loss} does not take it"
        if s.negatives in ("in_batch", "all"):
            out["ssl.n_negatives"] = f"ssl.negatives={s.negatives} draws no explicit negatives"
        if s.negatives != "popularity":
            out["ssl.popularity_alpha"] = "it is read by ssl.negatives=popularity only"
        if s.negatives != "hard":
            for k in ("hard_skip_top", "hard_band", "hard_ratio", "hard_refresh_every"):
                out[f"ssl.{k}"] = "it is read by ssl.negatives=hard only"
        if s.head == "none":
            out["ssl.head_batch_norm"] = "ssl.head=none has no layer to normalise"
        if cfg.schema != "joint":
            out["ssl.warmup_epochs"] = f"the warm-up is a schema=joint schedule (schema={cfg.schema})"
        if not getattr(cls, "CAPS_ANCHORS", False):
            out["ssl.max_anchors"] = ("its contrastive anchors are the batch's sequences / its own step's nodes "
                                      "(batch_size sets how many)")
        elif cfg.schema == "integrated":
            out["ssl.max_anchors"] = "schema=integrated contrasts each interaction of the batch"
        if not getattr(cls, "SSL_ANCHORS", ()):
            from contrastrec.models.registry import registered

            readers = sorted(n for n, c in registered().items() if getattr(c, "SSL_ANCHORS", ()))
            out["ssl.anchors"] = f"its contrastive anchors are fixed (the models that read it: {', '.join(readers)})"
        elif cfg.schema == "integrated":
            out["ssl.anchors"] = "schema=integrated contrasts each interaction of the batch across the two views"
    if "aug" not in cls.sections(cfg):
        out["aug.*"] = "it draws no sequence augmentation"
    if cfg.schema != "pretrain_finetune":
        out["pretrain_epochs"] = out["freeze"] = f"it is read by schema=pretrain_finetune only (schema={cfg.schema})"
    loss = cfg.loss or cls_default_loss(cfg)
    if loss != "softmax":
        out["rec_temperature"] = f"it is read by loss=softmax only (loss={loss})"
    if loss in ("ce", "softmax") or cls.task == "none":
        out["n_negatives"] = f"loss={loss} samples no negatives"
    if not cls.sequential or cls.task == "none":
        out["train_prefixes"] = out["max_prefixes"] = "it is read by trained sequential models only"
    elif not getattr(cls, "PREFIXES", False):
        out["train_prefixes"] = out["max_prefixes"] = f"{cfg.model} builds per-user training structures (not per prefix)"
    elif not cfg.train_prefixes:
        out["max_prefixes"] = "it is read by train_prefixes=true only"
    if cfg.lr_scale == "none":
        out["lr_base_batch"] = "it is read by lr_scale=linear|sqrt only"
    if cfg.neg_sampler != "popularity":
        out["neg_alpha"] = "it is read by neg_sampler=popularity only"
    if cfg.neg_sampler != "hard":
        for k in ("neg_hard_skip_top", "neg_hard_band", "neg_hard_ratio", "neg_hard_refresh_every"):
            out[k] = "it is read by neg_sampler=hard only"
    reason = layer_aggregate_inert(cfg)
    if reason:
        out["layer_aggregate"] = reason
    out.update(cls.inert_keys(cfg))
    return out


def layer_aggregate_inert(cfg: Config) -> str:
    """Why ``layer_aggregate`` does nothing under ``cfg`` ("" when it acts): it acts for the models
    that declare ``LAYER_AGGREGATE = True`` (their outputs are the lightgcn encoder's layer
    combination) when they use the lightgcn encoder."""
    cls = model_class(cfg.model)
    encoder = cfg.encoder or cls.DEFAULTS.get("encoder", "lightgcn" if getattr(cls, "uses_graph", False) else "")
    if getattr(cls, "LAYER_AGGREGATE", False) and encoder == "lightgcn":
        return ""
    if cfg.params is not None and "aggregate" in {f.name for f in dataclasses.fields(cfg.params)}:
        return f"{cfg.model}.aggregate sets its layer aggregation"
    if encoder != "lightgcn":
        return f"it combines the layers of the lightgcn encoder (encoder={encoder or 'none'})"
    from contrastrec.models.registry import registered

    readers = sorted(n for n, c in registered().items() if getattr(c, "LAYER_AGGREGATE", False))
    return f"it is read by the models whose output is the lightgcn encoder's layer combination ({', '.join(readers)})"


def cls_default_loss(cfg: Config) -> str:
    return str(getattr(model_class(cfg.model), "DEFAULTS", {}).get("loss", ""))


# Keys that may change when an interrupted or budget-stopped run resumes: they do not change what
# the model is or how batches are drawn, so the resumed run stays the same experiment.
RESUME_KEYS = ("max_train_seconds", "epochs", "patience", "threads", "device", "eval_batch_size")


def resume_config(cfg: Config, overrides: dict[str, Any]) -> Config:
    """``cfg`` (a saved run's config) with ``overrides`` applied; only :data:`RESUME_KEYS` may change."""
    bad = sorted(k for k in _flatten(overrides) if k not in RESUME_KEYS)
    if bad:
        raise ConfigError(f"cannot change {', '.join(bad)} when resuming (the run would no longer be one "
                          f"experiment); resumable keys: {', '.join(RESUME_KEYS)}")
    out = config_from_dict(cfg.to_dict())
    apply_overrides(out, overrides, source="resume")
    validate(out)
    return out


def config_from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a Config saved with ``to_dict`` (checkpoints, results.json). Saved configs from
    before the per-model sections (``graph.*``, ``seq.*``, ``sgl.*`` holding every model's keys)
    are read into the model's section; the other models' keys, which did nothing, are dropped."""
    cfg = new_config(str(d.get("model", Config.model)))
    apply_overrides(cfg, d, source="saved config", legacy="drop")
    return cfg
