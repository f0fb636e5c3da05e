"""Shared machinery for sequential recommenders (SASRec and its contrastive kin).

Batches (see :mod:`contrastrec.training.batches`): ``seq`` [B, L] input tokens (left-padded),
``pos`` [B, L] next-item tokens (0 where there is no target), ``neg`` [B, L] sampled negative
tokens, ``users`` [B], ``target`` [B] the last next-item token (used by DuoRec-style positives).
The main loss is full softmax cross-entropy over all items (``ce``), BCE with one sampled
negative per position (``bce``, as in SASRec), or, for large catalogues, ``sampled_softmax``:
a softmax over the target and ``n_negatives`` items drawn once per batch and shared by every
position (uniformly, or ∝ popularity^``neg_alpha`` with ``neg_sampler=popularity``), each logit
corrected by the log of its sampling probability (logQ, Yi et al. RecSys 2019); a draw equal to
the target is masked. Memory per step: ``[positions, n_negatives]`` logits instead of
``[positions, n_items]``.
"""
from __future__ import annotations

import torch

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.encoders import SEQUENCE_ENCODERS, make_sequence_encoder
from contrastrec.losses import functional as LF
from contrastrec.models.base import Recommender, ScoreFn
from contrastrec.models.ssl import SSLBranch
from contrastrec.samplers import combine_masks, same_label_mask
from contrastrec.data.sequences import trim_left_padding
from contrastrec.rng import stream_seed
from contrastrec.training.distributed import shard_mean


# the sequential models' setting in `contrastrec demo` (each model's DEMO starts from it; the demo adds
# its epoch cap, patience and time safety net): one small layer over the last 20 items, a high lr
SEQ_DEMO = {"batch_size": 256, "lr": 1e-2, "max_len": 20, "embedding_dim": 32, "dropout": 0.2, "attn_dropout": 0.2,
            "n_layers": 1}


class SequentialModel(Recommender):
    task = "sequential"
    sequential = True
    SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
             "embedding_dim": {"type": "categorical", "choices": [32, 64, 128]},
             "dropout": {"type": "float", "low": 0.0, "high": 0.5},
             "attn_dropout": {"type": "float", "low": 0.0, "high": 0.5}}
    CLUSTERS = False  # True when the model assigns users to clusters (ssl.false_negatives=same_cluster)
    PREFIXES = True  # trains on the prefix examples of `train_prefixes` (False: per-user structures)
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
        if self.loss_name == "sampled_softmax":  # the proposal distribution Q over items
            w = pop.clamp_min(1.0).pow(cfg.neg_alpha) if cfg.neg_sampler == "popularity" else torch.ones(self.n_items)
            self.neg_q = w / w.sum()
        self._neg_gen = torch.Generator()
        if cfg.optimizer == "lazy_adam":  # every training read of the item table is a lookup: sparse gradients
            self.encoder.item_emb.sparse = True

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        out = {"eval_graph": "sequential models read the validation item in their input history already",
               "reg_weight": "sequential models have no L2 term (use weight_decay)"}
        enc = cfg.encoder or cls.DEFAULTS.get("encoder", "sasrec")
        if enc != "sasrec":
            out["n_heads"] = out["attn_dropout"] = f"encoder={enc} has no attention"
        if enc == "caser":
            out["n_layers"] = "encoder=caser has no stacked layers"
        return out

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cls.reads_ssl(cfg) and cfg.ssl.false_negatives == "same_cluster" and not cls.CLUSTERS:
            raise ConfigError(f"ssl.false_negatives=same_cluster needs clusters of users, which {cls.NAME} does not "
                              "compute (iclrec does)")
        if cfg.loss == "sampled_softmax" and cfg.neg_sampler == "hard":
            raise ConfigError("loss=sampled_softmax for sequential models draws shared negatives uniformly or by "
                              "popularity (neg_sampler=uniform|popularity), not hard")
        if cfg.loss not in ("", "ce", "bce", "sampled_softmax"):
            raise ConfigError(f"loss={cfg.loss!r} is not available for sequential models (ce, bce, sampled_softmax)")
        if cfg.encoder not in ("",) + SEQUENCE_ENCODERS:
            raise ConfigError(
                f"encoder={cfg.encoder!r} is a graph encoder; sequential models take {', '.join(SEQUENCE_ENCODERS)}"
            )

    @classmethod
    def table_values(cls, cfg: Config, n_users: int, n_items: int) -> dict[str, int]:
        """The item table (with the padding and mask tokens); SASRec's encoder adds its positions and
        blocks (attention 4·d², feed-forward 8·d² each). No user table."""
        d = cfg.embedding_dim
        out = {"items": (n_items + 2) * d}
        if (cfg.encoder or cls.DEFAULTS.get("encoder", "sasrec")) == "sasrec":
            out.update(positions=cfg.max_len * d, blocks=cfg.n_layers * 12 * d * d)
        return out

    @classmethod
    def dense_tables(cls, cfg: Config) -> str:
        loss = cfg.loss or cls.DEFAULTS.get("loss", "ce")
        if loss == "ce":
            return "loss=ce multiplies by the whole item table (use loss=sampled_softmax or loss=bce)"
        if cfg.schema == "integrated":
            return "schema=integrated contrasts against the whole item table"
        return ""

    def sparse_parameters(self) -> list[torch.nn.Parameter]:
        return [self.encoder.item_emb.weight] if self.cfg.optimizer == "lazy_adam" else []

    # ------------------------------------------------------------------ pieces
    def rec_loss(self, hidden: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None) -> torch.Tensor:
        """hidden [B, L, D]; pos/neg [B, L] tokens (0 = no target). The mean over the target
        positions (of the global batch under data parallelism: :func:`shard_mean`)."""
        valid = pos > 0
        return shard_mean(self.position_loss(hidden, pos, neg, valid), valid.sum())

    def position_loss(self, hidden: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor | None,
                      valid: torch.Tensor) -> torch.Tensor:
        """The configured next-item loss, mean over this batch's ``valid`` positions."""
        if self.loss_name == "ce":
            h = hidden[valid]  # [N, D]
            logits = h @ self.encoder.item_weights().t()
            return LF.softmax_ce_loss(logits, pos[valid] - 1)
        w = self.encoder.item_emb
        if self.loss_name == "sampled_softmax":
            return self.shared_sampled_softmax(hidden[valid], pos[valid])
        pos_s = (hidden * w(pos)).sum(-1)
        neg_s = (hidden * w(neg)).sum(-1)
        return LF.bce_loss(pos_s, neg_s, mask=valid)

    def shared_sampled_softmax(self, h: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``h [N, D]`` against target tokens ``pos [N]`` and ``n_negatives`` shared sampled items."""
        idx = torch.multinomial(self.neg_q, self.cfg.n_negatives, replacement=True, generator=self._neg_gen)
        neg = (idx + 1).to(h.device)  # tokens
        log_q = self.neg_q.to(h.device).log()
        w = self.encoder.item_emb
        pos_s = (h * w(pos)).sum(-1)
        neg_s = h @ w(neg).t()  # [N, n]
        keep = neg.unsqueeze(0) != pos.unsqueeze(1)  # accidental hits of the target are not negatives
        return LF.sampled_softmax_loss(pos_s, neg_s, log_q_pos=log_q[pos - 1], log_q_neg=log_q[neg - 1],
                                       negative_mask=keep)

    def ssl_terms(self, batch, hidden) -> dict[str, torch.Tensor]:
        return {}

    # ------------------------------------------------------------------ contract
    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        self._neg_gen.manual_seed(stream_seed(self.cfg.seed, "seq.sampled_negatives", epoch))  # sampled softmax: the epoch's shared negatives

    def wants_negatives(self) -> bool:
        return self.loss_name == "bce"  # sampled_softmax draws its shared negatives itself

    def false_negative_mask(self, batch) -> torch.Tensor | None:
        """``[B, B]`` True where two sequences of the batch are not negatives of each other
        (``ssl.false_negatives``): same target item, same user, or same cluster (models that
        cluster users set :attr:`cluster_of_user`, ``-1`` = no cluster)."""
        fn = self.cfg.ssl.false_negatives
        if fn == "same_target":
            return same_label_mask(batch["target"], include_diagonal=True)
        if fn == "same_user":
            return same_label_mask(batch["users"], include_diagonal=True)
        clusters = getattr(self, "cluster_of_user", None)
        if fn == "same_cluster" and clusters is not None:
            c = clusters[batch["users"]]
            return same_label_mask(c, include_diagonal=True) & (c >= 0).unsqueeze(0)
        return None

    def contrast(self, z1: torch.Tensor, z2: torch.Tensor, batch, positive_mask=None) -> torch.Tensor:
        """The configured SSL loss between two views of the batch's sequences. Pairs marked by
        ``positive_mask`` or by ``ssl.false_negatives`` are not negatives; SupCon's labels are the
        target items; popularity negatives weight rows by their target's popularity."""
        labels = batch["target"] if self.cfg.ssl.loss == "supcon" else None
        fn = self.false_negative_mask(batch)
        if fn is not None:
            positive_mask = fn if positive_mask is None else combine_masks(positive_mask, fn)
        return self.ssl_mean(z1, z2, labels=labels, positive_mask=positive_mask,
                             pool_weights=self.token_pop.to(z1.device)[batch["target"]])

    def ssl_mean(self, q: torch.Tensor, k: torch.Tensor, **kw) -> torch.Tensor:
        """``self.ssl(q, k, **kw)`` (a mean over the anchors ``q``'s rows), of the global batch's
        anchors under data parallelism (:func:`shard_mean`; the negatives stay the shard's)."""
        return shard_mean(self.ssl(q, k, **kw), q.shape[0])

    def integrated_views(self, batch) -> list[torch.Tensor]:
        """schema=integrated: the augmented input sequences the method contrasts (the sequence
        itself for a model without augmentation)."""
        return [batch["seq"]]

    def integrated_terms(self, batch) -> dict[str, torch.Tensor]:
        """schema=integrated: one contrastive loss does both tasks (docs/compose.md): each view
        ``z_v`` of the sequence (the method's augmentations) against its next item's embedding,
        the other targets of the batch being negatives (same-target rows masked), averaged over
        the views: ``L = 1/V sum_v l(z_v, e_target)``. Without augmentation V = 1."""
        target = batch["target"]
        items = self.encoder.item_emb(target)
        same = same_label_mask(target, include_diagonal=True)
        pool, weights = self.encoder.item_weights(), self.token_pop.to(items.device)[1:-1]
        views = self.integrated_views(batch)
        losses = [self.ssl_mean(self.encode_last(v), items, positive_mask=same, pool=pool, anchor_ids=target - 1,
                                pool_weights=weights) for v in views]
        return {"rec": losses[0] if len(losses) == 1 else sum(losses) / len(losses)}

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        hidden = self.encoder(batch["seq"])
        pos, neg = batch["pos"], batch.get("neg")
        if not getattr(self.encoder, "per_position", True):  # e.g. Caser: one output per sequence
            pos, neg = pos[:, -1:], (neg[:, -1:] if neg is not None else None)
        terms = {"rec": self.rec_loss(hidden, pos, neg)}
        if self.ssl_active():
            terms.update(self.ssl_terms(batch, hidden))
        return terms

    ENCODER_PT = True  # history_vectors is the bare encoder's last output: an encoder.pt export serves it

    def encode_last(self, seqs: torch.Tensor) -> torch.Tensor:
        return self.encoder(seqs)[:, -1, :]

    def history_vectors(self, seqs: torch.Tensor) -> torch.Tensor:
        """User vectors ``[B, D']`` of left-padded histories ``[B, L]`` whose inner product with the
        exported item table (:meth:`export_embeddings`) is the model's score (serving, export)."""
        return self.encode_last(seqs)

    @torch.no_grad()
    def scorer(self, histories: torch.Tensor | None, users: torch.Tensor | None = None) -> ScoreFn:
        if histories is None:
            raise ValueError("sequential models need the users' histories to score")
        items = self.encoder.item_weights().t().contiguous()
        reps = self.encode_histories(histories, users)  # each user once, in length-sorted batches

        def score(users: torch.Tensor) -> torch.Tensor:
            return reps[users.to(reps.device)] @ items

        return score

    @torch.no_grad()
    def encode_histories(self, histories: torch.Tensor, rows: torch.Tensor | None = None,
                         batch_size: int = 512) -> torch.Tensor:
        """Representations ``[n, D]`` of left-padded histories ``[n, L]``: batches of similar
        length, each trimmed to its longest history (same result, far less padding). ``rows``: encode
        those rows only (the others stay zero)."""
        n = histories.shape[0]
        out = torch.zeros(n, self.cfg.embedding_dim, device=self.device)
        if rows is not None:
            rows = rows.to(torch.long).cpu()
            order = rows[torch.argsort((histories[rows] > 0).sum(1))]
        else:
            order = torch.argsort((histories > 0).sum(1))
        for s in range(0, len(order), batch_size):  # the rows asked for only, not n empty batches
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
