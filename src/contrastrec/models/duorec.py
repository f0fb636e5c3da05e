"""DuoRec (Qiu et al., WSDM 2022): contrastive regularisation with
* an unsupervised view: the same sequence under another dropout mask (model-level augmentation);
* a supervised positive: another training sequence with the same target item, drawn uniformly
  among the *other* training sequences with that target (:meth:`DuoRec.same_target_rows`). A
  sequence alone in its target group is paired with itself, i.e. the supervised pair becomes two
  dropout views of the same sequence: this follows the reference code (RuihongQiu/DuoRec, whose
  ``semantic_augmentation`` deletes the anchor's own index from the same-target list and whose
  ``duorec_aug`` falls back to the anchor's own sequence when that list is empty);
sequences of the batch with the same target are not used as negatives (false-negative mask).

What is computed (defaults): ``z`` = the last-position output of the forward pass used by the
recommendation loss (dropout on), ``z_unsup`` = a second forward of the same batch (another
dropout mask), ``z_sup`` = a forward of the same-target partners; with ``same[i, j]`` = rows i and
j have the same target::

    L = L_rec + ssl.weight * ( ℓ(z, z_unsup; same) + ℓ(z, z_sup; same) )

where ℓ is the configured SSL loss through :class:`~contrastrec.models.ssl.SSLBranch` (default
``infonce``: query → key only, the other B-1 *keys* of the batch as negatives, pairs marked in
``same`` removed from the denominator, mean over the B anchors), cosine similarity, temperature
``ssl.temperature`` = 0.2, ``ssl.weight`` = 0.1. ``duorec.supervised_positives=false`` drops the second
term (the reference's ``contrast='un'``).

Deviations from the reference (RuihongQiu/DuoRec, ``recbole/model/sequential_recommender/duorec.py``
and ``duorec.sh``: ``--contrast='us_x' --sim='dot' --tau=1 --lmd_sem=0.1 --train_batch_size=256``;
RUCAIBox/RecBole-DA carries the same code):

1. Terms. The published run (``us_x``) has ONE contrastive term, between a dropout re-forward of
   the anchor (not the recommendation forward) and the forward of the same-target partner,
   weighted ``lmd_sem``; ``lmd`` is unused there. Ours has two terms anchored on the
   recommendation forward, the reference's ``us`` variant (``lmd·NCE(seq_output, aug_output) +
   lmd_sem·NCE(seq_output, sem_aug_output)``), with one weight for both (``lmd = lmd_sem =
   ssl.weight``).
2. Loss form. The reference's ``info_nce`` is NT-Xent over the 2B representations: it
   concatenates the two views, every one of the 2B rows is an anchor (both directions), its
   negatives are the other 2B-2 representations of *both* views (``mask_correlated_samples`` only
   removes the row itself and its positive), and the cross-entropy is averaged over 2B rows. Ours
   is one direction (view 1 → view 2), B-1 negatives from the key view only, averaged over B.
3. False negatives. The reference does NOT remove same-target rows of the batch from the
   negatives (``mask_correlated_samples`` masks only the diagonal and the positive pair); ours
   does (``positive_mask=same``).
4. Similarity and temperature: reference ``sim='dot'``, ``tau=1``; ours cosine, 0.2.
5. Positive pool. The reference's training instances are every prefix of every training sequence
   (RecBole's ``prepare_data_augmentation``: ``<i1..ik> | i(k+1)``), so its same-target pool holds
   prefixes of all users, and a partner may be another prefix of the anchor's own user if the user
   has the target twice. That is ``train_prefixes: true`` here: the pool is the prefix examples the
   batches train on, and the anchor's own example (``batch["example"]``) is the one left out. By
   default (``false``) there is one instance per user (the whole training sequence, target = the
   last training item, as :class:`~contrastrec.training.batches.SequenceBatches` trains), so the
   pool is those sequences, one per user, and a partner is always another user's sequence.
6. Sampling: the reference draws with ``np.random.choice`` per batch; ours with a torch generator
   reseeded at each epoch (stream ``"duorec.augment"``), also uniform over the other members.

Kept as the reference (``recbole/properties/model/DuoRec.yaml``, ``duorec.sh``): full-softmax CE
recommendation loss (``loss_type: 'CE'``), no projection head, 2 layers, 2 heads, hidden 64,
dropout 0.5 / 0.5, batch 256.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from contrastrec.config import Config
from contrastrec.data.dataset import Dataset
from contrastrec.data.sequences import padded_tokens, prefix_tokens, trim_left_padding
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.seq_base import SEQ_DEMO, SequentialModel
from contrastrec.samplers import same_label_mask


@dataclass
class DuoRecParams:
    supervised_positives: bool = True  # add the same-target sequence as a second positive


class DuoRec(SequentialModel):
    NAME = "duorec"
    DESCRIPTION = "DuoRec dropout + same-target supervised positives (Qiu et al. WSDM 2022)"
    Params = DuoRecParams
    HAS_SSL = True
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "ssl.weight": 0.1, "ssl.temperature": 0.2,
                "ssl.similarity": "cosine"}
    SPACE = {**SequentialModel.SPACE, **SSL_SPACE}
    DEMO = SEQ_DEMO

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        # the training instances whose targets form the same-target groups: one sequence per user, or
        # with train_prefixes every prefix example (the rows SequenceBatches trains on, batch["example"])
        self.by_example = bool(cfg.train_prefixes)
        if self.by_example:
            _, seq, target = prefix_tokens(dataset.train, dataset.n_users, cfg.max_len, cfg.max_prefixes)
        else:
            full = padded_tokens(dataset.train, dataset.n_users, cfg.max_len + 1)
            seq, target = full[:, :-1], full[:, -1]
        ok = (seq > 0).any(1) & (target > 0)
        rows = np.nonzero(ok)[0]
        order = rows[np.argsort(target[rows], kind="stable")]
        t_sorted = target[order]
        n_tokens = self.n_items + 2
        start = np.searchsorted(t_sorted, np.arange(n_tokens), "left")
        end = np.searchsorted(t_sorted, np.arange(n_tokens), "right")
        rank = np.full(len(seq), -1, dtype=np.int64)  # each instance's position inside its target group
        rank[order] = np.arange(len(order)) - start[t_sorted]
        self.train_seqs = torch.from_numpy(seq)  # by instance (user index, or prefix example)
        self.train_target = torch.from_numpy(np.where(ok, target, 0))  # by instance (0: no group)
        self.group_rank = torch.from_numpy(rank)
        self.group_order = torch.from_numpy(order)
        self.group_start, self.group_size = torch.from_numpy(start), torch.from_numpy(end - start)
        self._gen = torch.Generator()

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen = self.stream("duorec.augment", epoch)

    def same_target_rows(self, users: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """For each row, the index of a training instance drawn uniformly among the *other* training
        instances whose target is ``target``; the row's own index when it has none (alone in its
        group), as the reference does. An instance whose own target is not ``target`` is not a member
        of the group and draws from all of it. Instances are users (their training sequences), or
        with ``train_prefixes`` the prefix examples (``users`` then holds ``batch["example"]``)."""
        t, u = target.cpu(), users.cpu()
        if len(self.group_order) == 0:
            return u
        size = self.group_size[t]
        member = (self.train_target[u] == t) & (self.group_rank[u] >= 0)
        others = size - member.long()
        pick = (torch.rand(len(t), generator=self._gen) * others).long().clamp_max((others - 1).clamp_min(0))
        pick = pick + (member & (pick >= self.group_rank[u])).long()  # skip the anchor's own slot
        rows = self.group_order[(self.group_start[t] + pick).clamp_max(len(self.group_order) - 1)]
        return torch.where(others > 0, rows, u)

    def integrated_views(self, batch) -> list[torch.Tensor]:
        return [batch["seq"], batch["seq"]]  # two passes: two dropout masks

    def same_target_sequences(self, users: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training sequences of :meth:`same_target_rows` (left-padded ``[B, max_len]``; ``users``:
        user indices, or with ``train_prefixes`` prefix-example indices)."""
        return self.train_seqs[self.same_target_rows(users, target)].to(users.device)

    def ssl_terms(self, batch, hidden):
        target = batch["target"]
        z = hidden[:, -1, :]
        same = same_label_mask(target, include_diagonal=True)  # not negatives (the reference keeps them: see above)
        z_unsup = self.encode_last(batch["seq"])
        loss = self.contrast(z, z_unsup, batch, positive_mask=same)
        if self.params.supervised_positives:
            own = batch["example"] if self.by_example else batch["users"]
            z_sup = self.encode_last(trim_left_padding(self.same_target_sequences(own, target)))
            loss = loss + self.contrast(z, z_sup, batch, positive_mask=same)
        return {"ssl": self.cfg.ssl.weight * loss}
