"""Full softmax cross-entropy over items as a module."""
from __future__ import annotations

from torch import Tensor, nn

from contrastrec.losses import functional as LF


class SoftmaxCELoss(nn.Module):
    """``loss(logits [..., n_items], targets [...])``; see :func:`contrastrec.losses.functional.softmax_ce_loss`."""

    def __init__(self, ignore_index: int = -100) -> None:
        super().__init__()
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ValueError(f"ignore_index must be an int; got {ignore_index!r}")
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return LF.softmax_ce_loss(logits, targets, self.ignore_index)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}"
