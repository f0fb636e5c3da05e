"""Alignment + uniformity as a module (Wang & Isola, ICML 2020; DirectAU, Wang et al., KDD 2022)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class AlignUniformLoss(nn.Module):
    """``loss(query [B, D], key [B, D], labels=None, positive_mask=None)`` =
    ``align(query, key) + gamma * (unif(query) + unif(key)) / 2``.

    For DirectAU, ``query`` = users and ``key`` = their interacted items. ``labels`` and
    ``positive_mask`` are accepted (and shape-checked) for the SSL calling convention, then ignored (this loss has no
    negatives). See :func:`contrastrec.losses.functional.align_uniform_loss`.
    """

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__()
        LF._check_nonnegative("gamma", gamma)
        self.gamma = float(gamma)

    def forward(self, query: Tensor, key: Tensor, labels: Tensor | None = None,
                positive_mask: Tensor | None = None) -> Tensor:
        LF.pair_mask(labels, positive_mask, query.shape[0])  # validated like every SSL loss, then unused
        return LF.align_uniform_loss(query, key, self.gamma)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
