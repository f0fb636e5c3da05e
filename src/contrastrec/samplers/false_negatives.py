"""Masks of in-batch pairs that must NOT be used as negatives (likely false negatives).

* same target item: DuoRec (Qiu et al., "Contrastive Learning for Representation Degeneration
  Problem in Sequential Recommendation", WSDM 2022);
* same cluster / prototype: ICLRec (Chen et al., "Intent Contrastive Learning for Sequential
  Recommendation", WWW 2022), NCL (Lin et al., "Improving Graph Collaborative Filtering with
  Neighborhood-enriched Contrastive Learning", WWW 2022);
* same user: two sequences or views of one user.
See also Huynh et al., "Boosting Contrastive Self-Supervised Learning with False Negative
Cancellation", WACV 2022.

A mask here is True where the pair is excluded; invert it (``~mask``) for a valid-negative mask.
For a two-view batch of 2B rows, pass ``labels.repeat(2)``.
"""
from __future__ import annotations

import torch


def _check_labels(name: str, labels: torch.Tensor) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"{name} must be an integer or bool tensor, got dtype {labels.dtype}")
    return labels


def same_label_mask(
    labels: torch.Tensor, key_labels: torch.Tensor | None = None, include_diagonal: bool = False
) -> torch.Tensor:
    """BoolTensor[B, M]: ``mask[i, j] = labels[i] == key_labels[j]`` (and ``i != j`` by default).

    Args:
        labels: LongTensor[B], e.g. target item, cluster id or user of each anchor.
        key_labels: LongTensor[M] of the keys; defaults to ``labels`` (square [B, B] mask).
        include_diagonal: if False (default), ``mask[i, i]`` is False, so the mask flags only
            the *other* rows sharing the label (the diagonal is the positive pair itself).
    """
    labels = _check_labels("labels", labels)
    keys = labels if key_labels is None else _check_labels("key_labels", key_labels).to(labels.device)
    if not isinstance(include_diagonal, bool):
        raise ValueError(f"include_diagonal must be a bool, got {include_diagonal!r}")
    mask = labels[:, None] == keys[None, :]
    if not include_diagonal:
        d = min(mask.shape)
        idx = torch.arange(d, device=mask.device)
        mask[idx, idx] = False
    return mask


def combine_masks(*masks: torch.Tensor) -> torch.Tensor:
    """BoolTensor: element-wise OR of boolean masks of one shape (a pair excluded by any mask)."""
    if not masks:
        raise ValueError("combine_masks needs at least one mask")
    shape = masks[0].shape
    for k, m in enumerate(masks):
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise ValueError(f"mask {k} must be a bool tensor, got {getattr(m, 'dtype', type(m).__name__)}")
        if m.shape != shape:
            raise ValueError(f"mask {k} has shape {tuple(m.shape)}, expected {tuple(shape)}")
    out = masks[0].clone()
    for m in masks[1:]:
        out |= m.to(out.device)
    return out
