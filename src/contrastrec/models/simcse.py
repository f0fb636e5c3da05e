"""SimCSE-style sequential contrast (Gao et al., EMNLP 2021, applied to sequences): the positive
pair is two forward passes of the same sequence under different dropout masks (model-level
augmentation); in-batch negatives; joint with the next-item loss."""
from __future__ import annotations

import torch

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.seq_base import SequentialModel


class SimCSE(SequentialModel):
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "ssl.weight": 0.1, "ssl.temperature": 0.2,
                "ssl.similarity": "cosine"}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)

    def ssl_terms(self, batch, hidden):
        if not self.ssl_active():
            return {}
        z1 = hidden[:, -1, :]  # the recommendation pass is the first dropout view
        z2 = self.encode_last(batch["seq"])  # a second pass: another dropout mask
        return {"ssl": self.cfg.ssl.weight * self.contrast(z1, z2, batch)}
