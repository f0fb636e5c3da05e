"""Binary cross-entropy with sampled negatives as a module (SASRec, Kang & McAuley 2018)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class SampledBCELoss(nn.Module):
    """``loss(pos_scores S, neg_scores S or S+[n], mask=None)``; see :func:`contrastrec.losses.functional.bce_loss`."""

    def forward(self, pos_scores: Tensor, neg_scores: Tensor, mask: Tensor | None = None) -> Tensor:
        return LF.bce_loss(pos_scores, neg_scores, mask)
