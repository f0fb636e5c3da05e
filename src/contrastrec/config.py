"""Typed, validated configuration. The only place where strings become classes.

Precedence (lowest first): dataclass defaults < the model's ``DEFAULTS`` < config file < ``--set``.
Unknown keys are errors that name the key and suggest the nearest valid one.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """Invalid configuration (unknown key, bad value, incompatible combination)."""


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
    warmup_epochs: int = 0  # schema=joint: epochs on the main loss alone before the SSL terms start (other schemas ignore it)


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


@dataclass
class GraphSSLConfig:
    """Graph contrastive settings (SGL / SimGCL / XSimGCL / NCL)."""

    eps: float = 0.1  # SimGCL / XSimGCL noise magnitude ε
    layer_cl: int = 1  # XSimGCL l*: the layer contrasted with the final one
    # NCL
    proto_weight: float = 1e-7  # NCL prototype-contrast weight (paper default scale)
    struct_weight: float = 1e-7
    alpha: float = 1.0  # NCL: weight of item side in the structure loss
    n_clusters: int = 1000
    warmup_epochs: int = 20  # NCL: epochs before prototype contrast starts
    hyper_layers: int = 1  # NCL: the even layer 2*hyper_layers is the structural neighbour
    # DirectAU
    gamma: float = 1.0


@dataclass
class SGLConfig:
    """SGL graph augmentation (Wu et al. 2021)."""

    augment: str = "ed"  # ed (edge dropout) | nd (node dropout) | rw (random walk)
    drop_ratio: float = 0.1  # ρ


@dataclass
class SeqSSLConfig:
    """Sequential contrastive settings (ICLRec / DuoRec / S3-Rec)."""

    n_intents: int = 256  # ICLRec k
    intent_weight: float = 0.1
    instance_weight: float = 0.1
    intent_warmup_epochs: int = 0
    supervised_positives: bool = True  # DuoRec: same-target sequences as positives
    # S3-Rec pre-training
    aap_weight: float = 0.2
    mip_weight: float = 1.0
    map_weight: float = 1.0
    sp_weight: float = 0.5
    mask_p: float = 0.2


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
    # encoder
    encoder: str = ""  # "" = the model's default; mf | lightgcn | sasrec | gru4rec | caser
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.5
    attn_dropout: float = 0.5
    max_len: int = 50
    reg_weight: float = 1e-4
    # main loss
    loss: str = ""  # "" = the model's default; bpr | bce | ce | sampled_softmax | softmax (graph: in-batch)
    rec_temperature: float = 0.2  # loss=softmax: temperature of the in-batch cosine softmax
    n_negatives: int = 1  # sampled negatives for bpr / bce / sampled_softmax
    neg_sampler: str = "uniform"  # main-loss negatives: uniform | popularity | hard
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
    graph: GraphSSLConfig = field(default_factory=GraphSSLConfig)
    sgl: SGLConfig = field(default_factory=SGLConfig)
    seq: SeqSSLConfig = field(default_factory=SeqSSLConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- registry
# name -> (module, class). Lazy so that `contrastrec models` is fast.
MODELS: dict[str, tuple[str, str]] = {
    "pop": ("contrastrec.models.pop", "Popularity"),
    "mf": ("contrastrec.models.mf", "MF"),
    "lightgcn": ("contrastrec.models.lightgcn", "LightGCN"),
    "sasrec": ("contrastrec.models.sasrec", "SASRec"),
    "sgl": ("contrastrec.models.sgl", "SGL"),
    "simgcl": ("contrastrec.models.simgcl", "SimGCL"),
    "xsimgcl": ("contrastrec.models.xsimgcl", "XSimGCL"),
    "ncl": ("contrastrec.models.ncl", "NCL"),
    "directau": ("contrastrec.models.directau", "DirectAU"),
    "cl4srec": ("contrastrec.models.cl4srec", "CL4SRec"),
    "simcse": ("contrastrec.models.simcse", "SimCSE"),
    "duorec": ("contrastrec.models.duorec", "DuoRec"),
    "coserec": ("contrastrec.models.coserec", "CoSeRec"),
    "iclrec": ("contrastrec.models.iclrec", "ICLRec"),
    "s3rec": ("contrastrec.models.s3rec", "S3Rec"),
}

MODEL_DESCRIPTIONS: dict[str, str] = {
    "pop": "popularity baseline (the floor)",
    "mf": "matrix factorization with BPR (Rendle et al. 2009)",
    "lightgcn": "LightGCN (He et al. SIGIR 2020)",
    "sasrec": "SASRec self-attentive sequential recommender (Kang & McAuley ICDM 2018)",
    "sgl": "SGL graph augmentation contrast, sgl.augment via graph.augment=ed|nd|rw (Wu et al. SIGIR 2021)",
    "simgcl": "SimGCL noise-perturbed graph contrast (Yu et al. SIGIR 2022)",
    "xsimgcl": "XSimGCL cross-layer contrast in one perturbed pass (Yu et al. TKDE 2023)",
    "ncl": "NCL structural + prototype neighbour contrast (Lin et al. WWW 2022)",
    "directau": "DirectAU alignment + uniformity, integrated (Wang et al. KDD 2022)",
    "cl4srec": "CL4SRec crop/mask/reorder sequence contrast (Xie et al. ICDE 2022)",
    "simcse": "SimCSE-style dropout views of sequences (Gao et al. EMNLP 2021)",
    "duorec": "DuoRec dropout + same-target supervised positives (Qiu et al. WSDM 2022)",
    "coserec": "CoSeRec CL4SRec + correlation-based substitute/insert, hybrid item correlation (Liu et al. 2021)",
    "iclrec": "ICLRec intent contrast: k-means intents (EM) + instance contrast, FNM (Chen et al. WWW 2022)",
    "s3rec": "S3-Rec AAP/MIP/MAP/SP attribute pre-training, then fine-tuning; needs item attributes (Zhou et al. CIKM 2020)",
}

CHOICES: dict[str, tuple[str, ...]] = {
    "split": ("auto", "loo", "random", "temporal", "presplit"),
    "unseen_users": ("auto", "error", "keep", "drop"),
    "device": ("cpu", "cuda", "auto"),
    "encoder": ("", "mf", "lightgcn", "sasrec", "gru4rec", "caser"),
    "loss": ("", "bpr", "bce", "ce", "sampled_softmax", "softmax"),
    "schema": ("joint", "pretrain_finetune", "integrated"),
    "eval_graph": ("train", "history"),
    "neg_sampler": ("uniform", "popularity", "hard"),
    "freeze": ("none", "embeddings", "all_but_last"),
    "ssl.loss": ("infonce", "debiased", "hard_negative", "supcon", "triplet", "nce", "align_uniform"),
    "ssl.similarity": ("cosine", "dot"),
    "ssl.negatives": ("in_batch", "all", "uniform", "popularity", "hard"),
    "ssl.head": ("none", "linear", "mlp"),
    "ssl.false_negatives": ("none", "same_target", "same_cluster", "same_user"),
    "sgl.augment": ("ed", "nd", "rw"),
}


def register_model(name: str, module: str, cls: str, description: str = "") -> None:
    MODELS[name] = (module, cls)
    MODEL_DESCRIPTIONS[name] = description


def model_class(name: str) -> type:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}{_suggest(name, MODELS)}; valid: {', '.join(sorted(MODELS))}")
    mod, cls = MODELS[name]
    return getattr(importlib.import_module(mod), cls)


# --------------------------------------------------------------------------- building
def _suggest(key: str, valid) -> str:
    m = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {m[0]!r}?)" if m else ""


def _field_types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def valid_keys(cls=Config, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        t = _field_types(cls)[f.name]
        if dataclasses.is_dataclass(t):
            out += valid_keys(t, prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    return out


def _coerce(key: str, value: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin is typing.Union or (origin is not None and type(None) in args):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is list:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
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
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = prefix + str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def apply_overrides(cfg: Config, overrides: dict[str, Any], source: str = "") -> Config:
    """Apply flat or nested overrides to ``cfg`` in place, validating keys, types and choices."""
    keys = valid_keys()
    where = f"{source}: " if source else ""
    for key, value in _flatten(overrides).items():
        if key not in keys:
            raise ConfigError(f"{where}unknown config key {key!r}{_suggest(key, keys)}")
        obj: Any = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            obj = getattr(obj, p)
        typ = _field_types(type(obj))[parts[-1]]
        try:
            val = _coerce(key, value, typ)
        except ConfigError as e:
            raise ConfigError(where + str(e)) from None
        if key in CHOICES and val not in CHOICES[key]:
            raise ConfigError(
                f"{where}{key}: invalid value {val!r}{_suggest(str(val), CHOICES[key])}; "
                f"valid: {', '.join(c for c in CHOICES[key] if c)}"
            )
        setattr(obj, parts[-1], val)
    return cfg


def parse_set_args(items: list[str]) -> dict[str, Any]:
    """``["a=1 b=2", "ssl.loss=debiased"]`` -> ``{"a": 1, "b": 2, "ssl.loss": "debiased"}``.

    One ``--set`` may hold several whitespace-separated ``key=value`` pairs. Values are parsed
    as YAML scalars (so ``1e-3`` is a number and ``[5,10]`` a list).
    """
    out: dict[str, Any] = {}
    for item in items:
        for tok in item.split():
            if "=" not in tok:
                raise ConfigError(f"--set expects key=value, got {tok!r}")
            k, v = tok.split("=", 1)
            if not k:
                raise ConfigError(f"--set expects key=value, got {tok!r}")
            try:
                val = yaml.safe_load(v) if v != "" else ""
            except yaml.YAMLError:
                val = v
            if isinstance(val, str):  # YAML 1.1 reads "1e-3" as a string
                try:
                    val = float(val) if any(c in val for c in ".eE") else int(val)
                except ValueError:
                    pass
            out[k.strip()] = val
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: invalid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the config file must be a mapping of keys to values")
    return data


def build_config(
    model: str | None = None,
    file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Build a validated Config: defaults < model DEFAULTS < file < overrides (< explicit model)."""
    file_d = load_yaml(file) if file else {}
    over = dict(overrides or {})
    name = over.get("model") or model or file_d.get("model") or Config.model
    cfg = Config()
    cls = model_class(str(name))
    apply_overrides(cfg, getattr(cls, "DEFAULTS", {}), source=f"model {name} defaults")
    apply_overrides(cfg, file_d, source=str(file) if file else "")
    if model:
        over.setdefault("model", model)
    apply_overrides(cfg, over, source="--set")
    cfg.model = str(name) if not over.get("model") else str(over["model"])
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks; incompatible combinations are refused here, at configuration time."""
    if cfg.model not in MODELS:
        raise ConfigError(f"unknown model {cfg.model!r}{_suggest(cfg.model, MODELS)}")
    for k in ("epochs", "batch_size", "embedding_dim", "eval_every", "eval_batch_size", "max_len"):
        if getattr(cfg, k) <= 0:
            raise ConfigError(f"{k} must be positive, got {getattr(cfg, k)}")
    if cfg.patience < 0:
        raise ConfigError(f"patience must be >= 0, got {cfg.patience}")
    if cfg.lr <= 0:
        raise ConfigError(f"lr must be positive, got {cfg.lr}")
    if not 0 <= cfg.dropout < 1 or not 0 <= cfg.attn_dropout < 1:
        raise ConfigError("dropout and attn_dropout must be in [0, 1)")
    if cfg.ssl.hard_refresh_every < 0:
        raise ConfigError(f"ssl.hard_refresh_every must be >= 0, got {cfg.ssl.hard_refresh_every}")
    if cfg.rec_temperature <= 0:
        raise ConfigError(f"rec_temperature must be positive, got {cfg.rec_temperature}")
    if cfg.ssl.temperature <= 0:
        raise ConfigError(f"ssl.temperature must be positive, got {cfg.ssl.temperature}")
    if not 0 <= cfg.ssl.tau_plus < 1:
        raise ConfigError(f"ssl.tau_plus must be in [0, 1), got {cfg.ssl.tau_plus}")
    if any(k <= 0 for k in cfg.ks):
        raise ConfigError(f"ks must be positive, got {cfg.ks}")
    from contrastrec.evaluation.metrics import parse_metric  # local: avoids import cycles

    try:
        _, k = parse_metric(cfg.metric)
    except ValueError as e:
        raise ConfigError(f"metric: {e}") from None
    if k not in cfg.ks:
        cfg.ks = sorted(set(cfg.ks) | {k})
    if cfg.neg_sampler != "uniform" and (cfg.loss or cls_default_loss(cfg)) == "ce":
        raise ConfigError(f"neg_sampler={cfg.neg_sampler} draws sampled negatives, but loss=ce ranks against all "
                          "items and uses none; use loss=bce or loss=sampled_softmax")
    if not 0 <= cfg.neg_hard_ratio <= 1:
        raise ConfigError(f"neg_hard_ratio must be in [0, 1], got {cfg.neg_hard_ratio}")
    if cfg.schema == "pretrain_finetune" and cfg.pretrain_epochs <= 0:
        raise ConfigError("schema=pretrain_finetune needs pretrain_epochs > 0")
    if cfg.ssl.warmup_epochs < 0:
        raise ConfigError(f"ssl.warmup_epochs must be >= 0, got {cfg.ssl.warmup_epochs}")
    cls = model_class(cfg.model)
    check = getattr(cls, "check_config", None)
    if check is not None:
        check(cfg)


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
    """Rebuild a Config saved with ``to_dict`` (checkpoints, results.json)."""
    cfg = Config()
    apply_overrides(cfg, d, source="saved config")
    return cfg
