"""Shared machinery for sequential recommenders (SASRec and its contrastive kin).

Batches (see :mod:`contrastrec.training.batches`): ``seq`` [B, L] input tokens (left-padded),
``pos`` [B, L] next-item tokens (0 where there is no target), ``neg`` [B, L] sampled negative
tokens, ``users`` [B], ``target`` [B] the last next-item token (used by DuoRec-style positives).
The main loss is full softmax cross-entropy over all items (``ce``) or BCE with one sampled
negative per position (``bce``), as in SASRec.
"""
from __future__ import annotations

import torch

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.encoders import SEQUENCE_ENCODERS, make_sequence_encoder
from contrastrec.losses import functional as LF
from contrastrec.models.base import Recommender, ScoreFn
from contrastrec.models.ssl import SSLBranch
from contrastrec.training.batches import trim_left_padding


class SequentialModel(Recommender):
    task = "sequential"
    sequential = True
    DEFAULTS = {
        "loss": "ce", "ks": [5, 10, 20], "batch_size": 256, "lr": 1e-3, "embedding_dim": 64,
        "n_layers": 2, "n_heads": 2, "dropout": 0.5, "attn_dropout": 0.5, "max_len": 50,
        "reg_weight": 0.0, "patience": 40, "epochs": 300,
    }

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.loss_name = cfg.loss or "ce"
        self.max_len = cfg.max_len
        self.encoder = make_sequence_encoder(
            cfg.encoder or "sasrec", self.n_items, cfg.embedding_dim, cfg.max_len, cfg.n_layers,
            cfg.n_heads, cfg.dropout, cfg.attn_dropout,
        )
        self.mask_token = self.n_items + 1
        self.ssl = SSLBranch(cfg.ssl, cfg.embedding_dim)
        pop = torch.bincount(torch.from_numpy(dataset.train.items), minlength=self.n_items).float()
        self.token_pop = torch.cat([torch.zeros(1), pop, torch.zeros(1)])  # by token

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.loss not in ("", "ce", "bce", "sampled_softmax"):
            raise ConfigError(f"loss={cfg.loss!r} is not available for sequential models (ce, bce, sampled_softmax)")
        if cfg.encoder not in ("",) + SEQUENCE_ENCODERS:
            raise ConfigError(
                f"encoder={cfg.encoder!r} is a graph encoder; sequential models take {', '.join(SEQUENCE_ENCODERS)}"
            )

    # ------------------------------------------------------------------ pieces
    def rec_loss(self, hidden: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None) -> torch.Tensor:
        """hidden [B, L, D]; pos/neg [B, L] tokens (0 = no target)."""
        valid = pos > 0
        if self.loss_name == "ce":
            h = hidden[valid]  # [N, D]
            logits = h @ self.encoder.item_weights().t()
            return LF.softmax_ce_loss(logits, pos[valid] - 1)
        w = self.encoder.item_emb
        pos_s = (hidden * w(pos)).sum(-1)
        neg_s = (hidden * w(neg)).sum(-1)
        if self.loss_name == "bce":
            return LF.bce_loss(pos_s, neg_s, mask=valid)
        return LF.sampled_softmax_loss(pos_s[valid], neg_s[valid].unsqueeze(-1))

    def ssl_terms(self, batch, hidden) -> dict[str, torch.Tensor]:
        return {}

    # ------------------------------------------------------------------ contract
    def on_epoch_start(self, epoch: int) -> None:
        self.ssl.reseed(self.cfg.seed * 31 + epoch)

    def contrast(self, z1: torch.Tensor, z2: torch.Tensor, batch, positive_mask=None) -> torch.Tensor:
        """The configured SSL loss between two views of the batch's sequences. SupCon's labels are
        the target items; popularity negatives weight rows by their target's popularity."""
        labels = batch["target"] if self.cfg.ssl.loss == "supcon" else None
        return self.ssl(z1, z2, labels=labels, positive_mask=positive_mask,
                        pool_weights=self.token_pop.to(z1.device)[batch["target"]])

    def integrated_terms(self, batch) -> dict[str, torch.Tensor]:
        """schema=integrated: the configured contrastive loss between each sequence representation
        and its next item's embedding is the recommendation loss itself (in-batch softmax)."""
        z = self.encode_last(batch["seq"])
        target = batch["target"]
        items = self.encoder.item_emb(target)
        same = target.unsqueeze(0) == target.unsqueeze(1)
        return {"rec": self.ssl(z, items, positive_mask=same, pool=self.encoder.item_weights(),
                                anchor_ids=target - 1, pool_weights=self.token_pop.to(z.device)[1:-1])}

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        hidden = self.encoder(batch["seq"])
        pos, neg = batch["pos"], batch.get("neg")
        if not getattr(self.encoder, "per_position", True):  # e.g. Caser: one output per sequence
            pos, neg = pos[:, -1:], (neg[:, -1:] if neg is not None else None)
        terms = {"rec": self.rec_loss(hidden, pos, neg)}
        terms.update(self.ssl_terms(batch, hidden))
        return terms

    def encode_last(self, seqs: torch.Tensor) -> torch.Tensor:
        return self.encoder(seqs)[:, -1, :]

    @torch.no_grad()
    def scorer(self, histories: torch.Tensor | None) -> ScoreFn:
        if histories is None:
            raise ValueError("sequential models need the users' histories to score")
        items = self.encoder.item_weights().t().contiguous()
        reps = self.encode_histories(histories)  # every user once, in length-sorted batches

        def score(users: torch.Tensor) -> torch.Tensor:
            return reps[users.to(reps.device)] @ items

        return score

    @torch.no_grad()
    def encode_histories(self, histories: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Representations ``[n, D]`` of left-padded histories ``[n, L]``: batches of similar
        length, each trimmed to its longest history (same result, far less padding)."""
        n = histories.shape[0]
        out = torch.zeros(n, self.cfg.embedding_dim, device=self.device)
        order = torch.argsort((histories > 0).sum(1))
        for s in range(0, n, batch_size):
            sel = order[s : s + batch_size]
            out[sel.to(self.device)] = self.encode_last(trim_left_padding(histories[sel]).to(self.device))
        return out

    @torch.no_grad()
    def export_embeddings(self, histories: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        was = self.training
        self.eval()
        users = self.encode_histories(histories) if histories is not None else torch.zeros(0, self.cfg.embedding_dim)
        items = self.encoder.item_weights().detach().clone()
        self.train(was)
        return users, items
