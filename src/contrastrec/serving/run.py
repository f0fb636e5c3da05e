"""Load a trained run directory back into memory: config, data split, model (CPU, eval mode).

A run directory (see :mod:`contrastrec.training.loop`) holds ``best.pt`` (config + weights),
``id_maps.json``, ``dataset.json`` and ``results.json``. The data split is rebuilt from the data
path stored in the config (or ``dataset=``), and checked against ``id_maps.json`` so that raw
ids keep meaning the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from contrastrec.config import Config
from contrastrec.data import DataError, Dataset, dataset_for
from contrastrec.data.dataset import Split
from contrastrec.data.sequences import padded_histories
from contrastrec.training.checkpoint import config_of, load_checkpoint, load_weights  # noqa: F401  (re-exported)


def _read_json(path: Path) -> dict[str, Any]:
    """``path`` parsed ({} when absent); a corrupt file is a one-line RunDirError naming it."""
    from contrastrec.training.rundir import RunDir, RunDirError

    d = RunDir(path.parent).read_json(path.name, {})
    if not isinstance(d, dict):
        raise RunDirError(f"{path}: not a JSON object (holds a {type(d).__name__})")
    return d


@dataclass
class LoadedRun:
    """A run rebuilt for inference."""

    path: Path
    cfg: Config
    dataset: Dataset
    model: torch.nn.Module
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def sequential(self) -> bool:
        return bool(getattr(self.model, "sequential", False))

    @property
    def commit(self) -> str:
        if self.results.get("commit"):
            return str(self.results["commit"])
        from contrastrec.training.loop import git_commit

        return git_commit()

    @property
    def run_id(self) -> str:
        """``<directory name>@<commit>``."""
        return f"{self.name}@{self.commit}"

    def known_items(self) -> Split:
        """Every interaction the data set knows: train + valid + test, per user in order."""
        return Split.concat(self.dataset.history("test"), self.dataset.test)

    def seen_csr(self) -> sp.csr_matrix:
        """Binary user x item matrix of :meth:`known_items` (what serving excludes by default)."""
        return self.known_items().csr(self.dataset.n_users, self.dataset.n_items)

    @torch.no_grad()
    def embeddings(self, history: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """``(user_emb, item_emb)`` as float32 arrays; score = inner product.

        Sequential models encode each user's history: ``"test"`` = train + valid (the history
        of the offline test evaluation), ``"all"`` = train + valid + test.
        """
        hist = None
        if self.sequential:
            split = self.dataset.history("test") if history == "test" else self.known_items()
            hist = padded_histories(split, self.dataset.n_users, self.cfg.max_len)
        u, i = self.model.export_embeddings(hist)
        return u.float().cpu().numpy(), i.float().cpu().numpy()


def run_dataset(run: Path, cfg: Config, dataset: str | Path | None = None) -> Dataset:
    """The data of the run in ``run``: ``dataset`` when given, else the path it was trained on, else
    (data made, not read: the demo's) its recipe in ``dataset.json``, regenerated and checked
    against the counts recorded there. Raw ids must map as in ``id_maps.json``."""
    from contrastrec.data.for_config import check_id_maps
    from contrastrec.data.synthetic import regenerate

    info = _read_json(run / "dataset.json")
    path = dataset or cfg.dataset or info.get("path")
    if path:
        return dataset_for(cfg, path, id_maps=run / "id_maps.json")
    if "synthetic" not in info:
        raise DataError("the run stores no data set path; pass --dataset PATH", run)
    ds = regenerate(info["synthetic"])
    counts = ("users", "items", "train", "valid", "test")
    if any(ds.summary()[k] != info.get(k) for k in counts):
        raise DataError("the synthetic data regenerated from its recipe does not match the counts recorded "
                        "here (" + ", ".join(f"{k} {info.get(k)} vs {ds.summary()[k]}" for k in counts) + ")",
                        run / "dataset.json")
    check_id_maps(ds, run / "id_maps.json", "the regenerated synthetic data")
    return ds


def load_run(run_dir: str | Path, dataset: str | Path | None = None) -> LoadedRun:
    """Rebuild the run in ``run_dir`` on CPU from ``best.pt`` and its data set."""
    run = Path(run_dir)
    if not (run / "best.pt").exists():
        raise FileNotFoundError(f"{run}: not a run directory (no best.pt)")
    ck = load_checkpoint(run / "best.pt")
    cfg = config_of(ck, run / "best.pt")
    cfg.device = "cpu"
    ds = run_dataset(run, cfg, dataset)
    from contrastrec.training.loop import build_model

    model = build_model(cfg, ds)
    load_weights(model, ck.get("model"), run / "best.pt")
    model.eval()
    return LoadedRun(run, cfg, ds, model, _read_json(run / "results.json"))
