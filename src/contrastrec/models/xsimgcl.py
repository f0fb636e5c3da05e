"""XSimGCL (Yu et al., TKDE 2023): one perturbed propagation serves both tasks. The recommendation
branch uses the (noisy, in training) layer mean; the contrastive views are that final mean and the
output of layer l* (``graph.layer_cl``) of the same pass. Clean propagation at evaluation time.
"""
from __future__ import annotations

import torch

from contrastrec.augment.embedding import perturb
from contrastrec.config import Config, ConfigError
from contrastrec.data.dataset import Dataset
from contrastrec.models.graph_base import GraphModel


class XSimGCL(GraphModel):
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.15, "ssl.weight": 0.2,
                "graph.eps": 0.2, "graph.layer_cl": 1, "reg_weight": 1e-4}

    def __init__(self, cfg: Config, dataset: Dataset):
        super().__init__(cfg, dataset)
        self.eps, self.layer_cl = cfg.graph.eps, cfg.graph.layer_cl

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.encoder not in ("", "lightgcn"):
            raise ConfigError("xsimgcl needs the lightgcn encoder")
        if not 1 <= cfg.graph.layer_cl <= cfg.n_layers:
            raise ConfigError(f"graph.layer_cl must be in [1, n_layers={cfg.n_layers}], got {cfg.graph.layer_cl}")

    ROW_RESTRICTED = True

    def _noise(self):
        """The training-time perturbation of every layer (None at evaluation: clean propagation)."""
        return (lambda x: perturb(x, self.eps, training=True)) if self.training else None

    def _pass(self):
        layers = self.encoder.propagate(perturb=self._noise())
        final = torch.stack(layers[1:], 0).mean(0)
        return final, layers[self.layer_cl]

    def embeddings(self):
        return self.encoder.split(self._pass()[0])

    def on_epoch_start(self, epoch: int) -> None:
        self.ssl.reseed(self.cfg.seed * 31 + epoch)

    def loss_terms(self, batch):
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        if self.ROW_RESTRICTED and self.cfg.ssl.negatives == "in_batch":
            return self._rows_loss_terms(users, pos, neg, batch)
        final, cl = self._pass()
        user_emb, item_emb = self.encoder.split(final)
        terms = {"rec": self.rec_loss(user_emb[users], item_emb[pos], item_emb[neg], batch)}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, neg)
        if self.ssl_active():
            uu, ii = torch.unique(users), torch.unique(pos)
            cu, ci = self.encoder.split(cl)
            loss = self.node_contrast(uu, ii, user_emb, item_emb, cu, ci)
            terms["ssl"] = self.cfg.ssl.weight * loss
        return terms

    def _rows_loss_terms(self, users, pos, neg, batch):
        """Same terms as the full pass, propagating the last layer at the batch's rows only."""
        rows, iu, ip, ineg, ju, ji = self.batch_rows(users, pos, neg, with_unique=True)
        layers = self.encoder.propagate_rows(rows, perturb=self._noise())
        final, cl = torch.stack(layers[1:], 0).mean(0), layers[self.layer_cl]
        terms = {"rec": self.rec_loss(final[iu], final[ip], final[ineg], batch)}
        if self.reg_weight > 0:
            terms["reg"] = self.reg_loss(users, pos, neg)
        if self.ssl_active():
            terms["ssl"] = self.cfg.ssl.weight * (self.ssl(final[ju], cl[ju]) + self.ssl(final[ji], cl[ji]))
        return terms
