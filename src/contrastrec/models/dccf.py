"""DCCF (Ren et al., "Disentangled Contrastive Collaborative Filtering", SIGIR 2023; authors' code
HKUDS/DCCF, also SSLRec models/general_cf/dccf.py with config/modelconf/dccf.yml).

Every layer ``l = 0 .. L-1`` turns ``E_l`` (``E_0``: the embedding tables) into four channels of every
node, all read from ``E_l`` (users and items: rows of one ``[N, D]`` table, :mod:`contrastrec.graph`):

* GNN view:        ``Z_l = Â E_l`` (Â = D^-1/2 A D^-1/2, LightGCN's graph);
* intent view:     ``R_l = softmax(E_l W) Wᵀ``, with K learnable intent prototypes ``W [D, K]`` for
  users and another for items (:class:`~contrastrec.augment.intent.UserItemIntents`, ``dccf.n_intents``);
* two adaptively augmented views: ``E_l`` propagated through the graph whose edges are masked by the
  agreement of their ends, ``α_ht = (cos(z_h, z_t) + 1) / 2``, row-normalised
  (:class:`~contrastrec.augment.adaptive_mask.AdaptiveEdgeMask`): ``Z̃_l`` with ``z = Z_l`` and ``R̃_l``
  with ``z = R_l`` (the mask is learned: gradients flow through α);

``E_{l+1} = Z_l + R_l + Z̃_l + R̃_l + E_l``, and the representation is the layer sum ``Σ_{l=0..L} E_l``.

Loss: BPR on the layer sum (:meth:`GraphModel.main_terms`) + ``ssl.weight`` · Σ_l [ℓ(Z_l, R_l) + ℓ(Z_l, Z̃_l)
+ ℓ(Z_l, R̃_l)] over the batch's unique users and, separately, its unique positive items, with ℓ the
configured ``ssl.loss`` (InfoNCE: the GNN view as the query, the other view as the key, the batch's
other nodes in that view as negatives; cosine similarity / ``ssl.temperature``; mean over anchors).
L2: SSLRec's ``reg_weight · Σ_params ||θ||²`` on every parameter at every step is Adam's
``weight_decay = 2 · reg_weight``; the default ``reg_weight`` (a batch L2 term) is 0.

Defaults: SSLRec's config/modelconf/dccf.yml (2 layers, 128 intents, reg 1e-4 → weight_decay 2e-4,
cl_weight 1e-2, temperature 0.2, Adam lr 1e-3, batch 4096; embedding 32: this split's protocol).

Step cost: the propagation itself is the method (the masks read every edge of every layer), but the
last layer is computed only at the batch's rows: its four channels at the rows, from ``Z_{L-1}`` and
``R_{L-1}`` at the rows and their neighbours only (the rows' edge weights read nothing else;
:meth:`AdaptiveEdgeMask.row_edges`). Same values and gradients as the full propagation
(tests/models/test_dccf.py); on yelp-sslrec the last layer's intents and masks shrink to ~70% / ~30%.
With explicit contrastive negatives (``ssl.negatives`` other than ``in_batch``, drawn from the key view's
whole table) every layer is propagated in full. The rest of a step is DCCF's objective itself: twelve
in-batch InfoNCE terms (2 layers x 3 views x users / items, ~3.8k anchors each at batch 4096), about
70% of a step on a CPU (measured: ~3-5 s a step, 45 steps an epoch, on one shared CPU thread).

Differences from the references: items contrasted are the batch's unique *positive* items (the authors'
code; SSLRec: positives and negatives), and each of the six terms is a mean over its own anchors (the
authors'; SSLRec divides the item terms by the number of users too). The authors' own L2 is
``emb_reg``·(batch layer-0 rows) + ``cen_reg``·||W||² (2.5e-5, 5e-3) with ``ssl_reg`` 0.1 and temperature 1;
these defaults are SSLRec's. ``schema=integrated`` is refused: DCCF contrasts four channels of a node
within each layer, not two views of an interaction. Nothing is random beyond the batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastrec.augment.adaptive_mask import AdaptiveEdgeMask
from contrastrec.augment.intent import UserItemIntents
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.graph import spmm_rows, sym_spmm
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GRAPH_DEMO, GraphModel

Channels = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # (Z, R, Z~, R~) of one layer


@dataclass
class DCCFParams:
    n_intents: int = 128  # K: intent prototypes for users, and as many for items


class DCCF(GraphModel):
    NAME = "dccf"
    DESCRIPTION = "DCCF intent prototypes + learned adaptive edge masks, 4-view contrast (Ren et al. SIGIR 2023)"
    Params = DCCFParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "n_layers": 2, "batch_size": 4096, "lr": 1e-3,
                "ssl.temperature": 0.2, "ssl.weight": 1e-2, "ssl.similarity": "cosine",
                "reg_weight": 0.0, "weight_decay": 2e-4}
    SPACE = {**GraphModel.SPACE, **SSL_SPACE,
             "dccf.n_intents": {"type": "categorical", "choices": [32, 64, 128, 256]},
             "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-3, "log": True}}
    DEMO = {**GRAPH_DEMO, "lr": 2e-3}  # at the shared 2e-2 it peaks at its first epoch, at 5e-3 at its third

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.intents = UserItemIntents(cfg.embedding_dim, self.params.n_intents)
        self._mask: tuple[torch.Tensor, AdaptiveEdgeMask] | None = None

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.params.n_intents < 1:
            raise ConfigError(f"dccf.n_intents must be >= 1, got {cfg.params.n_intents}")
        if cfg.n_layers < 1:
            raise ConfigError("dccf needs n_layers >= 1 (its views are built inside each layer)")
        if cfg.schema == "integrated":
            raise ConfigError("dccf: schema=integrated is not defined (DCCF contrasts a node's GNN channel with its "
                              "intent and adaptively masked channels within each layer, not two views of an "
                              "interaction); use joint or pretrain_finetune")

    # ------------------------------------------------------------------ propagation
    def edge_mask(self) -> AdaptiveEdgeMask:
        """The adaptive mask over the edges of the graph the encoder propagates over (rebuilt when
        that graph changes: another device, ``eval_graph: history``)."""
        adj = self.encoder.adj
        if self._mask is None or self._mask[0] is not adj:
            self._mask = (adj, AdaptiveEdgeMask(adj))
        return self._mask[1]

    def propagate(self, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, list[Channels]]:
        """``(out, channels)``: the layer sum ``Σ_l E_l`` and each layer's ``(Z_l, R_l, Z̃_l, R̃_l)``,
        whole tables ``[N, D]``; with ``rows [R]`` (distinct node ids, items offset by n_users) all of
        them at those rows only ``[R, D]``, the last layer computed there only."""
        adj, mask, nu = self.encoder.adj, self.edge_mask(), self.n_users
        x = torch.cat(self.encoder.layer0(), 0)
        total, channels = x, []
        for layer in range(self.cfg.n_layers):
            if rows is not None and layer == self.cfg.n_layers - 1:
                edges = mask.row_edges(rows)
                nodes, at = edges.nodes, edges.row_at
                x_nodes = x[nodes]
                z = spmm_rows(adj, nodes, x)
                r = self.intents(x_nodes, int(torch.searchsorted(nodes, nu)))
                ch = (z[at], r[at], mask.propagate_rows(edges, z, x_nodes), mask.propagate_rows(edges, r, x_nodes))
                x_rows = x_nodes[at]
                channels = [tuple(c[rows] for c in layer_ch) for layer_ch in channels] + [ch]
                return total[rows] + (ch[0] + ch[1] + ch[2] + ch[3] + x_rows), channels
            z = sym_spmm(adj, x)
            r = self.intents(x, nu)
            ch = (z, r, mask(z, x), mask(r, x))
            x = ch[0] + ch[1] + ch[2] + ch[3] + x
            total = total + x
            channels.append(ch)
        return total, channels

    def embeddings(self):
        return self.encoder.split(self.propagate()[0])

    def rows_embeddings(self, rows):
        return self.propagate(rows)[0]

    # ------------------------------------------------------------------ loss
    def contrast(self, gnn: torch.Tensor, other: torch.Tensor, users: torch.Tensor, items: torch.Tensor,
                 whole: bool) -> torch.Tensor:
        """ℓ(GNN channel, other channel) for the unique ``users`` and ``items``: positions in the rows'
        tables (``whole=False``), or node ids in whole tables (explicit negatives from the key's table)."""
        if not whole:
            return self.ssl(gnn[users], other[users]) + self.ssl(gnn[items], other[items])
        return self.node_contrast(users, items, *self.encoder.split(gnn), *self.encoder.split(other))

    def loss_terms(self, batch):
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        ssl = self.ssl_active()
        if ssl and self.cfg.ssl.negatives != "in_batch":
            out, channels = self.propagate()
            u, i = self.encoder.split(out)
            terms = self.main_terms(batch, u[users], i[pos], i[neg])
            au, ai, whole = self.cap_anchors(torch.unique(users)), self.cap_anchors(torch.unique(pos)), True
        else:
            rows, iu, ip, ineg = self.batch_rows(users, pos, neg)
            out, channels = self.propagate(rows)
            terms = self.main_terms(batch, out[iu], out[ip], out[ineg])
            if not ssl:
                return terms
            au = self.cap_anchors(torch.searchsorted(rows, torch.unique(users)))  # ssl.max_anchors: one sample
            ai = self.cap_anchors(torch.searchsorted(rows, torch.unique(pos) + self.n_users))  # for all channels
            whole = False
        loss = sum(self.contrast(z, v, au, ai, whole) for z, *views in channels for v in views)
        terms["ssl"] = self.cfg.ssl.weight * loss
        return terms
