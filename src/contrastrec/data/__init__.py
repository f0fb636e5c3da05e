"""Data layer: readers for the common formats, splitting protocols, synthetic data.

Entry point: :func:`load_dataset` (file, folder or DataFrame -> split :class:`Dataset`).
"""
from .dataset import DataError, Dataset, IdMap, Split
from .for_config import dataset_for
from .loading import SPLITS, UNSEEN_USERS, describe_datasets, load_dataset, load_item_attributes, scan_folder
from .readers import FORMATS, RawInteractions, detect_format, read_interactions, write_interactions
from .splits import (
    SplitResult,
    carve_validation,
    k_core,
    leave_one_out,
    random_split,
    temporal_split,
)
from .synthetic import SyntheticTruth, make_synthetic, synthetic_raw, write_synthetic

__all__ = [
    "DataError",
    "IdMap",
    "Split",
    "Dataset",
    "RawInteractions",
    "load_dataset",
    "dataset_for",
    "read_interactions",
    "write_interactions",
    "detect_format",
    "leave_one_out",
    "random_split",
    "temporal_split",
    "carve_validation",
    "SplitResult",
    "k_core",
    "make_synthetic",
    "synthetic_raw",
    "write_synthetic",
    "SyntheticTruth",
    "FORMATS",
    "SPLITS",
    "UNSEEN_USERS",
    "describe_datasets",
    "scan_folder",
    "load_item_attributes",
]
