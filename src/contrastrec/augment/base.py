"""Combinators for sequence augmentations: :class:`Compose`, :class:`RandomChoice`, :class:`MultiView`.

Every transform is a callable ``transform(seqs, generator=None) -> seqs`` where ``seqs`` is a
``LongTensor[B, L]`` batch of left-padded item tokens (0 = padding). Transforms never mutate their
input and return a new ``[B, L]`` tensor.

:class:`RandomChoice` picks one transform *per sequence* without a Python loop over the batch:
every candidate is applied to the whole batch and the rows are selected with ``torch.where`` by the
sampled transform id (this is how CL4SRec, Xie et al. ICDE 2022, samples one of crop / mask /
reorder for each view of each sequence).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from contrastrec.augment._common import check_int, rand

Transform = Callable[..., torch.Tensor]

__all__ = ["Transform", "SequenceTransform", "Compose", "RandomChoice", "MultiView", "select_rows"]


class SequenceTransform:
    """Base class of the sequence augmentation callables (``__call__(seqs, generator=None)``)."""

    def __call__(self, seqs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def views(self, seqs: torch.Tensor, n_views: int = 2, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """``n_views`` independent augmentations of ``seqs`` (each ``[B, L]``)."""
        return [self(seqs, generator=generator) for _ in range(check_int("n_views", n_views, minimum=1))]

    def _params(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params()})"


def _check_callable(transforms: Sequence[Transform]) -> list[Transform]:
    if isinstance(transforms, (str, bytes)) or not hasattr(transforms, "__iter__"):
        raise ValueError("transforms must be a sequence of callables")
    out = list(transforms)
    for t in out:
        if not callable(t):
            raise ValueError(f"transform {t!r} is not callable")
    return out


def select_rows(outputs: Sequence[torch.Tensor], choice: torch.Tensor) -> torch.Tensor:
    """Row ``b`` of the result is ``outputs[choice[b]][b]``.

    Args:
        outputs: K tensors of the same shape ``[B, ...]``.
        choice: ``LongTensor[B]`` with values in ``[0, K)``.
    Returns:
        Tensor ``[B, ...]`` (a new tensor; the inputs are not modified).
    """
    out = outputs[0]
    extra = (1,) * (out.dim() - 1)
    for i in range(1, len(outputs)):
        out = torch.where((choice == i).view(-1, *extra), outputs[i], out)
    if len(outputs) == 1:
        out = out.clone()
    return out


class Compose(SequenceTransform):
    """Apply ``transforms`` in order: ``t_n(...t_2(t_1(seqs)))``; the generator is passed to each."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = _check_callable(transforms)
        if not self.transforms:
            raise ValueError("Compose needs at least one transform")

    def __call__(self, seqs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        out = seqs
        for t in self.transforms:
            out = t(out, generator=generator)
        return out if out is not seqs else seqs.clone()

    def _params(self) -> str:
        return ", ".join(repr(t) for t in self.transforms)


class RandomChoice(SequenceTransform):
    """For each sequence independently, apply one transform drawn with probabilities ``p``.

    Args:
        transforms: K callables ``(seqs, generator=None) -> seqs`` that keep the shape ``[B, L]``.
        p: K non-negative weights (normalized here); ``None`` = uniform.

    ``__call__(seqs [B, L], generator) -> [B, L]``: the transform id of each row is drawn first
    (``B`` uniforms), then all K transforms are applied to the whole batch and the rows are picked
    with ``torch.where``. Cost is K full-batch transforms, but no per-sequence Python loop.
    """

    def __init__(self, transforms: Sequence[Transform], p: Sequence[float] | None = None):
        self.transforms = _check_callable(transforms)
        if not self.transforms:
            raise ValueError("RandomChoice needs at least one transform")
        k = len(self.transforms)
        if p is None:
            probs = [1.0 / k] * k
        else:
            probs = [float(x) for x in p]
            if len(probs) != k:
                raise ValueError(f"p has {len(probs)} entries for {k} transforms")
            if any(not (x >= 0) or x == float("inf") for x in probs) or sum(probs) <= 0:
                raise ValueError(f"p must be finite, non-negative and sum to > 0, got {list(p)!r}")
            s = sum(probs)
            probs = [x / s for x in probs]
        self.p = probs
        self._cum = torch.tensor(probs, dtype=torch.float64).cumsum(0)

    def sample_choice(self, batch_size: int, generator: torch.Generator | None, device) -> torch.Tensor:
        """``LongTensor[batch_size]`` of transform ids drawn with probabilities ``p``."""
        u = rand((batch_size,), generator, device, dtype=torch.float64)
        # (u >= cum[:-1]).sum() == searchsorted(cum, u, right=True) for a handful of transforms,
        # and much cheaper than torch.searchsorted on CPU for tiny boundary tensors
        cum = self._cum[:-1].to(device)
        return (u.unsqueeze(1) >= cum).sum(1)

    def __call__(self, seqs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        choice = self.sample_choice(seqs.shape[0], generator, seqs.device)
        outputs = [t(seqs, generator=generator) for t in self.transforms]
        return select_rows(outputs, choice)

    def _params(self) -> str:
        return f"[{', '.join(repr(t) for t in self.transforms)}], p={[round(x, 4) for x in self.p]}"


class MultiView:
    """``MultiView(transform, n_views)(seqs, generator) -> [view_1, ..., view_n]``, each ``[B, L]``.

    Views are drawn independently (the same generator advances between views).
    """

    def __init__(self, transform: Transform, n_views: int = 2):
        if not callable(transform):
            raise ValueError(f"transform {transform!r} is not callable")
        self.transform = transform
        self.n_views = check_int("n_views", n_views, minimum=1)

    def __call__(self, seqs: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return [self.transform(seqs, generator=generator) for _ in range(self.n_views)]

    def __repr__(self) -> str:
        return f"MultiView({self.transform!r}, n_views={self.n_views})"
