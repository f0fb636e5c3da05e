"""Sampled softmax with logQ correction as a module (Yi et al., RecSys 2019)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class SampledSoftmaxLoss(nn.Module):
    """``loss(pos_scores [B], neg_scores [B, n] or [n], log_q_pos=None, log_q_neg=None, negative_mask=None)``.

    See :func:`contrastrec.losses.functional.sampled_softmax_loss`.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        LF._check_positive("temperature", temperature)
        self.temperature = float(temperature)

    def forward(self, pos_scores: Tensor, neg_scores: Tensor, log_q_pos: Tensor | float | None = None,
                log_q_neg: Tensor | float | None = None, negative_mask: Tensor | None = None) -> Tensor:
        return LF.sampled_softmax_loss(pos_scores, neg_scores, log_q_pos, log_q_neg, self.temperature, negative_mask)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
