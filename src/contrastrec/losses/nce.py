"""Noise-contrastive estimation as a module (Gutmann & Hyvärinen 2010; Mnih & Teh 2012)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from contrastrec.losses import functional as LF


class NCELoss(nn.Module):
    """``loss(query [B, D], key [B, D], labels=None, positive_mask=None)``.

    Scores ``s_ij = sim(query_i, key_j) / T``. The data sample of anchor i is ``key[i]``; its noise
    samples are the other in-batch keys (except ``labels``/``positive_mask`` pairs), with a uniform
    noise distribution over the batch, ``P_n = 1/B``, and ``k_i`` = number of noise samples of anchor i.
    See :func:`contrastrec.losses.functional.nce_loss`.
    """

    def __init__(self, temperature: float = 0.2, similarity: str = "cosine") -> None:
        super().__init__()
        LF._check_positive("temperature", temperature)
        LF._check_choice("similarity", similarity, LF.SIMILARITIES)
        self.temperature = float(temperature)
        self.similarity = similarity

    def forward(self, query: Tensor, key: Tensor, labels: Tensor | None = None,
                positive_mask: Tensor | None = None) -> Tensor:
        LF._check_pair(query, key)
        b = query.shape[0]
        mask = LF.pair_mask(labels, positive_mask, b)
        scores = LF.similarity(query, key, self.similarity) / self.temperature
        noise_mask = ~torch.eye(b, dtype=torch.bool, device=query.device)
        if mask is not None:
            noise_mask = noise_mask & ~mask
        log_pn = -math.log(b)
        return LF.nce_loss(scores.diagonal(), scores, log_pn, log_pn, noise_mask=noise_mask)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, similarity={self.similarity!r}"
