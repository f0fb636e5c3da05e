"""Triplet margin loss as a module (Schroff et al., FaceNet 2015; background Eq.5)."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class TripletLoss(nn.Module):
    """``loss(query [B, D], key [B, D], labels=None, positive_mask=None, *, negatives=None)``.

    ``query[i]`` is the anchor and ``key[i]`` its positive. Without ``negatives``, every other in-batch
    key is a negative (except ``labels``/``positive_mask`` pairs): the anchor's loss is the mean hinge
    over those (0 if none), deterministic and using the whole batch. ``negatives`` [B, D] or [B, n, D]
    replaces them (``labels``/``positive_mask`` not allowed then).
    See :func:`contrastrec.losses.functional.triplet_loss`.
    """

    def __init__(self, margin: float = 1.0, distance: str = "squared_euclidean") -> None:
        super().__init__()
        LF._check_nonnegative("margin", margin)
        LF._check_choice("distance", distance, LF.DISTANCES)
        self.margin = float(margin)
        self.distance = distance

    def forward(self, query: Tensor, key: Tensor, labels: Tensor | None = None,
                positive_mask: Tensor | None = None, *, negatives: Tensor | None = None) -> Tensor:
        if negatives is not None:
            if labels is not None or positive_mask is not None:
                raise ValueError("labels/positive_mask select in-batch negatives; not allowed with explicit negatives")
            return LF.triplet_loss(query, key, negatives, self.margin, self.distance)
        mask = LF.pair_mask(labels, positive_mask, query.shape[0])
        return LF._in_batch_triplet(query, key, self.margin, self.distance, mask)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}"
