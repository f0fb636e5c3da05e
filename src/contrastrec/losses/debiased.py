"""Debiased contrastive loss as a module (Chuang et al., NeurIPS 2020)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class DebiasedInfoNCELoss(nn.Module):
    """``loss(query [B, D], key [B, D], labels=None, positive_mask=None)``, in-batch.

    ``labels``/``positive_mask`` pairs are removed from the negatives and join the positives of the
    correction term. See :func:`contrastrec.losses.functional.debiased_info_nce`.
    """

    def __init__(self, temperature: float = 0.2, tau_plus: float = 0.1, similarity: str = "cosine",
                 symmetric: bool = False) -> None:
        super().__init__()
        LF._check_positive("temperature", temperature)
        LF._check_tau_plus(tau_plus)
        LF._check_choice("similarity", similarity, LF.SIMILARITIES)
        self.temperature = float(temperature)
        self.tau_plus = float(tau_plus)
        self.similarity = similarity
        self.symmetric = bool(symmetric)

    def forward(self, query: Tensor, key: Tensor, labels: Tensor | None = None,
                positive_mask: Tensor | None = None) -> Tensor:
        mask = LF.pair_mask(labels, positive_mask, query.shape[0])
        return LF.debiased_info_nce(query, key, self.temperature, self.tau_plus, self.similarity, mask,
                                    self.symmetric)

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, tau_plus={self.tau_plus}, similarity={self.similarity!r}, "
                f"symmetric={self.symmetric}")
