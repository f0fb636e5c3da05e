"""Supervised contrastive loss as a module (Khosla et al., NeurIPS 2020)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from contrastrec.losses import functional as LF


class SupConLoss(nn.Module):
    """``loss(query, key=None, labels=None, positive_mask=None)``.

    * ``key`` given (SSL convention): ``query``/``key`` [B, D] are two views, stacked to [B, 2, D];
      with ``labels=None`` each pair is its own class (SimCLR / NT-Xent over 2B views);
    * ``key=None``: ``query`` is the features, [B, D] or [B, V, D].

    ``positive_mask`` [B, B] adds same-class pairs. See :func:`contrastrec.losses.functional.supcon_loss`.
    """

    def __init__(self, temperature: float = 0.07, similarity: str = "cosine") -> None:
        super().__init__()
        LF._check_positive("temperature", temperature)
        LF._check_choice("similarity", similarity, LF.SIMILARITIES)
        self.temperature = float(temperature)
        self.similarity = similarity

    def forward(self, query: Tensor, key: Tensor | None = None, labels: Tensor | None = None,
                positive_mask: Tensor | None = None) -> Tensor:
        if key is None:
            features = query
        else:
            LF._check_pair(query, key)
            features = torch.stack([query, key], dim=1)
        return LF.supcon_loss(features, labels, self.temperature, self.similarity, positive_mask)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, similarity={self.similarity!r}"
