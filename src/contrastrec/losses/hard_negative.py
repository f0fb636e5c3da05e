"""Hard-negative contrastive loss as a module (Robinson et al., ICLR 2021)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class HardNegativeInfoNCELoss(nn.Module):
    """``loss(query [B, D], key [B, D], labels=None, positive_mask=None)``, in-batch.

    Negatives weighted by ``e^{beta s/T}`` (mean weight 1); debiased when ``tau_plus > 0``.
    See :func:`contrastrec.losses.functional.hard_negative_info_nce`.
    """

    def __init__(self, temperature: float = 0.2, beta: float = 1.0, tau_plus: float = 0.0,
                 similarity: str = "cosine", symmetric: bool = False) -> None:
        super().__init__()
        LF._check_positive("temperature", temperature)
        LF._check_nonnegative("beta", beta)
        LF._check_tau_plus(tau_plus)
        LF._check_choice("similarity", similarity, LF.SIMILARITIES)
        self.temperature = float(temperature)
        self.beta = float(beta)
        self.tau_plus = float(tau_plus)
        self.similarity = similarity
        self.symmetric = bool(symmetric)

    def forward(self, query: Tensor, key: Tensor, labels: Tensor | None = None,
                positive_mask: Tensor | None = None) -> Tensor:
        mask = LF.pair_mask(labels, positive_mask, query.shape[0])
        return LF.hard_negative_info_nce(query, key, self.temperature, self.beta, self.tau_plus, self.similarity,
                                         mask, self.symmetric)

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, beta={self.beta}, tau_plus={self.tau_plus}, "
                f"similarity={self.similarity!r}, symmetric={self.symmetric}")
