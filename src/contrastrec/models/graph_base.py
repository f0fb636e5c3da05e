"""Shared machinery for graph collaborative-filtering models (MF, LightGCN and its contrastive kin).

The recommendation branch is BPR (or another main loss) on (user, positive, negatives) batches with
L2 regularisation of the batch's layer-0 embeddings, as in LightGCN. Subclasses add
self-supervised terms by overriding :meth:`ssl_terms`.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.graph import normalized_adjacency
from contrastrec.losses import functional as LF
from contrastrec.models.base import Recommender, ScoreFn
from contrastrec.models.ssl import SSLBranch


class GraphModel(Recommender):
    task = "pairwise"
    DEFAULTS = {"loss": "bpr", "ks": [10, 20, 40], "batch_size": 2048}
    uses_graph = True
    ROW_RESTRICTED = False
    """True when the recommendation branch is :meth:`rows_embeddings` read at the batch's rows and
    :meth:`ssl_terms` ignores its ``user_emb`` / ``item_emb`` arguments: :meth:`loss_terms` then
    propagates only what the batch reads (the last LightGCN layer at the batch's nodes, see
    :meth:`LightGCNEncoder.propagate_rows`) and passes ``None`` for both. Same values and gradients
    as the full propagation; much less work per step."""

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.reg_weight = cfg.reg_weight
        self.loss_name = cfg.loss or "bpr"
        self.train_users = torch.from_numpy(dataset.train.users)
        self.train_items = torch.from_numpy(dataset.train.items)
        self.user_pop = torch.bincount(self.train_users, minlength=self.n_users).float()
        self.item_pop = torch.bincount(self.train_items, minlength=self.n_items).float()
        self.ssl = SSLBranch(cfg.ssl, cfg.embedding_dim)
        if self.uses_graph and cfg.encoder in ("", "lightgcn"):
            from contrastrec.encoders.lightgcn import LightGCNEncoder

            adj = normalized_adjacency(dataset.train.users, dataset.train.items, self.n_users, self.n_items)
            self.encoder = LightGCNEncoder(self.n_users, self.n_items, cfg.embedding_dim, cfg.n_layers, adj)
        elif cfg.encoder in ("", "mf") or not self.uses_graph:
            from contrastrec.encoders.mf import MFEncoder

            self.encoder = MFEncoder(self.n_users, self.n_items, cfg.embedding_dim)
        else:
            raise ConfigError(f"encoder {cfg.encoder!r} is a sequence encoder; graph models take mf or lightgcn")

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.loss not in ("", "bpr", "bce", "sampled_softmax", "softmax"):
            raise ConfigError(f"loss={cfg.loss!r} is not available for graph models (bpr, bce, sampled_softmax, softmax)")
        if cfg.loss == "softmax" and cfg.neg_sampler != "uniform":
            raise ConfigError("loss=softmax takes its negatives in-batch; neg_sampler does not apply to it")
        if cfg.encoder not in ("", "mf", "lightgcn"):
            raise ConfigError(f"encoder={cfg.encoder!r} is a sequence encoder; graph models take mf or lightgcn")

    # ------------------------------------------------------------------ pieces
    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings of the recommendation branch."""
        return self.encoder()

    def rows_embeddings(self, rows: torch.Tensor) -> torch.Tensor:
        """``[R, D]``: rows ``rows`` of ``cat(embeddings())`` (node ids, items offset by n_users)."""
        return self.encoder.forward_rows(rows)

    def rec_loss(self, u: torch.Tensor, p: torch.Tensor, n: torch.Tensor, batch=None) -> torch.Tensor:
        """u, p: [B, D]; n: [B, k, D]. Sampled softmax subtracts log Q of the sampler (logQ correction)
        when the batch carries it (popularity negatives). ``softmax``: each user against every
        positive item of the batch, cosine similarity / ``rec_temperature`` (the sampled-softmax
        loss with in-batch negatives of Wu et al. 2022 and DirectAU's cosine geometry); rows with
        the same positive item are not negatives of each other; ``n`` is unused."""
        if self.loss_name == "softmax":
            same = None
            if batch is not None:
                same = batch["pos"].unsqueeze(0) == batch["pos"].unsqueeze(1)
            return LF.info_nce(u, p, temperature=self.cfg.rec_temperature, similarity="cosine", positive_mask=same)
        pos = (u * p).sum(-1)
        neg = torch.einsum("bd,bkd->bk", u, n)
        if self.loss_name == "bpr":
            return LF.bpr_loss(pos.unsqueeze(1).expand_as(neg), neg)
        if self.loss_name == "bce":
            return LF.bce_loss(pos, neg)
        if batch is not None and "log_q_neg" in batch:
            return LF.sampled_softmax_loss(pos, neg, log_q_pos=batch["log_q_pos"], log_q_neg=batch["log_q_neg"])
        return LF.sampled_softmax_loss(pos, neg)

    def reg_loss(self, users, pos, neg) -> torch.Tensor:
        u0, i0 = self.encoder.layer0()
        r = u0[users].pow(2).sum() + i0[pos].pow(2).sum() + i0[neg].pow(2).sum()
        return self.reg_weight * 0.5 * r / users.shape[0]

    def ssl_terms(self, batch, user_emb, item_emb) -> dict[str, torch.Tensor]:
        return {}

    def view_contrast(self, users: torch.Tensor, items: torch.Tensor, view) -> torch.Tensor:
        """The configured SSL loss between two views of the batch's unique ``users`` and ``items``.
        ``view(k, rows)`` returns view ``k`` (0 or 1) at ``rows`` ``[R, D]`` (node ids, items offset
        by n_users) when ``ssl.negatives`` is in-batch, so that only the batch's rows are
        propagated; with explicit negatives (drawn from the whole table) it is called with
        ``rows=None`` and returns the whole tables ``(user_emb, item_emb)``."""
        if self.cfg.ssl.negatives == "in_batch":
            rows = torch.cat([users, items + self.n_users])
            v1, v2, b = view(0, rows), view(1, rows), users.shape[0]
            return self.ssl(v1[:b], v2[:b]) + self.ssl(v1[b:], v2[b:])
        (u1, i1), (u2, i2) = view(0, None), view(1, None)
        return self.node_contrast(users, items, u1, i1, u2, i2)

    def node_contrast(self, users, items, u1, i1, u2, i2) -> torch.Tensor:
        """The configured SSL loss between two views of the batch's users and items; explicit
        negatives (``ssl.negatives``) come from the second view's whole user / item table."""
        return (self.ssl(u1[users], u2[users], pool=u2, anchor_ids=users, pool_weights=self.user_pop, pool_key="users")
                + self.ssl(i1[items], i2[items], pool=i2, anchor_ids=items, pool_weights=self.item_pop, pool_key="items"))

    def integrated_terms(self, batch) -> dict[str, torch.Tensor]:
        """schema=integrated: one contrastive loss between users and their positive items is the
        recommendation loss itself (other in-batch positives' items are negatives)."""
        users, pos = batch["users"], batch["pos"]
        user_emb, item_emb = self.embeddings()
        same = pos.unsqueeze(0) == pos.unsqueeze(1)
        rec = self.ssl(user_emb[users], item_emb[pos], positive_mask=same, pool=item_emb, anchor_ids=pos,
                       pool_weights=self.item_pop)
        terms = {"rec": rec}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, batch["neg"])
        return terms

    def batch_rows(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, with_unique: bool = False):
        """The node rows a step reads (users, items offset by ``n_users``), deduplicated, and where
        each batch entry sits in them: ``(rows [R], iu [B], ip [B], ineg [*neg.shape], iuu, iii)``;
        ``iuu`` / ``iii`` index the batch's unique users / positive items (``with_unique``; else None)."""
        b, nb = users.shape[0], neg.numel()
        parts = [users, pos + self.n_users, neg.reshape(-1) + self.n_users]
        if with_unique:
            parts += [torch.unique(users), torch.unique(pos) + self.n_users]
        rows, inv = torch.unique(torch.cat(parts), return_inverse=True)
        iu, ip, ineg = inv[:b], inv[b : 2 * b], inv[2 * b : 2 * b + nb].view(neg.shape)
        if not with_unique:
            return rows, iu, ip, ineg, None, None
        n_uu = parts[3].shape[0]
        return rows, iu, ip, ineg, inv[2 * b + nb : 2 * b + nb + n_uu], inv[2 * b + nb + n_uu :]

    # ------------------------------------------------------------------ contract
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        if self.ROW_RESTRICTED and hasattr(self.encoder, "forward_rows"):
            rows, iu, ip, ineg, _, _ = self.batch_rows(users, pos, neg)
            out = self.rows_embeddings(rows)
            u, p, n = out[iu], out[ip], out[ineg]
            user_emb = item_emb = None
        else:
            user_emb, item_emb = self.embeddings()
            u, p, n = user_emb[users], item_emb[pos], item_emb[neg]
        terms = {"rec": self.rec_loss(u, p, n, batch)}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, neg)
        terms.update(self.ssl_terms(batch, user_emb, item_emb))
        return terms

    @contextmanager
    def evaluation_graph(self, users: np.ndarray, items: np.ndarray) -> Iterator[None]:
        """Within the block the encoder propagates over the graph of ``(users, items)`` (e.g. train +
        valid when scoring the test set, ``eval_graph: history``) instead of the training graph. The
        parameters are unchanged; models without a graph (MF) ignore it."""
        enc = self.encoder
        if not self.uses_graph or not hasattr(enc, "adj"):
            yield
            return
        old = enc.adj
        enc.adj = normalized_adjacency(users, items, self.n_users, self.n_items, device=old.device)
        try:
            yield
        finally:
            enc.adj = old

    @torch.no_grad()
    def export_embeddings(self, histories=None) -> tuple[torch.Tensor, torch.Tensor]:
        was = self.training
        self.eval()
        u, i = self.embeddings()
        self.train(was)
        return u.detach(), i.detach()

    @torch.no_grad()
    def scorer(self, histories: torch.Tensor | None) -> ScoreFn:
        u, i = self.export_embeddings()
        it = i.t().contiguous()

        def score(users: torch.Tensor) -> torch.Tensor:
            return u[users.to(u.device)] @ it

        return score

