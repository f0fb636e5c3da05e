"""DuoRec (Qiu et al., WSDM 2022): contrastive regularisation with
* an unsupervised view: the same sequence under another dropout mask (model-level augmentation);
* a supervised positive: another training sequence with the same target item, sampled from the
  whole training set;
sequences of the batch with the same target are not used as negatives (false-negative mask).
"""
from __future__ import annotations

import numpy as np
import torch

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.models.seq_base import SequentialModel
from contrastrec.training.batches import padded_tokens, trim_left_padding


class DuoRec(SequentialModel):
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "ssl.weight": 0.1, "ssl.temperature": 0.2,
                "ssl.similarity": "cosine"}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        full = padded_tokens(dataset.train, dataset.n_users, cfg.max_len + 1)
        seq, target = full[:, :-1], full[:, -1]
        ok = (seq > 0).any(1) & (target > 0)
        rows = np.nonzero(ok)[0]
        order = rows[np.argsort(target[rows], kind="stable")]
        t_sorted = target[order]
        n_tokens = self.n_items + 2
        start = np.searchsorted(t_sorted, np.arange(n_tokens), "left")
        end = np.searchsorted(t_sorted, np.arange(n_tokens), "right")
        self.train_seqs = torch.from_numpy(seq)  # by user index
        self.group_order = torch.from_numpy(order)
        self.group_start, self.group_size = torch.from_numpy(start), torch.from_numpy(end - start)
        self._gen = torch.Generator()

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen.manual_seed(self.cfg.seed * 7777 + epoch)

    def same_target_sequences(self, users: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """For each row, a random training sequence whose target is the same (itself if it is alone)."""
        t = target.cpu()
        size = self.group_size[t]
        pick = (torch.rand(len(t), generator=self._gen) * size).long().clamp_max((size - 1).clamp_min(0))
        rows = torch.where(size > 0, self.group_order[(self.group_start[t] + pick).clamp_max(len(self.group_order) - 1)],
                           users.cpu())
        return self.train_seqs[rows].to(users.device)

    def ssl_terms(self, batch, hidden):
        if not self.ssl_active():
            return {}
        target = batch["target"]
        z = hidden[:, -1, :]
        same = target.unsqueeze(0) == target.unsqueeze(1)
        z_unsup = self.encode_last(batch["seq"])
        loss = self.contrast(z, z_unsup, batch, positive_mask=same)
        if self.cfg.seq.supervised_positives:
            z_sup = self.encode_last(trim_left_padding(self.same_target_sequences(batch["users"], target)))
            loss = loss + self.contrast(z, z_sup, batch, positive_mask=same)
        return {"ssl": self.cfg.ssl.weight * loss}
