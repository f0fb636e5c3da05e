"""Pairwise ranking loss as a module (Rendle et al., UAI 2009)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class BPRLoss(nn.Module):
    """``loss(pos_scores [B], neg_scores [B] or [B, n])``; see :func:`contrastrec.losses.functional.bpr_loss`."""

    def forward(self, pos_scores: Tensor, neg_scores: Tensor) -> Tensor:
        return LF.bpr_loss(pos_scores, neg_scores)
