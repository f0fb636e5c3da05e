"""ICLRec (Chen et al., "Intent Contrastive Learning for Sequential Recommendation", WWW 2022).

Intents are latent variables learned by EM:

* **E-step** (``on_epoch_start``): encode every training sequence (eval mode, no grad, in chunks of
  ``eval_batch_size`` sequences of similar length, trimmed to their longest one), represent it by
  the mean of the encoder outputs over its non-padded positions (the reference's
  ``seq_representation_type=mean``), run k-means (faiss,
  ``seq.n_intents`` clusters, :attr:`KMEANS_ITERS` iterations) and keep the L2-normalised
  centroids (as the reference ``KMeans.train``) and each user's intent id in
  :attr:`cluster_of_user` (``LongTensor[n_users]``, -1 for users without a training sequence), so
  that ``ssl.false_negatives=same_cluster`` works for the instance term too.
* **M-step** (``loss_terms``): two CL4SRec views (crop / mask / reorder) of each sequence, mean
  representations ``z1, z2``; for each view, InfoNCE (the configured ``ssl`` loss) between the view
  and its sequence's intent centroid, the centroids of the other sequences of the batch being the
  negatives. False-negative mitigation (FNM, as in the paper): sequences of the batch with the same
  intent are not negatives (their centroid *is* the positive). The two views' losses are averaged
  (reference ``PCLoss``).
* Hybrid with instance contrast: CL4SRec's InfoNCE between the two views (mean representations,
  as the reference's ``seq_representation_instancecl_type=mean``).

L = L_rec + λ·(``iclrec.instance_weight``·L_instance + ``iclrec.intent_weight``·L_intent),
λ = ``ssl.weight`` (default 1: the method weighs its two terms separately); the intent term
starts after ``iclrec.intent_warmup_epochs`` epochs (no E-step is run before, unless
``ssl.false_negatives=same_cluster`` needs the clusters).

Defaults (:attr:`DEFAULTS`, on top of CL4SRec's and :class:`SequentialModel`'s) against the
reference Beauty script (salesforce/ICLRec ``src/scripts/run_beauty.sh`` and the ``main.py``
defaults it does not override):

* as the reference: ``iclrec.n_intents=256`` (``--num_intent_cluster 256``),
  ``iclrec.instance_weight=0.1`` (``--cf_weight 0.1``), ``iclrec.intent_weight=0.1``
  (``--intent_cf_weight 0.1``), ``iclrec.intent_warmup_epochs=0`` (``--warm_up_epoches 0``),
  ``batch_size=256``, ``embedding_dim=64``, ``n_heads=2``, ``dropout=attn_dropout=0.5``,
  ``max_len=50``, ``lr=1e-3``, ``epochs=300``, ``patience=40``, ``aug.crop_ratio=0.2``,
  ``aug.mask_ratio=0.7``, ``aug.reorder_ratio=0.2``;
* not as the reference: ``n_layers=2`` (the script sets ``--num_hidden_layers 1``);
  ``ssl.temperature=0.2`` and ``ssl.similarity=cosine``, inherited from CL4SRec (the reference's
  ``NCELoss`` uses a dot product with ``--temperature`` 1.0); ``ssl.weight=1`` scales both terms
  (the reference has no common factor). Set ``n_layers=1 ssl.temperature=1 ssl.similarity=dot`` to
  run the reference's values.

Deliberate differences from the reference code: the mean is over the non-padded positions (the
reference averages over all ``max_len`` positions, padding included); the instance term contrasts
mean representations (the reference's ``seq_representation_instancecl_type=mean`` option; its
default, kept by the Beauty script, is ``concatenate``: the flattened ``[max_len·D]`` outputs);
the InfoNCE terms are the library's (query→key over the other keys of the batch) instead of the
reference's ``NCELoss`` over both views' ``2B`` samples; the intent of a sequence is its E-step
assignment (the paper's EM formulation) instead of a per-batch nearest-centroid query with the
current (dropout-on) model; the recommendation loss is the library's (``loss``, default full
softmax CE) instead of BCE with one negative.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.cl4srec import CL4SRec
from contrastrec.models.seq_base import SEQ_DEMO
from contrastrec.data.sequences import padded_tokens, trim_left_padding
from contrastrec.models.clustering import kmeans
from contrastrec.samplers import same_label_mask
from contrastrec.rng import stream_seed


@dataclass
class ICLRecParams:
    n_intents: int = 256  # k: k-means intents
    intent_weight: float = 0.1  # weight of the intent contrast
    instance_weight: float = 0.1  # weight of the instance (CL4SRec) contrast
    intent_warmup_epochs: int = 0  # epochs before the intent contrast starts


class ICLRec(CL4SRec):
    NAME = "iclrec"
    DESCRIPTION = "ICLRec intent contrast: k-means intents (EM) + instance contrast, FNM (Chen et al. WWW 2022)"
    Params = ICLRecParams
    CLUSTERS = True
    DEMO = {**SEQ_DEMO, "iclrec.n_intents": 32}  # fewer intents than users, also in `demo --quick`
    DEFAULTS = {**CL4SRec.DEFAULTS, "ssl.weight": 1.0}
    SPACE = {**CL4SRec.SPACE, "iclrec.intent_weight": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}
    # faiss' default and the reference's niter; on Beauty-sized data (22k x 64, k=256) one E-step took
    # ~2 s of CPU time (half encoding, half k-means), 5-8% of an epoch; 10 iterations save ~0.4 s
    KMEANS_ITERS = 20

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        # the training input sequences, exactly those the trainer batches (see SequenceBatches)
        seq = padded_tokens(dataset.train, dataset.n_users, cfg.max_len + 1)[:, :-1]
        keep = (seq > 0).any(1)
        self.cluster_users = torch.from_numpy(np.nonzero(keep)[0].astype(np.int64))
        self.cluster_seqs = torch.from_numpy(seq[keep].copy())
        self._by_length = torch.argsort((self.cluster_seqs > 0).sum(1))  # E-step chunks of similar length
        k = cfg.params.n_intents
        if len(self.cluster_users) < k:
            raise ConfigError(
                f"iclrec: seq.n_intents={k} intents need at least {k} training sequences, but the dataset "
                f"{dataset.name!r} has {len(self.cluster_users)}; lower seq.n_intents to <= {len(self.cluster_users)}"
            )
        self.centroids: torch.Tensor | None = None  # [k, D], L2-normalised
        self.cluster_of_user: torch.Tensor | None = None  # LongTensor[n_users], -1 = no sequence
        self._epoch = 0

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        s = cfg.params
        if s.n_intents <= 0:
            raise ConfigError(f"iclrec.n_intents must be positive, got {s.n_intents}")
        if s.intent_weight < 0 or s.instance_weight < 0:
            raise ConfigError("iclrec.intent_weight and iclrec.instance_weight must be >= 0")
        if s.intent_warmup_epochs < 0:
            raise ConfigError(f"iclrec.intent_warmup_epochs must be >= 0, got {s.intent_warmup_epochs}")

    # ------------------------------------------------------------------ representation
    @staticmethod
    def mean_pool(hidden: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """Mean of ``hidden [B, L, D]`` over the non-padded positions of ``seqs [B, L]``."""
        m = (seqs > 0).unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)

    def encode_mean(self, seqs: torch.Tensor) -> torch.Tensor:
        return self.mean_pool(self.encoder(seqs), seqs)

    # ------------------------------------------------------------------ E-step
    @torch.no_grad()
    def sequence_representations(self) -> torch.Tensor:
        """Mean representations of all training sequences, ``[n_sequences, D]`` in the order of
        :attr:`cluster_users` (eval mode; chunks of similar length trimmed to their longest
        sequence, which gives the same result with far less padding)."""
        was = self.training
        self.eval()
        dev, chunk = self.device, self.cfg.eval_batch_size
        out = torch.zeros(len(self.cluster_seqs), self.cfg.embedding_dim, device=dev)
        try:
            for s in range(0, len(self.cluster_seqs), chunk):
                sel = self._by_length[s : s + chunk]
                out[sel.to(dev)] = self.encode_mean(trim_left_padding(self.cluster_seqs[sel]).to(dev))
        finally:
            self.train(was)
        return out

    @torch.no_grad()
    def e_step(self, epoch: int = 0) -> None:
        z = self.sequence_representations()
        # faiss and torch each bring an OpenMP runtime; torch's spinning idle workers slow faiss
        # down several times (3.3 s -> 0.8 s for 22k x 64, k=256 on 2 cores): keep torch's pool
        # at one thread while faiss runs
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            cent, assign = kmeans(z, self.params.n_intents, n_iter=self.KMEANS_ITERS, seed=stream_seed(self.cfg.seed, "iclrec.kmeans", epoch, bits=31))
        finally:
            torch.set_num_threads(threads)
        self.centroids = F.normalize(cent.to(z.device), dim=1)
        c = torch.full((self.n_users,), -1, dtype=torch.long, device=z.device)
        c[self.cluster_users.to(z.device)] = assign.to(z.device)
        self.cluster_of_user = c

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._epoch = epoch
        if not self.ssl_active():
            return
        if epoch >= self.params.intent_warmup_epochs or self.cfg.ssl.false_negatives == "same_cluster":
            self.e_step(epoch)

    # ------------------------------------------------------------------ M-step
    @staticmethod
    def intent_mask(intents: torch.Tensor) -> torch.Tensor:
        """FNM: ``[B, B]`` True where two sequences share an intent (not negatives of each other)."""
        return same_label_mask(intents, include_diagonal=True)

    def intent_loss(self, z: torch.Tensor, intents: torch.Tensor) -> torch.Tensor:
        """InfoNCE of views ``z [B, D]`` against their intent centroids, same-intent rows masked."""
        c = self.centroids[intents]  # type: ignore[index]
        labels = intents if self.cfg.ssl.loss == "supcon" else None
        return self.ssl_mean(z, c, labels=labels, positive_mask=self.intent_mask(intents))

    def ssl_terms(self, batch, hidden):
        s, lam = self.params, self.cfg.ssl.weight
        use_intent = s.intent_weight > 0 and self.centroids is not None and self._epoch >= s.intent_warmup_epochs
        if s.instance_weight <= 0 and not use_intent:
            return {}
        v1, v2 = self.views(batch["seq"])
        b = v1.shape[0]
        z = self.encode_mean(torch.cat([v1, v2]))
        z1, z2 = z[:b], z[b:]
        terms = {}
        if s.instance_weight > 0:
            labels = batch["target"] if self.cfg.ssl.loss == "supcon" else None
            terms["ssl_instance"] = lam * s.instance_weight * self.ssl_mean(
                z1, z2, labels=labels, positive_mask=self.false_negative_mask(batch))
        if use_intent:
            intents = self.cluster_of_user[batch["users"]]  # type: ignore[index]
            ok = intents >= 0
            if not bool(ok.all()):  # users without a training sequence (not produced by the trainer)
                z1, z2, intents = z1[ok], z2[ok], intents[ok]
            intent = 0.5 * (self.intent_loss(z1, intents) + self.intent_loss(z2, intents))  # mean over the views
            terms["ssl_intent"] = lam * s.intent_weight * intent
        return terms
