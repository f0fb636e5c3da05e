"""Tiny trained runs shared by the serving/export/plot/report tests (trained once per session).

Data are written by :func:`contrastrec.data.write_synthetic` (a few dozen users and items), so
the runs store a data path and can be reloaded like real runs; each run trains 2 epochs.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from contrastrec.config import build_config
from contrastrec.data import load_dataset, write_synthetic
from contrastrec.training.loop import fit

_ROOT: Path | None = None
_RUNS: dict[str, Path] = {}

COMMON = {"epochs": 2, "embedding_dim": 16, "batch_size": 64, "device": "cpu", "ks": [5, 10],
          "metric": "ndcg@10", "seed": 1}
SEQ = {"max_len": 8, "n_layers": 1, "n_heads": 2, "dropout": 0.1, "attn_dropout": 0.1}


def root() -> Path:
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="contrastrec-test-runs-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def data_file(sequential: bool) -> Path:
    """A tiny synthetic data file (lists for sequential data, triples for graph data)."""
    path = root() / ("tiny_seq.txt" if sequential else "tiny_graph.tsv")
    if not path.exists():
        write_synthetic(path, format="lists" if sequential else "triples", n_users=60, n_items=40,
                        interactions_per_user=8, n_clusters=4, sequential=sequential, seed=0)
    return path


def config(model: str, **over):
    from contrastrec.config import model_class

    sequential = model_class(model).sequential
    base = {**COMMON, **(SEQ if sequential else {}), "dataset": str(data_file(sequential)), **over}
    return build_config(model, None, base)


def dataset_for(cfg):
    return load_dataset(cfg.dataset, format=cfg.format or None, split=cfg.split, seed=cfg.seed,
                        k_core=cfg.k_core, unseen_users=cfg.unseen_users)


def trained_run(model: str) -> Path:
    """The directory of a tiny run of ``model`` (trained on first use, then reused)."""
    if model not in _RUNS:
        cfg = config(model)
        out = root() / f"run-{model}"
        fit(cfg, dataset_for(cfg), out, progress=False, log=lambda s: None)
        _RUNS[model] = out
    return _RUNS[model]
