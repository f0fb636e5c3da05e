"""InfoNCE / NT-Xent as a module (van den Oord et al. 2018; Chen et al., SimCLR 2020)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class InfoNCELoss(nn.Module):
    """``loss(query [B, D], key [B, D], labels=None, positive_mask=None, *, negatives=None)``.

    In-batch negatives unless ``negatives`` ([B, n, D] or [n, D]) is given. ``labels`` [B] and
    ``positive_mask`` [B, B] mark pairs that are not negatives (removed from the denominator); with
    explicit negatives, ``positive_mask`` is [B, n] and ``labels`` are not allowed.
    See :func:`contrastrec.losses.functional.info_nce`.
    """

    def __init__(self, temperature: float = 0.2, similarity: str = "cosine", symmetric: bool = False,
                 pos_clamp: float = 0.0) -> None:
        super().__init__()
        LF._check_positive("temperature", temperature)
        LF._check_choice("similarity", similarity, LF.SIMILARITIES)
        if not pos_clamp >= 0:
            raise ValueError(f"pos_clamp must be >= 0 (0 = off), got {pos_clamp}")
        self.temperature = float(temperature)
        self.similarity = similarity
        self.symmetric = bool(symmetric)
        self.pos_clamp = float(pos_clamp)

    def forward(self, query: Tensor, key: Tensor, labels: Tensor | None = None,
                positive_mask: Tensor | None = None, *, negatives: Tensor | None = None) -> Tensor:
        if negatives is None:
            positive_mask = LF.pair_mask(labels, positive_mask, query.shape[0])
        elif labels is not None:
            raise ValueError("labels define in-batch pairs; with explicit negatives pass a [B, n] positive_mask")
        return LF.info_nce(query, key, negatives, self.temperature, self.similarity, self.symmetric, positive_mask,
                           pos_clamp=self.pos_clamp)

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, similarity={self.similarity!r}, symmetric={self.symmetric}"
                + (f", pos_clamp={self.pos_clamp}" if self.pos_clamp else ""))
