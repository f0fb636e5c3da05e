"""The model contract shared by every method.

A model is an ``nn.Module`` built from ``(cfg, dataset)``. It owns no training loop:

* ``task``: which batches it trains on: ``"pairwise"`` (user, positive, negatives),
  ``"sequential"`` (left-padded sequences with next-item targets) or ``"none"`` (no training).
* ``loss_terms(batch) -> dict[str, Tensor]``: already-weighted scalar terms. Names starting with
  ``ssl`` are self-supervised, ``reg`` is regularisation, the rest are recommendation terms.
* ``scorer(histories) -> score_fn``: ``score_fn(users: LongTensor[B]) -> FloatTensor[B, n_items]``.
  ``histories`` is a ``LongTensor[n_users, max_len]`` of left-padded item tokens (sequential models)
  or ``None``.
* ``on_epoch_start(epoch)``: optional hook (k-means E-steps, correlation updates).
* ``export_embeddings(histories) -> (user_emb, item_emb)`` for export and retrieval.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


class Recommender(nn.Module):
    task: str = "pairwise"
    sequential: bool = False
    DEFAULTS: dict = {}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__()
        self.cfg = cfg
        self.n_users = dataset.n_users
        self.n_items = dataset.n_items

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        """Raise ConfigError for incompatible settings."""
        from contrastrec.models.ssl import check_ssl_config

        check_ssl_config(cfg)

    def ssl_active(self) -> bool:
        """Whether the self-supervised terms are computed in the current training phase (set by the
        loop as ``self.phase``): not while fine-tuning, nor during the ``ssl.warmup_epochs``."""
        return getattr(self, "phase", "joint") not in ("finetune", "warmup")

    def on_epoch_start(self, epoch: int) -> None:
        """Called before each training epoch (E-steps, schedule changes)."""

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def scorer(self, histories: torch.Tensor | None) -> ScoreFn:
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
