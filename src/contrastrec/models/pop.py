"""Most-popular baseline: every user gets the items with the most training interactions."""
from __future__ import annotations

import numpy as np
import torch

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import Recommender, ScoreFn


class Popularity(Recommender):
    NAME = "pop"
    DESCRIPTION = "popularity baseline (the floor)"
    DEMO: dict = {}
    task = "none"
    DEFAULTS = {"epochs": 1}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        counts = np.bincount(dataset.train.items, minlength=dataset.n_items).astype(np.float32)
        self.register_buffer("counts", torch.from_numpy(counts))

    def scorer(self, histories: torch.Tensor | None, users: torch.Tensor | None = None) -> ScoreFn:
        def score(users: torch.Tensor) -> torch.Tensor:
            return self.counts.unsqueeze(0).expand(len(users), -1).clone()

        return score

    def export_embeddings(self, histories):
        return torch.ones(self.n_users, 1), self.counts.unsqueeze(1)
