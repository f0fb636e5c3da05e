"""CL4SRec (Xie et al., ICDE 2022): two augmented views of each training sequence (crop / mask /
reorder, one chosen per sequence), InfoNCE with in-batch negatives, joint with the next-item loss.

L = L_rec + λ·L_ssl(g(f(view1)), g(f(view2))), λ = ``ssl.weight``; ratios from ``aug.*``.
The sequence representation is the encoder output at the last position.
"""
from __future__ import annotations

import torch

from contrastrec.augment.sequence import CL4SRecAugment
from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.seq_base import SequentialModel


class CL4SRec(SequentialModel):
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "ssl.weight": 0.1, "ssl.temperature": 0.2,
                "ssl.similarity": "cosine"}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.augment = self.make_augment(cfg, dataset)
        self._gen = torch.Generator()

    def make_augment(self, cfg: Config, dataset: Dataset):
        a = cfg.aug
        return CL4SRecAugment(self.mask_token, a.crop_ratio, a.mask_ratio, a.reorder_ratio)

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen.manual_seed(self.cfg.seed * 9973 + epoch)

    def views(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v1 = self.augment(seqs.cpu(), generator=self._gen).to(seqs.device)
        v2 = self.augment(seqs.cpu(), generator=self._gen).to(seqs.device)
        return v1, v2

    def false_negative_mask(self, batch) -> torch.Tensor | None:
        fn = self.cfg.ssl.false_negatives
        if fn == "same_target":
            t = batch["target"]
            return t.unsqueeze(0) == t.unsqueeze(1)
        if fn == "same_user":
            u = batch["users"]
            return u.unsqueeze(0) == u.unsqueeze(1)
        clusters = getattr(self, "cluster_of_user", None)  # set by clustering models (ICLRec E-step)
        if fn == "same_cluster" and clusters is not None:
            c = clusters[batch["users"]]
            return (c.unsqueeze(0) == c.unsqueeze(1)) & (c >= 0).unsqueeze(0)  # -1: no cluster
        return None

    def ssl_terms(self, batch, hidden):
        if not self.ssl_active():
            return {}
        v1, v2 = self.views(batch["seq"])
        z1, z2 = self.encode_last(v1), self.encode_last(v2)
        loss = self.contrast(z1, z2, batch, positive_mask=self.false_negative_mask(batch))
        return {"ssl": self.cfg.ssl.weight * loss}
