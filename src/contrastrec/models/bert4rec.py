"""BERT4Rec (Sun et al., "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer", CIKM 2019): a bidirectional Transformer trained by the cloze
task, masked-item prediction.

Training: each training sequence (the user's most recent ``max_len`` training items) is masked by
:func:`contrastrec.augment.sequence.mask_items`: every item is replaced by the mask token with
probability ``bert4rec.mask_p``, and a share ``bert4rec.last_p`` of the sequences are instead
*last-item samples* that mask only their last item (paper Sec. 3.6: samples that match the
prediction task). The masked sequence is encoded bidirectionally (the SASRec encoder attending to
every non-padded position, :meth:`SASRecEncoder.bidirectional`); at each masked position ``t`` the
output ``h_t`` goes through the paper's output layer (Eq. 7, with the LayerNorm of the authors' code
and RecBole) ``q_t = LayerNorm(GELU(W h_t + b))`` and the full softmax over the items

    P(i | masked sequence, t) = softmax_i(q_t . e_i + b_i),

tied to the input item embeddings ``e_i``, with a per-item output bias ``b_i``
(``bert4rec.output_bias``). The loss is the cross-entropy of the original items, averaged over the
masked positions of the batch (the library's mean over anchors).

Prediction: the mask token is appended after the user's history (the oldest item is dropped when
the history already fills ``max_len``) and the items are scored at that position.

How it fits the schemas: the cloze loss *is* the recommendation loss (term ``rec``); there is no
separate self-supervised or contrastive term, so ``HAS_SSL = False`` and every ``ssl.*`` key is
refused. It trains under ``schema=joint`` only: ``pretrain_finetune`` would have no ``ssl*`` term to
pre-train, and ``integrated`` would replace the cloze loss by the configured contrastive loss, which
is no longer BERT4Rec. ``loss`` must be ``ce`` (the cloze softmax); the encoder must be ``sasrec``.

Exported embeddings: the user vector is ``q`` at the appended mask and the item vector ``e_i``;
with the output bias both get one more column (``[q, 1]`` and ``[e_i, b_i]``), so the inner product
is the model's score.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from contrastrec.augment.sequence import mask_items
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.losses import functional as LF
from contrastrec.models.base import ScoreFn
from contrastrec.models.seq_base import SEQ_DEMO, SequentialModel
from contrastrec.training.distributed import shard_mean


@dataclass
class BERT4RecParams:
    # masking probability of each item. 0.2: RecBole's default and the paper's MovieLens setting;
    # the paper (and the authors' run_beauty.sh, masked_lm_prob=0.6) use 0.6 on Beauty
    mask_p: float = 0.2
    # share of last-item samples (only the last item masked). 0.1: the authors' gen_data_fin.py adds
    # one such sample per sequence to dupe_factor=10 randomly masked copies (1/11)
    last_p: float = 0.1
    output_bias: bool = True  # a per-item bias b_i in the output softmax (paper Eq. 7)


class BERT4Rec(SequentialModel):
    NAME = "bert4rec"
    PREFIXES = False  # train_prefixes refused: its cloze examples are the users' sequences
    DESCRIPTION = "BERT4Rec cloze (masked-item) training of a bidirectional Transformer (Sun et al. CIKM 2019)"
    Params = BERT4RecParams
    HAS_SSL = False  # the cloze loss is the recommendation loss; no contrastive term
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec"}
    SPACE = {**SequentialModel.SPACE,
             "bert4rec.mask_p": {"type": "float", "low": 0.1, "high": 0.9},
             "bert4rec.last_p": {"type": "float", "low": 0.0, "high": 0.5}}
    # the cloze task gives fewer targets per step than next-item prediction, and its validation sits on a
    # plateau for ~10-15 epochs before it rises: a lower lr, smaller batches, more masked items, no dropout
    # (with the shared 0.2 it is still rising after 60 epochs on the demo data), and a patience that outlasts
    # the plateau (it early-stops at about epoch 75 there, the slowest model of the demo)
    DEMO = {**SEQ_DEMO, "lr": 5e-3, "batch_size": 64, "dropout": 0.0, "attn_dropout": 0.0, "bert4rec.mask_p": 0.6,
            "patience": 10}
    STREAM = "bert4rec.mask"  # the masking draws (contrastrec.rng)

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.encoder.is_bidirectional = True  # every pass attends in both directions
        d = cfg.embedding_dim
        self.out_dense = nn.Linear(d, d)
        self.out_norm = nn.LayerNorm(d, eps=1e-12)
        nn.init.normal_(self.out_dense.weight, std=0.02)
        nn.init.zeros_(self.out_dense.bias)
        self.out_bias = nn.Parameter(torch.zeros(self.n_items)) if self.params.output_bias else None
        self._gen = torch.Generator()

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.schema != "joint":
            raise ConfigError(
                f"bert4rec: schema={cfg.schema} is not defined: its cloze loss is its recommendation loss, with no "
                "self-supervised term to pre-train (pretrain_finetune) and nothing to replace by a contrastive loss "
                "(integrated); use schema=joint")
        if cfg.encoder not in ("", "sasrec"):
            raise ConfigError(f"bert4rec needs the sasrec encoder (bidirectional attention), got encoder={cfg.encoder}")
        if cfg.loss not in ("", "ce"):
            raise ConfigError(f"bert4rec: loss={cfg.loss} is not available; its loss is the cloze softmax over all "
                              "items (loss=ce)")
        s = cfg.params
        if not 0 < s.mask_p < 1:
            raise ConfigError(f"bert4rec.mask_p must be in (0, 1), got {s.mask_p}")
        if not 0 <= s.last_p <= 1:
            raise ConfigError(f"bert4rec.last_p must be in [0, 1], got {s.last_p}")

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        out = super().inert_keys(cfg)
        if cfg.params is not None and cfg.params.last_p >= 1:
            out["bert4rec.mask_p"] = "bert4rec.last_p=1 masks only the last item of every sequence"
        return out

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._gen = self.stream(self.STREAM, epoch)

    # ------------------------------------------------------------------ pieces
    def cloze_sequences(self, batch) -> torch.Tensor:
        """The user's most recent ``max_len`` training items: the input sequence plus its target."""
        return torch.cat([batch["seq"], batch["target"].unsqueeze(1)], 1)[:, -self.max_len :]

    def query(self, h: torch.Tensor) -> torch.Tensor:
        """The output layer before the item softmax: ``LayerNorm(GELU(W h + b))``, ``[..., D]``."""
        return self.out_norm(F.gelu(self.out_dense(h)))

    def logits(self, q: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` queries -> ``[N, n_items]`` item logits ``q . e_i + b_i``."""
        out = q @ self.encoder.item_weights().t()
        return out + self.out_bias if self.out_bias is not None else out

    def with_mask_appended(self, seqs: torch.Tensor) -> torch.Tensor:
        """Left-padded histories ``[B, l]`` -> ``[B, min(l + 1, max_len)]`` with the mask token
        after the last item (the oldest item dropped when the history fills ``max_len``)."""
        mask = seqs.new_full((seqs.shape[0], 1), self.mask_token)
        return torch.cat([seqs, mask], 1)[:, -self.max_len :]

    # ------------------------------------------------------------------ contract
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.cloze_sequences(batch)
        s = self.params
        masked, sel = mask_items(x, s.mask_p, self.mask_token, generator=self._gen, last_p=s.last_p)
        h = self.encoder(masked)[sel]  # [N, D] at the masked positions
        return {"rec": shard_mean(LF.softmax_ce_loss(self.logits(self.query(h)), x[sel] - 1), sel.sum())}

    def encode_last(self, seqs: torch.Tensor) -> torch.Tensor:
        """The query ``[B, D]`` at a mask token appended after each history."""
        return self.query(self.encoder(self.with_mask_appended(seqs))[:, -1, :])

    @torch.no_grad()
    def scorer(self, histories: torch.Tensor | None, users: torch.Tensor | None = None) -> ScoreFn:
        if histories is None:
            raise ValueError("sequential models need the users' histories to score")
        items = self.encoder.item_weights().t().contiguous()
        bias = self.out_bias
        reps = self.encode_histories(histories, users)

        def score(users: torch.Tensor) -> torch.Tensor:
            out = reps[users.to(reps.device)] @ items
            return out + bias if bias is not None else out

        return score

    ENCODER_PT = False  # the user vector is the output layer at an appended mask (+ a bias column)

    def history_vectors(self, seqs: torch.Tensor) -> torch.Tensor:
        """``[q, 1]`` with ``q`` the query at the appended mask: its inner product with the exported
        ``[e_i, b_i]`` is the score ``q . e_i + b_i``."""
        q = self.encode_last(seqs)
        if self.out_bias is None:
            return q
        return torch.cat([q, torch.ones(q.shape[0], 1, dtype=q.dtype, device=q.device)], 1)

    @torch.no_grad()
    def export_embeddings(self, histories: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        users, items = super().export_embeddings(histories)
        if self.out_bias is None:
            return users, items
        ones = torch.ones(users.shape[0], 1, dtype=users.dtype, device=users.device)
        bias = self.out_bias.detach().clone().to(items.device, items.dtype).unsqueeze(1)
        return torch.cat([users, ones], 1), torch.cat([items, bias], 1)
