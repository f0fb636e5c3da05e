"""XSimGCL (Yu et al., TKDE 2023): one perturbed propagation serves both tasks. The recommendation
branch uses the (noisy, in training) layer mean; the contrastive views are that final mean and the
output of layer l* (``xsimgcl.layer_cl``) of the same pass. Clean propagation at evaluation time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastrec.augment.embedding import perturb
from contrastrec.config import Config, ConfigError
from contrastrec.models.base import SSL_SPACE
from contrastrec.models.graph_base import GraphModel


@dataclass
class XSimGCLParams:
    eps: float = 0.2  # ε: L2 norm of the noise added to every layer
    layer_cl: int = 1  # l*: the layer contrasted with the final layer mean


class XSimGCL(GraphModel):
    NAME = "xsimgcl"
    DESCRIPTION = "XSimGCL cross-layer contrast in one perturbed pass (Yu et al. TKDE 2023)"
    Params = XSimGCLParams
    HAS_SSL = True
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "ssl.temperature": 0.15, "ssl.weight": 0.2,
                "reg_weight": 1e-4}
    SPACE = {**GraphModel.SPACE, **SSL_SPACE, "xsimgcl.eps": {"type": "float", "low": 0.01, "high": 0.5, "log": True}}
    DEMO = {"epochs": 20, "lr": 5e-3, "batch_size": 1024}
    ROW_RESTRICTED = True

    def __init__(self, cfg: Config, dataset):
        super().__init__(cfg, dataset)
        self.eps, self.layer_cl = self.params.eps, self.params.layer_cl

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        super().check_config(cfg)
        if cfg.params.eps < 0:
            raise ConfigError(f"xsimgcl.eps must be >= 0, got {cfg.params.eps}")
        if not 1 <= cfg.params.layer_cl <= cfg.n_layers:
            raise ConfigError(f"xsimgcl.layer_cl must be in [1, n_layers={cfg.n_layers}], got {cfg.params.layer_cl}")

    def _noise(self):
        """The training-time perturbation of every layer (None at evaluation: clean propagation)."""
        return (lambda x: perturb(x, self.eps, training=True)) if self.training else None

    def _pass(self):
        layers = self.encoder.propagate(perturb=self._noise())
        final = torch.stack(layers[1:], 0).mean(0)
        return final, layers[self.layer_cl]

    def embeddings(self):
        return self.encoder.split(self._pass()[0])

    def integrated_views(self):
        final, cl = self._pass()
        return self.encoder.split(final), self.encoder.split(cl)

    def loss_terms(self, batch):
        if self.cfg.schema == "integrated":
            return self.integrated_terms(batch)
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        if self.ROW_RESTRICTED and self.cfg.ssl.negatives == "in_batch":
            return self._rows_loss_terms(users, pos, neg, batch)
        final, cl = self._pass()
        user_emb, item_emb = self.encoder.split(final)
        terms = self.main_terms(batch, user_emb[users], item_emb[pos], item_emb[neg])
        if self.ssl_active():
            uu, ii = torch.unique(users), torch.unique(pos)
            cu, ci = self.encoder.split(cl)
            terms["ssl"] = self.cfg.ssl.weight * self.node_contrast(uu, ii, user_emb, item_emb, cu, ci)
        return terms

    def _rows_loss_terms(self, users, pos, neg, batch):
        """Same terms as the full pass, propagating the last layer at the batch's rows only."""
        rows, iu, ip, ineg, ju, ji = self.batch_rows(users, pos, neg, with_unique=True)
        layers = self.encoder.propagate_rows(rows, perturb=self._noise())
        final, cl = torch.stack(layers[1:], 0).mean(0), layers[self.layer_cl]
        terms = self.main_terms(batch, final[iu], final[ip], final[ineg])
        if self.ssl_active():
            terms["ssl"] = self.cfg.ssl.weight * (self.ssl(final[ju], cl[ju]) + self.ssl(final[ji], cl[ji]))
        return terms
