"""The contrastive branch g(·) + L_ssl shared by every model: a projection head and one SSL loss,
both chosen by configuration (``ssl.head``, ``ssl.loss``, ``ssl.temperature``, ...).

``SSLBranch(q, k, labels=None, positive_mask=None)`` returns the *unweighted* loss (mean over
anchors); models multiply by ``ssl.weight`` (λ). Explicit negatives (``ssl.negatives`` other than
``in_batch``) are drawn by the model from the node/item table and passed as ``negatives``.
"""
from __future__ import annotations

import torch
from torch import nn

from contrastrec.config import SSLConfig
from contrastrec.heads import make_head
from contrastrec.losses import make_ssl_loss


class SSLBranch(nn.Module):
    def __init__(self, cfg: SSLConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.head = make_head(cfg.head, dim, batch_norm=cfg.head_batch_norm)
        self.loss = make_ssl_loss(
            cfg.loss, temperature=cfg.temperature, tau_plus=cfg.tau_plus, beta=cfg.beta,
            similarity=cfg.similarity, margin=cfg.margin,
        )

    def forward(self, q: torch.Tensor, k: torch.Tensor, labels: torch.Tensor | None = None,
                positive_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.loss(self.head(q), self.head(k), labels=labels, positive_mask=positive_mask)
