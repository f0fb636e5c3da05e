"""The model contract shared by every method.

A model is an ``nn.Module`` built from ``(cfg, dataset)``. It owns no training loop. What it
declares about itself (class attributes, read by the registry, the config, the tuner and the demo):

* ``NAME`` (the CLI name; a class without one is abstract), ``DESCRIPTION`` (one line, the paper),
* ``Params``: a dataclass of its own hyper-parameters, the config section ``NAME.*``,
* ``DEFAULTS``: its overrides of the shared keys, ``SPACE``: its tuning space, ``DEMO``: its
  setting in ``contrastrec demo`` (None: not in the demo),
* ``SECTIONS``: the shared sections it reads (``"ssl"``, ``"aug"``); keys of other sections are
  refused, and ``inert_keys(cfg)`` names any other key that does nothing for it.

What the trainer calls (and nothing else; the trainer writes no attribute of a model):

* ``task``: which batches it trains on: ``"pairwise"`` (user, positive, negatives),
  ``"sequential"`` (left-padded sequences with next-item targets) or ``"none"`` (no training);
  ``wants_negatives()``: whether sequential batches carry sampled negatives.
* ``set_phase(phase)``: ``joint``, ``warmup``, ``pretrain`` or ``finetune``; ``ssl_active()``.
* ``on_epoch_start(epoch)``: reseeds the model's random draws for the epoch (so a resumed run
  repeats an uninterrupted one), then E-steps, schedule changes.
* ``loss_terms(batch) -> dict[str, Tensor]``: already-weighted scalar terms. Names starting with
  ``ssl`` are self-supervised, ``reg`` is regularisation, the rest are recommendation terms.
* ``sparse_parameters()``: the tables with row-sparse gradients under ``optimizer=lazy_adam``.
* ``after_step()``: right after each optimizer step (default: nothing; BUIR moves its momentum
  target towards the online encoder).
* ``scorer(histories, users=None) -> score_fn``: ``score_fn(users: LongTensor[B]) -> FloatTensor[B, n_items]``;
  ``users``, when given, are the only users ``score_fn`` will be asked for.
  ``histories`` is a ``LongTensor[n_users, max_len]`` of left-padded item tokens (sequential models)
  or ``None``.
* ``export_embeddings(histories) -> (user_emb, item_emb)`` for export and retrieval.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.rng import stream_seed, torch_stream

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


PHASES = ("joint", "warmup", "pretrain", "finetune")
# tuning distributions of the SSL branch shared by the contrastive models' SPACEs
SSL_SPACE = {"ssl.weight": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
             "ssl.temperature": {"type": "float", "low": 0.05, "high": 1.0, "log": True}}


def ratio_space(*names: str) -> dict:
    """Tuning distributions of sequence augmentation ratios ``aug.NAME_ratio`` (the strength of a
    CL4SRec-family view), each in [0.1, 0.9] as in CL4SRec's and CoSeRec's searches."""
    return {f"aug.{n}_ratio": {"type": "float", "low": 0.1, "high": 0.9} for n in names}


class Recommender(nn.Module):
    NAME: str = ""
    DESCRIPTION: str = ""
    Params: type | None = None
    DEFAULTS: dict = {}
    SPACE: dict = {}
    DEMO: dict | None = None
    SECTIONS: tuple[str, ...] = ()
    HAS_SSL: bool = False  # a contrastive / self-supervised term under schema=joint
    task: str = "pairwise"
    sequential: bool = False

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__()
        self.cfg = cfg
        self.params = cfg.params
        self.n_users = dataset.n_users
        self.n_items = dataset.n_items
        self._phase = "joint"

    # ------------------------------------------------------------------ what the model declares
    @classmethod
    def check_config(cls, cfg: Config) -> None:
        """Raise ConfigError for incompatible settings."""
        from contrastrec.models.ssl import check_ssl_config

        if cls.reads_ssl(cfg):
            check_ssl_config(cfg)
        if cfg.optimizer == "lazy_adam":
            why = cls.dense_tables(cfg)
            if why:
                raise ConfigError(f"optimizer=lazy_adam does not apply to model {cfg.model}: {why}")

    @classmethod
    def table_values(cls, cfg: Config, n_users: int, n_items: int) -> dict[str, int]:
        """The trainable tables the model allocates under ``cfg`` -> their number of float32 values, for
        the memory check before anything is allocated (``contrastrec.training.memory``). Default: a
        user and an item table of ``embedding_dim`` columns; none for an untrained model."""
        if cls.task == "none":
            return {}
        return {"users": n_users * cfg.embedding_dim, "items": n_items * cfg.embedding_dim}

    @classmethod
    def dense_tables(cls, cfg: Config) -> str:
        """Why no embedding table of the model under ``cfg`` can take row-sparse gradients
        (``optimizer=lazy_adam``): a table read whole in training; ``""`` when one can
        (:meth:`sparse_parameters` names them)."""
        return "its training reads its embedding tables whole (graph propagation or whole-table products)"

    @classmethod
    def reads_ssl(cls, cfg: Config) -> bool:
        """Whether the ``ssl.*`` section acts under ``cfg``."""
        return "ssl" in cls.sections(cfg)

    @classmethod
    def sections(cls, cfg: Config) -> tuple[str, ...]:
        """The shared sections read under ``cfg``: ``SECTIONS``, plus ``ssl`` for a model with a
        contrastive term (``HAS_SSL``) or a trained model under ``schema=integrated``, whose one
        loss is the configured contrastive loss."""
        ssl = cls.HAS_SSL or (cfg.schema == "integrated" and cls.task != "none")
        return tuple(dict.fromkeys(cls.SECTIONS + (("ssl",) if ssl else ())))

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        """Model-specific keys that do nothing under ``cfg`` -> why (see ``config.inert_keys``)."""
        return {}

    # ------------------------------------------------------------------ the trainer's calls
    def set_phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; valid: {', '.join(PHASES)}")
        self._phase = phase

    @property
    def phase(self) -> str:
        return self._phase

    def ssl_active(self) -> bool:
        """Whether the self-supervised terms are computed in the current phase: not while
        fine-tuning, nor during the ``ssl.warmup_epochs``."""
        return self._phase not in ("finetune", "warmup")

    def wants_negatives(self) -> bool:
        """Whether sequential batches must carry sampled negatives (``neg``)."""
        return False

    def stream(self, name: str, epoch: int) -> torch.Generator:
        """A torch generator for the epoch's draws of stream ``name`` (:mod:`contrastrec.rng`),
        from (config seed, name, epoch): a resumed run draws exactly what an uninterrupted one
        would have, and two streams never share numbers."""
        return torch_stream(self.cfg.seed, name, epoch)

    def on_epoch_start(self, epoch: int) -> None:
        """Called before each training epoch: reseeds the SSL branch's draws (negatives), then
        subclasses run their E-steps and schedule changes."""
        ssl = getattr(self, "ssl", None)
        if ssl is not None and hasattr(ssl, "reseed"):
            ssl.reseed(stream_seed(self.cfg.seed, "ssl.negatives", epoch))

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The tables whose training gradient is row-sparse (only looked-up rows): under
        ``optimizer=lazy_adam`` they take sparse gradients and a row-wise Adam step (the model makes
        their lookups sparse); empty otherwise."""
        return []

    def after_step(self) -> None:
        """Called by the trainer right after each optimizer step (e.g. an EMA target update);
        a no-op by default. It must depend only on the model's state (parameters, buffers), so
        that a resumed run repeats an uninterrupted one."""

    def scorer(self, histories: torch.Tensor | None, users: torch.Tensor | None = None) -> ScoreFn:
        """``score_fn(users [B]) -> [B, n_items]``. ``users`` (optional): the only users ``score_fn``
        will be asked for (a sampled evaluation); a model may then prepare those users only."""
        raise NotImplementedError

    def export_embeddings(self, histories: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")
