"""SimCSE-style sequential contrast (Gao et al., EMNLP 2021, applied to sequences): the positive
pair is two forward passes of the same sequence under different dropout masks (model-level
augmentation); in-batch negatives; joint with the next-item loss."""
from __future__ import annotations

import torch

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.seq_base import SEQ_DEMO, SequentialModel


class SimCSE(SequentialModel):
    NAME = "simcse"
    DESCRIPTION = "SimCSE-style dropout views of sequences (Gao et al. EMNLP 2021)"
    HAS_SSL = True
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "ssl.weight": 0.1, "ssl.temperature": 0.2,
                "ssl.similarity": "cosine"}
    SPACE = {**SequentialModel.SPACE, **SSL_SPACE}
    DEMO = SEQ_DEMO

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)

    def integrated_views(self, batch) -> list[torch.Tensor]:
        return [batch["seq"], batch["seq"]]  # two passes: two dropout masks

    def ssl_terms(self, batch, hidden):
        z1 = hidden[:, -1, :]  # the recommendation pass is the first dropout view
        z2 = self.encode_last(batch["seq"])  # a second pass: another dropout mask
        return {"ssl": self.cfg.ssl.weight * self.contrast(z1, z2, batch)}
