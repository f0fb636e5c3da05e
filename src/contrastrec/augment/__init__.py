"""Augmentations: sequences (CL4SRec, CoSeRec), graphs (SGL), embeddings (SimGCL / XSimGCL).

Random operations are functions taking ``generator: torch.Generator | None``; thin callable /
``nn.Module`` classes wrap them. See the module docstrings for shapes and conventions.
"""
from contrastrec.augment.base import Compose, MultiView, RandomChoice, SequenceTransform, select_rows
from contrastrec.augment.embedding import EmbeddingNoise, perturb, uniform_noise
from contrastrec.augment.graph import (
    EdgeDropout,
    NodeDropout,
    RandomWalk,
    augmented_adjacency,
    dropout_edge,
    dropout_node,
)
from contrastrec.augment.sequence import (
    CL4SRecAugment,
    CoSeRecAugment,
    Crop,
    Insert,
    ItemCorrelation,
    Mask,
    Reorder,
    Substitute,
    crop,
    insert,
    mask,
    mask_items,
    reorder,
    substitute,
)

__all__ = [
    "Compose", "MultiView", "RandomChoice", "SequenceTransform", "select_rows",
    "EmbeddingNoise", "perturb", "uniform_noise",
    "EdgeDropout", "NodeDropout", "RandomWalk", "augmented_adjacency", "dropout_edge", "dropout_node",
    "CL4SRecAugment", "CoSeRecAugment", "Crop", "Insert", "ItemCorrelation", "Mask", "Reorder",
    "Substitute", "crop", "insert", "mask", "mask_items", "reorder", "substitute",
]
