"""Shared machinery for graph collaborative-filtering models (MF, LightGCN and its contrastive kin).

The recommendation branch is BPR (or another main loss) on (user, positive, negatives) batches with
L2 regularisation of the batch's layer-0 embeddings, as in LightGCN (:meth:`GraphModel.main_terms`).
With ``neg_sampler: mixgcf`` the negative of each pair is MixGCF's synthetic one, mixed from the
batch's uniform candidates and the positive over every LightGCN layer (:meth:`GraphModel.mixgcf_terms`).
Subclasses define their views: :meth:`ssl_terms` (schema ``joint``) and :meth:`integrated_views`
(schema ``integrated``); the encoder requirement is the class attribute ``ENCODERS``, per-epoch
reseeding is the base class's.
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
from contrastrec.samplers import same_label_mask
from contrastrec.samplers.mixgcf import mix_negatives_rows, pool_layers

MIXGCF_STREAM = "mixgcf.mixing"  # MixGCF's positive-mixing draws (contrastrec.rng)
ANCHOR_STREAM = "ssl.anchors"  # the ssl.max_anchors samples (contrastrec.rng)
# what neg_sampler=mixgcf relies on: the recommendation branch is the encoder's own layer combination, trained
# by this class's loss path; a model that redefines any of these is refused (see mixgcf_conflicts)
MIXGCF_FIXED = ("embeddings", "rows_embeddings", "rows_forward", "row_restricted", "loss_terms", "main_terms",
                "rec_loss", "reg_loss")


# the propagation depth, tuned by every LightGCN-backbone model (the base and the contrastive ones alike)
LAYERS_SPACE = {"n_layers": {"type": "int", "low": 1, "high": 4}}

# the graph models' setting in `contrastrec demo` (each model's DEMO starts from it; the demo adds its
# epoch cap, patience and time safety net): a high lr, so that they reach early stopping in seconds
GRAPH_DEMO = {"lr": 2e-2, "batch_size": 1024, "embedding_dim": 32}


class GraphModel(Recommender):
    task = "pairwise"
    DEFAULTS = {"loss": "bpr", "ks": [10, 20, 40], "batch_size": 2048}
    SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
             "embedding_dim": {"type": "categorical", "choices": [32, 64, 128]},
             "reg_weight": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True}}
    ENCODERS: tuple[str, ...] = ("mf", "lightgcn")  # the encoders the model works with
    uses_graph = True
    ROW_RESTRICTED = False
    """True when the recommendation branch is :meth:`rows_embeddings` read at the batch's rows and
    :meth:`ssl_terms` ignores its ``user_emb`` / ``item_emb`` arguments: :meth:`loss_terms` then
    propagates only what the batch reads (the last LightGCN layer at the batch's nodes, see
    :meth:`LightGCNEncoder.propagate_rows`) and passes ``None`` for both. Same values and gradients
    as the full propagation; much less work per step."""
    CAPS_ANCHORS = True  # ssl.max_anchors acts on view_contrast / node_contrast / the views path (NCL: its own step)

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.reg_weight = cfg.reg_weight
        self.loss_name = cfg.loss or "bpr"
        self.train_users = torch.from_numpy(dataset.train.users)
        self.train_items = torch.from_numpy(dataset.train.items)
        self.user_pop = torch.bincount(self.train_users, minlength=self.n_users).float()
        self.item_pop = torch.bincount(self.train_items, minlength=self.n_items).float()
        self.ssl = SSLBranch(cfg.ssl, cfg.embedding_dim)
        # MixGCF's α draws: a generator reseeded per epoch (on_epoch_start), so a resumed run repeats them
        self._mix_gen = self.stream(MIXGCF_STREAM, 0) if cfg.neg_sampler == "mixgcf" else None
        self._anchor_gen = self.stream(ANCHOR_STREAM, 0)
        if self.uses_graph and cfg.encoder in ("", "lightgcn"):
            from contrastrec.encoders.lightgcn import LightGCNEncoder

            adj = normalized_adjacency(dataset.train.users, dataset.train.items, self.n_users, self.n_items)
            self.encoder = LightGCNEncoder(self.n_users, self.n_items, cfg.embedding_dim, cfg.n_layers, adj,
                                           combine=cfg.layer_aggregate)
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
        if (cfg.encoder or "lightgcn") not in cls.ENCODERS:
            raise ConfigError(f"{cls.NAME or cls.__name__.lower()} needs the {' or '.join(cls.ENCODERS)} encoder "
                              f"(got encoder={cfg.encoder})")
        if cfg.neg_sampler == "mixgcf":
            cls.check_mixgcf(cfg)

    @classmethod
    def mixgcf_conflicts(cls) -> tuple[str, ...]:
        """The methods of :data:`MIXGCF_FIXED` that the model redefines: ``neg_sampler=mixgcf``
        applies when there are none (LightGCN, SGL), so that the synthetic negatives are mixed from
        the very layers the model scores with and its SSL terms do not depend on the row-restricted
        step (SimGCL / XSimGCL views, NCL, LightGCL, BUIR, DirectAU redefine some: refused)."""
        return tuple(m for m in MIXGCF_FIXED if getattr(cls, m) is not getattr(GraphModel, m))

    @classmethod
    def check_mixgcf(cls, cfg: Config) -> None:
        """Refuse ``neg_sampler=mixgcf`` where it cannot act as MixGCF (one line naming the model)."""
        name = cls.NAME or cls.__name__.lower()
        where = f"neg_sampler=mixgcf does not apply to model {name}"
        own = cls.mixgcf_conflicts()
        encoder = cfg.encoder or cls.DEFAULTS.get("encoder", "lightgcn")
        loss = cfg.loss or cls.DEFAULTS.get("loss", "bpr")
        if not cls.uses_graph or encoder != "lightgcn":
            raise ConfigError(f"{where} with encoder={encoder}: it mixes the layers of the lightgcn encoder")
        if own:
            raise ConfigError(f"{where}: {name} defines its own {', '.join(own)}, so the synthetic negatives would "
                              "not be mixed from the layers it scores with (use lightgcn or sgl)")
        if cfg.schema == "integrated":
            raise ConfigError(f"{where} under schema=integrated: its one contrastive loss uses no sampled negatives")
        if loss != "bpr":
            raise ConfigError(f"{where} with loss={loss}: MixGCF trains BPR against its synthetic negative "
                              "(use loss=bpr)")
        if cfg.n_negatives < 2:
            raise ConfigError(f"{where} with n_negatives={cfg.n_negatives}: n_negatives is its candidate pool, "
                              "hop mixing needs at least 2 (the authors use 16-64)")
        if cls.reads_ssl(cfg) and cfg.ssl.anchors == "batch_negatives":
            raise ConfigError(f"{where} with ssl.anchors=batch_negatives: the batch's negatives are its "
                              f"n_negatives={cfg.n_negatives} candidates per pair, not one negative per pair "
                              "(use ssl.anchors=unique or batch)")

    @classmethod
    def inert_keys(cls, cfg: Config) -> dict[str, str]:
        out = {k: "graph models have no sequence encoder" for k in ("max_len", "n_heads", "attn_dropout", "dropout")}
        out["ssl.false_negatives"] = ("graph models contrast each unique user / item of the batch with itself; "
                                      "same_target / same_cluster / same_user do not apply")
        if (cfg.encoder or cls.DEFAULTS.get("encoder", "lightgcn")) == "mf" or not cls.uses_graph:
            out["n_layers"] = "the mf encoder has no layers"
            out["eval_graph"] = "the mf encoder does not propagate over a graph"
        return out

    def on_epoch_start(self, epoch: int) -> None:
        super().on_epoch_start(epoch)
        if self._mix_gen is not None:
            self._mix_gen = self.stream(MIXGCF_STREAM, epoch)
        if self.cfg.ssl.max_anchors:
            self._anchor_gen = self.stream(ANCHOR_STREAM, epoch)

    def cap_anchors(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` (one anchor set ``[n]``), or a seeded sample of ``ssl.max_anchors`` of them in
        their original order when there are more (drawn from the epoch's generator: resumable)."""
        k = self.cfg.ssl.max_anchors
        if not k or ids.shape[0] <= k:
            return ids
        keep = torch.randperm(ids.shape[0], generator=self._anchor_gen)[:k].sort().values
        return ids[keep.to(ids.device)]

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
                same = same_label_mask(batch["pos"], include_diagonal=True)
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

    def reg_loss(self, users, pos, neg, neg_layer0: torch.Tensor | None = None) -> torch.Tensor:
        """``reg_weight / 2 * (|U0[users]|^2 + |I0[pos]|^2 + |I0[neg]|^2) / B``; ``neg_layer0``
        ``[B, k, D]`` replaces ``I0[neg]`` when the negatives are not rows of the table (MixGCF)."""
        u0, i0 = self.encoder.layer0()
        n0 = i0[neg] if neg_layer0 is None else neg_layer0
        r = u0[users].pow(2).sum() + i0[pos].pow(2).sum() + n0.pow(2).sum()
        return self.reg_weight * 0.5 * r / users.shape[0]

    def main_terms(self, batch, u: torch.Tensor, p: torch.Tensor, n: torch.Tensor,
                   neg_layer0: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The recommendation terms of a joint step: ``rec`` on the batch's user / positive /
        negative representations ``u, p [B, D]``, ``n [B, k, D]``, and ``reg`` on their layer-0 rows
        (the negatives': ``neg_layer0 [B, k, D]`` when given, else the rows of ``batch["neg"]``)."""
        terms = {"rec": self.rec_loss(u, p, n, batch)}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(batch["users"], batch["pos"], batch["neg"], neg_layer0)
        return terms

    def mixgcf_terms(self, batch) -> dict[str, torch.Tensor]:
        """``neg_sampler=mixgcf`` (Huang et al. KDD 2021): BPR of each (user, positive) against one
        synthetic negative, :func:`~contrastrec.samplers.mixgcf.mix_negatives_rows` of the batch's
        ``n_negatives`` uniform candidates ``batch["neg"]`` over every layer of one full LightGCN
        propagation (positive mixing with α ~ U[0, 1) per pair and layer, drawn from the epoch's
        generator, for the global batch under data parallelism, each rank keeping its rows; hop
        mixing against the user's pooled layers; the chosen layers pooled; pooling is the encoder's
        layer combination, mean or sum, the authors' ``pool``). ``reg``, as
        in the authors' code: the layer-0 rows of the user and positive and the synthetic
        negative's layer 0 (its chosen, mixed layer-0 embedding), not the M candidates' rows. SSL
        terms get the full tables, as on the unrestricted path."""
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        layers = self.encoder.propagate()

        def at(rows):  # [*rows.shape, L+1, D]
            return torch.stack([e[rows] for e in layers], -2)

        pool = self.encoder.combine  # the encoder's own layer combination (mean or sum)
        u_layers, p_layers = at(users), at(pos + self.n_users)
        u, p = pool_layers(u_layers, pool), pool_layers(p_layers, pool)
        alpha = None
        if "shard" in batch:  # data-parallel: the global batch's α, this rank's rows (= a one-process run)
            first, total = batch["shard"]
            alpha = torch.rand((total, len(layers)), generator=self._mix_gen,
                               device=self._mix_gen.device)[first:first + users.shape[0]]
        mixed = mix_negatives_rows(u, p_layers, layers, neg + self.n_users, alpha=alpha, generator=self._mix_gen,
                                   pool=pool)
        terms = self.main_terms(batch, u, p, mixed.emb.unsqueeze(1), neg_layer0=mixed.layers[:, None, 0])
        if self.HAS_SSL and self.ssl_active():
            user_emb, item_emb = self.encoder.split(self.encoder.combine_layers(layers))
            terms.update(self.ssl_terms(batch, user_emb, item_emb))
        return terms

    def ssl_terms(self, batch, user_emb, item_emb) -> dict[str, torch.Tensor]:
        return {}

    def row_restricted(self) -> bool:
        """Whether this step takes the row-restricted path (``ROW_RESTRICTED``, with an encoder that
        propagates rows)."""
        return self.ROW_RESTRICTED and hasattr(self.encoder, "forward_rows")

    def rows_forward(self, rows: torch.Tensor, with_views: bool):
        """The row-restricted step: ``(rec [R, D], views)`` at the batch's ``rows``; ``views`` is
        the method's two views at the same rows ``(v1, v2)`` when it computes them in the same
        propagation (``with_views``: in-batch contrastive negatives, SSL active), else None and
        :meth:`ssl_terms` is called."""
        return self.rows_embeddings(rows), None

    def view_contrast(self, users: torch.Tensor, items: torch.Tensor, view) -> torch.Tensor:
        """The configured SSL loss between two views of the batch's unique ``users`` and ``items``.
        ``view(k, rows)`` returns view ``k`` (0 or 1) at ``rows`` ``[R, D]`` (node ids, items offset
        by n_users) when ``ssl.negatives`` is in-batch, so that only the batch's rows are
        propagated; with explicit negatives (drawn from the whole table) it is called with
        ``rows=None`` and returns the whole tables ``(user_emb, item_emb)``."""
        users, items = self.cap_anchors(users), self.cap_anchors(items)
        if self.cfg.ssl.negatives == "in_batch":
            rows = torch.cat([users, items + self.n_users])
            v1, v2, b = view(0, rows), view(1, rows), users.shape[0]
            return self.ssl(v1[:b], v2[:b]) + self.ssl(v1[b:], v2[b:])
        (u1, i1), (u2, i2) = view(0, None), view(1, None)
        return self.node_contrast(users, items, u1, i1, u2, i2)

    def node_contrast(self, users, items, u1, i1, u2, i2) -> torch.Tensor:
        """The configured SSL loss between two views of the batch's users and items; explicit
        negatives (``ssl.negatives``) come from the second view's whole user / item table.
        ``users`` / ``items``: node ids, or lists of id sets (``ssl.anchors``, see
        :func:`~contrastrec.models.ssl.anchor_sets`): one term per set, summed."""
        us = [self.cap_anchors(u) for u in (users if isinstance(users, (list, tuple)) else [users])]
        its = [self.cap_anchors(i) for i in (items if isinstance(items, (list, tuple)) else [items])]
        terms = ([self.ssl(u1[u], u2[u], pool=u2, anchor_ids=u, pool_weights=self.user_pop, pool_key="users")
                  for u in us]
                 + [self.ssl(i1[i], i2[i], pool=i2, anchor_ids=i, pool_weights=self.item_pop, pool_key="items")
                    for i in its])
        return sum(terms[1:], terms[0])

    def integrated_views(self) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
        """schema=integrated: the two augmented views ``((U1, I1), (U2, I2))`` (whole user / item
        tables) the method contrasts, or None for a model without augmentation (LightGCN, MF),
        whose one view is :meth:`embeddings`."""
        return None

    def integrated_terms(self, batch) -> dict[str, torch.Tensor]:
        """schema=integrated: one contrastive loss does both tasks (docs/compose.md). With the
        method's two views (U1, I1), (U2, I2), the positive of user u is its interacted item i
        *seen in the other view*, the other items of the batch (in that view) are its negatives:

            L = 1/2 [ l(U1[u], I2[i]) + l(U2[u], I1[i]) ]

        with l the configured ``ssl.loss`` (rows of the batch with the same item are not negatives;
        ``ssl.negatives`` draws explicit negatives from the other view's item table). Without
        augmentation both views are the encoder output and L = l(U[u], I[i])."""
        users, pos = batch["users"], batch["pos"]
        same = same_label_mask(pos, include_diagonal=True)  # rows with the same item are not negatives
        views = self.integrated_views()
        pairs = [(self.embeddings(),) * 2] if views is None else [views, views[::-1]]

        def loss(a, b):
            return self.ssl(a[0][users], b[1][pos], positive_mask=same, pool=b[1], anchor_ids=pos,
                            pool_weights=self.item_pop)

        rec = loss(*pairs[0]) if len(pairs) == 1 else 0.5 * (loss(*pairs[0]) + loss(*pairs[1]))
        terms = {"rec": rec}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, batch["neg"])
        return terms

    def batch_rows(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor):
        """The node rows a step reads (users, items offset by ``n_users``), deduplicated and sorted,
        and where each batch entry sits in them: ``(rows [R], iu [B], ip [B], ineg [*neg.shape])``."""
        b, nb = users.shape[0], neg.numel()
        rows, inv = torch.unique(torch.cat([users, pos + self.n_users, neg.reshape(-1) + self.n_users]),
                                 return_inverse=True)
        return rows, inv[:b], inv[b : 2 * b], inv[2 * b : 2 * b + nb].view(neg.shape)

    # ------------------------------------------------------------------ contract
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        if self._mix_gen is not None:  # neg_sampler=mixgcf: every layer of the full propagation
            return self.mixgcf_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        if self.row_restricted():
            rows, iu, ip, ineg = self.batch_rows(users, pos, neg)
            out, views = self.rows_forward(rows, self.ssl_active() and self.cfg.ssl.negatives == "in_batch")
            terms = self.main_terms(batch, out[iu], out[ip], out[ineg])
            if views is not None:  # the method's two views at the batch's rows: contrast its unique nodes
                v1, v2 = views  # rows are sorted and hold every user and positive item of the batch
                ju = self.cap_anchors(torch.searchsorted(rows, torch.unique(users)))
                ji = self.cap_anchors(torch.searchsorted(rows, torch.unique(pos) + self.n_users))
                terms["ssl"] = self.cfg.ssl.weight * (self.ssl(v1[ju], v2[ju]) + self.ssl(v1[ji], v2[ji]))
            elif self.ssl_active():
                terms.update(self.ssl_terms(batch, None, None))
            return terms
        user_emb, item_emb = self.embeddings()
        terms = self.main_terms(batch, user_emb[users], item_emb[pos], item_emb[neg])
        if self.ssl_active():
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
    def scorer(self, histories: torch.Tensor | None, users: torch.Tensor | None = None) -> ScoreFn:
        u, i = self.export_embeddings()
        it = i.t().contiguous()

        def score(users: torch.Tensor) -> torch.Tensor:
            return u[users.to(u.device)] @ it

        return score

