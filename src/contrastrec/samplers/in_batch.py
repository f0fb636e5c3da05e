"""In-batch negatives: the other rows of the batch serve as negatives.

As in SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020) and two-tower retrieval (Yi et al., RecSys 2019). A row holding the
same item as the anchor is a false negative and is masked out.
"""
from __future__ import annotations

import torch


def _check_items(items: torch.Tensor) -> torch.Tensor:
    if not isinstance(items, torch.Tensor):
        items = torch.as_tensor(items)
    if items.dim() != 1:
        raise ValueError(f"items must be 1-D [B], got shape {tuple(items.shape)}")
    if items.dtype == torch.bool or items.is_floating_point() or items.is_complex():
        raise ValueError(f"items must be an integer tensor, got dtype {items.dtype}")
    return items


def in_batch_negatives(items: torch.Tensor) -> torch.Tensor:
    """BoolTensor[B, B]: ``mask[i, j]`` is True iff row ``j`` is a valid negative for anchor ``i``.

    False on the diagonal and wherever ``items[j] == items[i]`` (the same item at another row is
    not a negative).

    Args:
        items: LongTensor[B], the positive item of each row.
    """
    items = _check_items(items)
    return items[:, None] != items[None, :]


class InBatchSampler:
    """For each row, the indices of the other rows of the batch.

    ``sample(items)`` -> LongTensor[B, B-1], row ``i`` = ``[0..B-1] \\ {i}`` in ascending order;
    ``valid(items)`` -> BoolTensor[B, B-1], False where that other row holds the same item;
    ``pairs(items)`` -> (anchor, negative) LongTensor[P] each, the valid pairs flattened
    (pytorch-metric-learning's pair format).
    """

    @staticmethod
    def _others(b: int, device: torch.device) -> torch.Tensor:
        # row i: j for j < i, then j + 1 for j >= i
        j = torch.arange(max(b - 1, 0), device=device)
        i = torch.arange(b, device=device)[:, None]
        return j[None, :] + (j[None, :] >= i).long()

    def sample(self, items: torch.Tensor) -> torch.Tensor:
        """LongTensor[B, B-1]: indices of the other rows, per row."""
        items = _check_items(items)
        return self._others(items.numel(), items.device)

    def valid(self, items: torch.Tensor) -> torch.Tensor:
        """BoolTensor[B, B-1] aligned with ``sample``: True iff the other row holds a different item."""
        items = _check_items(items)
        return items[self._others(items.numel(), items.device)] != items[:, None]

    def pairs(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(anchor LongTensor[P], negative LongTensor[P]): all valid in-batch negative pairs."""
        anchor, negative = in_batch_negatives(items).nonzero(as_tuple=True)
        return anchor, negative

    def __call__(self, items: torch.Tensor) -> torch.Tensor:
        return self.sample(items)

    def __repr__(self) -> str:
        return "InBatchSampler()"
