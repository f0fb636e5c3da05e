"""CL4SRec (Xie et al., ICDE 2022): two augmented views of each training sequence (crop / mask /
reorder, one chosen per sequence), InfoNCE with in-batch negatives, joint with the next-item loss.

L = L_rec + λ·L_ssl(g(f(view1)), g(f(view2))), λ = ``ssl.weight``; ratios from ``aug.*``.
The sequence representation is the encoder output at the last position.
"""
from __future__ import annotations

import torch

from contrastrec.augment.sequence import CL4SRecAugment, ItemCorrelation, make_sequence_ops
from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import SSL_SPACE, ratio_space
from contrastrec.models.seq_base import SEQ_DEMO, SequentialModel

class CL4SRec(SequentialModel):
    NAME = "cl4srec"
    DESCRIPTION = "CL4SRec crop/mask/reorder sequence contrast (Xie et al. ICDE 2022)"
    HAS_SSL = True
    SECTIONS = ("ssl", "aug")
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "ssl.weight": 0.1, "ssl.temperature": 0.2,
                "ssl.similarity": "cosine"}
    SPACE = {**SequentialModel.SPACE, **SSL_SPACE, **ratio_space("crop", "mask", "reorder")}
    DEMO = SEQ_DEMO

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.augment = self.make_augment(cfg, dataset)
        self._gen = torch.Generator()

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        out = super().inert_keys(cfg)
        ops = cfg.aug.ops or ["crop", "mask", "reorder"]
        why = f"the views draw from {', '.join(ops)} (set aug.ops to use other operators)"
        for op, key in (("crop", "crop_ratio"), ("mask", "mask_ratio"), ("reorder", "reorder_ratio"),
                        ("substitute", "substitute_ratio"), ("insert", "insert_ratio")):
            if op not in ops:
                out[f"aug.{key}"] = why
        if not {"substitute", "insert"} & set(ops):
            out["aug.correlation_top_k"] = why
        out["aug.augment_threshold"] = out["aug.correlation_update_epoch"] = "it is read by coserec only"
        return out

    def make_augment(self, cfg: Config, dataset: Dataset):
        a = cfg.aug
        if a.ops:  # the operators named in the config, e.g. aug.ops=[crop,insert]
            def correlation():
                return ItemCorrelation.from_sequences(dataset.train, dataset.n_items, top_k=a.correlation_top_k)

            return make_sequence_ops(a.ops, self.mask_token, a, correlation)
        return CL4SRecAugment(self.mask_token, a.crop_ratio, a.mask_ratio, a.reorder_ratio)

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen = self.stream("cl4srec.augment", epoch)

    def views(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v1 = self.augment(seqs.cpu(), generator=self._gen).to(seqs.device)
        v2 = self.augment(seqs.cpu(), generator=self._gen).to(seqs.device)
        return v1, v2

    def integrated_views(self, batch) -> list[torch.Tensor]:
        return list(self.views(batch["seq"]))

    def ssl_terms(self, batch, hidden):
        v1, v2 = self.views(batch["seq"])
        z1, z2 = self.encode_last(v1), self.encode_last(v2)
        return {"ssl": self.cfg.ssl.weight * self.contrast(z1, z2, batch)}
