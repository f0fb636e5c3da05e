"""CoSeRec (Liu et al., "Contrastive Self-supervised Sequential Recommendation with Robust
Augmentation", arXiv 2108.06479, 2021): CL4SRec with two informative operators added.

* Views: :class:`~contrastrec.augment.sequence.CoSeRecAugment`, per sequence one of crop / mask /
  reorder / substitute / insert; sequences with ``n <= aug.augment_threshold`` items only get
  insert / substitute (the operators that do not destroy short sequences). Ratios ``aug.*``.
* Item correlation for substitute / insert: memory-based at start (ItemCF-IUF co-occurrence over
  the *training* split, ``aug.correlation_top_k`` neighbours per item); from epoch
  ``aug.correlation_update_epoch`` on, refreshed at every epoch start from the learned item
  embeddings and merged with the memory-based one ("hybrid": per item the candidates with the
  best min-max-normalised score of either model, as the reference's ``_ensmeble_sim_models``).
* Loss: L = L_rec + λ·InfoNCE(view1, view2), λ = ``ssl.weight``, as CL4SRec.

Defaults that differ from CL4SRec follow the CoSeRec reference ``src/main.py``
(YChen1993/CoSeRec): substitute rate 0.1, insert rate 0.4, augment threshold 4. The reference
switches to the hybrid correlation after 160 warm-up epochs (``--augmentation_warm_up_epoches``);
here the library default ``aug.correlation_update_epoch`` (10) is kept so that the switch happens
within an early-stopped CPU run; set it to 160 to match the reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from contrastrec.augment.sequence import CoSeRecAugment, ItemCorrelation
from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.base import ratio_space
from contrastrec.models.cl4srec import CL4SRec
from contrastrec.models.seq_base import SEQ_DEMO
from contrastrec.data.sequences import trim_left_padding


class CoSeRec(CL4SRec):
    NAME = "coserec"
    DESCRIPTION = ("CoSeRec CL4SRec + correlation-based substitute/insert, hybrid item correlation "
                   "(Liu et al. 2021)")
    DEMO = SEQ_DEMO
    SPACE = {**CL4SRec.SPACE, **ratio_space("substitute", "insert")}

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        return super(CL4SRec, cls).inert_keys(cfg)  # CoSeRec reads every aug.* key
    DEFAULTS = {**CL4SRec.DEFAULTS, "aug.substitute_ratio": 0.1, "aug.insert_ratio": 0.4, "aug.augment_threshold": 4}

    def make_augment(self, cfg: Config, dataset: Dataset):
        a = cfg.aug
        self.correlation = ItemCorrelation.from_sequences(dataset.train, dataset.n_items, top_k=a.correlation_top_k)
        return CoSeRecAugment(
            self.correlation, self.mask_token, augment_threshold=a.augment_threshold,
            crop_ratio=a.crop_ratio, mask_ratio=a.mask_ratio, reorder_ratio=a.reorder_ratio,
            substitute_ratio=a.substitute_ratio, insert_ratio=a.insert_ratio,
            **({"long_ops": tuple(a.ops)} if a.ops else {}),
        )

    def views(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # batches may be trimmed to their longest sequence: give insert room up to max_len (else
        # it would drop the oldest items of the longest rows), then trim each view again
        if seqs.shape[1] < self.max_len:
            seqs = F.pad(seqs, (self.max_len - seqs.shape[1], 0))
        v1, v2 = super().views(seqs)
        return trim_left_padding(v1), trim_left_padding(v2)

    @torch.no_grad()
    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if not self.ssl_active():
            return  # no views are drawn when fine-tuning
        if epoch >= self.cfg.aug.correlation_update_epoch:
            # refreshed every epoch after the warm-up, as in the reference trainer
            self.correlation.update_from_embeddings(self.encoder.item_weights().detach().float().cpu(), mode="hybrid")
