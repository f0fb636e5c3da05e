"""S3-Rec (Zhou et al., "S3-Rec: Self-Supervised Learning for Sequential Recommendation with Mutual
Information Maximization", CIKM 2020): pre-train a bidirectional Transformer with four
self-supervised objectives on item attributes, then fine-tune it left-to-right on next-item
prediction. Needs ``schema=pretrain_finetune`` and item attributes (``Dataset.item_attributes``,
loaded from ``<data>_item2attributes.json``).

Pre-training (terms ``ssl_aap``, ``ssl_mip``, ``ssl_map``, ``ssl_sp``; weights λ·``s3rec.*_weight``
with λ = ``ssl.weight``, default 1; the other ``ssl.*`` keys are refused: the four objectives are
fixed by the method): each training sequence (the user's most recent ``max_len`` training items)
is masked item-wise with probability ``s3rec.mask_p``; its last item is always masked (reference ``PretrainDataset``).
The masked sequence is encoded *bidirectionally* (attention to all non-padded positions, paper
Sec. 4.1 / reference ``pretrain``), giving ``h_t`` per position.

* AAP, associated attribute prediction: at the non-masked positions, ``h_t`` (the item's
  representation) predicts all attributes of its item: BCE over the ``n_attributes`` attributes,
  logits ``(W_AAP h_t)·e_a``.
* MIP, masked item prediction: at masked positions, ``f(h_t, i) = sigmoid((W_MIP h_t)·e_i)`` and
  the pairwise loss ``-log sigmoid(f(h_t, i_t) - f(h_t, i^-))`` against one uniformly sampled
  negative item (as the paper / reference, which samples it outside the sequence; here only the
  target itself is excluded).
* MAP, masked attribute prediction: at masked positions, ``h_t`` predicts the attributes of the
  hidden item (BCE over all attributes, logits ``(W_MAP h_t)·e_a``).
* SP, segment prediction: a random contiguous segment of length ``w ~ U{1..n//2}`` is replaced
  by mask tokens; the context (last output of the masked sequence) must score its segment
  (the sequence with everything *but* the segment masked) above a segment of the same length
  taken at a random place of the concatenation of all training sequences:
  ``-log sigmoid(f(c, s+) - f(c, s-))``, ``f(c, s) = sigmoid((W_SP c)·s)``. Sequences with fewer
  than 2 items are left out.

Reduction follows the library's convention (mean over anchors; for BCE over attributes, the sum of
the per-attribute logistic terms of an anchor): anchors are positions (AAP, MIP, MAP) or sequences
(SP). The reference sums over everything, so its relative weights differ by the anchor counts.

Fine-tuning is the inherited SASRec next-item loss (``loss``) with the causal encoder; only the
``rec`` term is produced. The loop saves the pre-trained model to ``pretrained.pt`` at the
transition; :meth:`S3Rec.load_pretrained` loads such a file (or a bare encoder state dict) to
fine-tune from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.seq_base import SEQ_DEMO, SequentialModel
from contrastrec.training.distributed import shard_mean

_SSL_WEIGHTS = ("aap_weight", "mip_weight", "map_weight", "sp_weight")


@dataclass
class S3RecParams:
    aap_weight: float = 0.2  # associated attribute prediction
    mip_weight: float = 1.0  # masked item prediction
    map_weight: float = 1.0  # masked attribute prediction
    sp_weight: float = 0.5  # segment prediction
    mask_p: float = 0.2  # item masking probability


class S3Rec(SequentialModel):
    NAME = "s3rec"
    PREFIXES = False  # train_prefixes refused: its pre-training segments are drawn from the users' sequences
    DESCRIPTION = ("S3-Rec AAP/MIP/MAP/SP attribute pre-training, then fine-tuning; needs item attributes "
                   "(Zhou et al. CIKM 2020)")
    Params = S3RecParams
    HAS_SSL = True
    SPACE = {**SequentialModel.SPACE, "s3rec.mask_p": {"type": "float", "low": 0.1, "high": 0.5},
             # the weights of its self-supervised objectives that need no item attributes
             "s3rec.mip_weight": {"type": "float", "low": 0.1, "high": 2.0, "log": True},
             "s3rec.sp_weight": {"type": "float", "low": 0.1, "high": 2.0, "log": True}}
    # pretrain_epochs: the reference pre-trains 300 epochs (its released checkpoints: 100-150);
    # 50 keeps a CPU run affordable.
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec", "schema": "pretrain_finetune", "pretrain_epochs": 50,
                "ssl.weight": 1.0}
    DEMO = {**SEQ_DEMO, "pretrain_epochs": 1}  # a short pre-training: the demo budgets seconds, not hours

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        from contrastrec.config import valid_keys

        why = "S3-Rec's four pre-training objectives are fixed by the method (ssl.weight scales them)"
        return {**super().inert_keys(cfg),
                **{k: why for k in valid_keys() if k.startswith("ssl.") and k != "ssl.weight"}}

    def __init__(self, cfg: Config, dataset: Dataset):
        attrs = dataset.item_attributes
        if not attrs or dataset.n_attributes <= 0:
            raise ConfigError(
                f"s3rec needs item attributes, but dataset {dataset.name!r} has none: put "
                "'<data file stem>_item2attributes.json' ({item id: [attribute ids]}) beside the "
                "interaction file, or choose a model that does not use attributes"
            )
        super().__init__(cfg, dataset)
        d, n_attr = cfg.embedding_dim, dataset.n_attributes
        self.n_attributes = n_attr
        # token -> padded attribute ids (0 = none); rows 0 (padding) and n_items+1 (mask) are empty
        width = max(1, max((len(v) for v in attrs.values()), default=1))
        table = np.zeros((self.n_items + 2, width), dtype=np.int64)
        for item, ids in attrs.items():
            item = int(item)
            if not 0 <= item < self.n_items:
                raise ConfigError(f"s3rec: item_attributes has item index {item} outside [0, {self.n_items})")
            ids = sorted(set(int(a) for a in ids))
            if ids and (ids[0] < 1 or ids[-1] > n_attr):
                raise ConfigError(f"s3rec: item {item} has attribute ids outside [1, n_attributes={n_attr}]")
            table[item + 1, : len(ids)] = ids
        self.register_buffer("item_attr", torch.from_numpy(table), persistent=False)
        # all training items one after another (token ids): source of negative segments (SP)
        self.register_buffer("long_sequence", torch.from_numpy(dataset.train.items + 1), persistent=False)
        self.attr_emb = nn.Embedding(n_attr + 1, d, padding_idx=0)
        # one dense layer per objective (the paper's W_AAP, W_MIP, W_MAP, W_SP)
        self.aap_proj, self.mip_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.map_proj, self.sp_proj = nn.Linear(d, d), nn.Linear(d, d)
        for m in (self.attr_emb, self.aap_proj, self.mip_proj, self.map_proj, self.sp_proj):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
        self._gen = torch.Generator()

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema != "pretrain_finetune":
            raise ConfigError(
                f"s3rec pre-trains then fine-tunes: it needs schema=pretrain_finetune (got schema={cfg.schema}); "
                "set pretrain_epochs to the number of pre-training epochs"
            )
        if cfg.encoder not in ("", "sasrec"):
            raise ConfigError(f"s3rec needs the sasrec encoder (bidirectional pre-training), got encoder={cfg.encoder}")
        s = cfg.params
        if not 0 < s.mask_p < 1:
            raise ConfigError(f"s3rec.mask_p must be in (0, 1), got {s.mask_p}")
        if any(getattr(s, w) < 0 for w in _SSL_WEIGHTS):
            raise ConfigError("s3rec: s3rec.aap_weight, mip_weight, map_weight and sp_weight must be >= 0")
        if not any(getattr(s, w) > 0 for w in _SSL_WEIGHTS):
            raise ConfigError("s3rec: at least one of s3rec.aap_weight, mip_weight, map_weight, sp_weight must be > 0")

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen = self.stream("s3rec.mask", epoch)

    # ------------------------------------------------------------------ pieces
    def bidirectional(self):
        """Within the block the SASRec encoder attends to every non-padded position (pre-training;
        :meth:`SASRecEncoder.bidirectional`)."""
        return self.encoder.bidirectional()

    def _rand(self, shape, device) -> torch.Tensor:
        return torch.rand(shape, generator=self._gen).to(device)

    def attribute_targets(self, tokens: torch.Tensor) -> torch.Tensor:
        """Multi-hot ``[N, n_attributes]`` attributes of ``tokens [N]``."""
        ids = self.item_attr[tokens]
        hot = torch.zeros(tokens.shape[0], self.n_attributes + 1, device=tokens.device)
        hot.scatter_(1, ids, 1.0)
        return hot[:, 1:]

    def _attribute_bce(self, proj: nn.Linear, h: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Attribute BCE of the positions ``h [N, D]`` (mean over them; the global batch's under data
        parallelism, so every rank calls :func:`shard_mean`, with or without positions)."""
        if h.shape[0] == 0:
            return shard_mean(h.sum() * 0.0, 0)
        logits = proj(h) @ self.attr_emb.weight[1:].t()
        bce = F.binary_cross_entropy_with_logits(logits, self.attribute_targets(tokens), reduction="none")
        return shard_mean(bce.sum(1).mean(), h.shape[0])

    def pretrain_sequences(self, batch) -> torch.Tensor:
        """The user's most recent ``max_len`` training items (the input sequence plus its target;
        batches may be trimmed to their longest sequence, so the width can be below ``max_len``)."""
        seq, target = batch["seq"], batch["target"]
        return torch.cat([seq, target.unsqueeze(1)], 1)[:, -self.max_len :]

    def pretrain_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        s, lam = self.params, self.cfg.ssl.weight
        real = x > 0
        # --- MIP / MAP / AAP: one bidirectional pass over the masked sequence
        mask = (self._rand(x.shape, x.device) < s.mask_p) & real
        mask[:, -1] = real[:, -1]  # the last item is always masked
        masked = torch.where(mask, torch.full_like(x, self.mask_token), x)
        terms: dict[str, torch.Tensor] = {}
        with self.bidirectional():
            h = self.encoder(masked)
        if s.aap_weight > 0:
            keep = real & ~mask
            terms["ssl_aap"] = lam * s.aap_weight * self._attribute_bce(self.aap_proj, h[keep], x[keep])
        if s.mip_weight > 0:
            hm, pos = h[mask], x[mask]
            neg = 1 + (self._rand(pos.shape, x.device) * (self.n_items - 1)).long().clamp_max(max(self.n_items - 2, 0))
            neg = neg + (neg >= pos).long() if self.n_items > 1 else neg  # uniform over the other items
            q = self.mip_proj(hm)
            w = self.encoder.item_emb
            f_pos, f_neg = torch.sigmoid((q * w(pos)).sum(-1)), torch.sigmoid((q * w(neg)).sum(-1))
            mip = F.softplus(f_neg - f_pos).mean() if pos.numel() else h.sum() * 0.0
            terms["ssl_mip"] = lam * s.mip_weight * shard_mean(mip, pos.numel())
        if s.map_weight > 0:
            terms["ssl_map"] = lam * s.map_weight * self._attribute_bce(self.map_proj, h[mask], x[mask])
        if s.sp_weight > 0:
            terms["ssl_sp"] = lam * s.sp_weight * self.segment_loss(x)
        return terms

    def segment_loss(self, x: torch.Tensor) -> torch.Tensor:
        b, length = x.shape
        dev = x.device
        real = x > 0
        n = real.sum(1)
        ok = n >= 2
        if not bool(ok.any()):
            return shard_mean(self.sp_proj.weight.sum() * 0.0, 0)  # every rank reduces the count
        x, real, n = x[ok], real[ok], n[ok]
        u = self._rand((3, x.shape[0]), dev)
        w = 1 + (u[0] * (n // 2)).long().clamp_max(n // 2 - 1)  # U{1..n//2}
        start = (u[1] * (n - w + 1)).long().clamp_max(n - w)  # U{0..n-w}, relative to the first item
        a = (length - n + start).unsqueeze(1)
        p = torch.arange(length, device=dev).unsqueeze(0)
        inside = (p >= a) & (p < a + w.unsqueeze(1))
        mask_tok = torch.full_like(x, self.mask_token)
        context = torch.where(inside, mask_tok, x)
        outside = torch.where(real, mask_tok, torch.zeros_like(x))
        pos_seg = torch.where(inside, x, outside)
        total = self.long_sequence.shape[0]
        neg_start = (u[2] * (total - w + 1)).long().clamp_max(total - w).unsqueeze(1)
        src = (neg_start + (p - a)).clamp(0, total - 1)
        neg_seg = torch.where(inside, self.long_sequence[src], outside)
        with self.bidirectional():
            out = self.encoder(torch.cat([context, pos_seg, neg_seg]))[:, -1, :]
        c, sp, sn = out.chunk(3)
        q = self.sp_proj(c)
        f_pos, f_neg = torch.sigmoid((q * sp).sum(-1)), torch.sigmoid((q * sn).sum(-1))
        return shard_mean(F.softplus(f_neg - f_pos).mean(), x.shape[0])

    # ------------------------------------------------------------------ contract
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.ssl_active():
            return super().loss_terms(batch)  # {"rec": ...}
        terms = self.pretrain_terms(self.pretrain_sequences(batch))
        if self.phase != "pretrain":  # joint (only reachable outside the loop): both
            terms = {**super().loss_terms(batch), **terms}
        return terms

    def load_pretrained(self, path: str | Path) -> "S3Rec":
        """Load a pre-trained encoder: a ``pretrained.pt`` written by the training loop (the whole
        S3-Rec model: encoder, attribute embeddings and pre-training layers are restored) or a bare
        encoder ``state_dict``. Loaded with ``weights_only=True``. Returns ``self``."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: pre-trained checkpoint not found")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ValueError(f"{path}: cannot load safely ({type(e).__name__}: {e})") from None
        state = obj.get("model") if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a checkpoint with a 'model' state dict or an encoder state dict")
        enc = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")} or state
        try:
            self.encoder.load_state_dict(enc)
            own = self.state_dict()
            rest = {k: v for k, v in state.items() if not k.startswith("encoder.") and k in own}
            self.load_state_dict(rest, strict=False)
        except RuntimeError as e:
            raise ValueError(f"{path}: not a compatible S3-Rec encoder for this model/dataset ({e})") from None
        return self
