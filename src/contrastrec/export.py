"""Export a trained run's embeddings keyed by raw ids, and the sequence encoder.

``export_run(run_dir, output, format)`` writes into ``output/``:

* ``parquet``: ``users.parquet`` / ``items.parquet`` with columns ``id`` (string, raw id) and
  ``embedding`` (fixed-size list of float32);
* ``npy``: ``users.npy`` / ``items.npy`` (float32 ``[n, d]``) with ``users_ids.json`` /
  ``items_ids.json`` (raw ids, row order);
* ``metadata.json``: model, dimension, normalization (none: score = inner product), run id
  (directory name + commit), data set, and how the user vectors were made;
* sequential models only: ``encoder.pt`` (config + encoder ``state_dict`` + item ids), so
  :func:`load_encoder` can encode a new history of raw item ids.

Graph models export their final user/item embeddings. Sequential models export the item
embedding table and, per user, the encoder output for the *test-time history* (train + valid
items, the last ``max_len``): the history of the offline test evaluation, without the test item.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from contrastrec.training.checkpoint import atomic_write_bytes, atomic_write_json

FORMATS = ("parquet", "npy")
METADATA = "metadata.json"
FILES = frozenset({METADATA, "encoder.pt", *(f"{side}{tail}" for side in ("users", "items")
                                             for tail in (".parquet", ".npy", "_ids.json"))})  # an export's files


class HistoryEncoder:
    """Encode histories of raw item ids: ``enc([["a", "b"], ["c"]])`` returns float32 ``[B, D]``
    user vectors; score an item with ``vector @ item_embedding`` (the exported item table).

    ``encode`` maps left-padded item tokens ``[B, L]`` (item index + 1, 0 = padding) to the vectors:
    a sequential model's :meth:`~contrastrec.models.seq_base.SequentialModel.history_vectors`, or,
    for an ``encoder.pt``, the encoder's output at the last position. A module is put in eval mode."""

    def __init__(self, encode, item_ids: Sequence[str], max_len: int):
        owner = getattr(encode, "__self__", encode)
        if isinstance(owner, torch.nn.Module):
            owner.eval()
        self.encode = encode
        self.item_ids = list(item_ids)
        self.index = {r: i for i, r in enumerate(self.item_ids)}
        self.max_len = max_len

    def indices(self, history: Sequence[Any]) -> np.ndarray:
        """Raw ids -> item indices; ``KeyError`` naming the first unknown id."""
        out = []
        for raw in history:
            i = self.index.get(str(raw))
            if i is None:
                raise KeyError(f"unknown item {str(raw)!r}")
            out.append(i)
        return np.asarray(out, dtype=np.int64)

    @torch.no_grad()
    def encode_indices(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Item-index histories (oldest first; only the last ``max_len`` are used) -> ``[B, D]``."""
        if any(len(h) == 0 for h in histories):
            raise ValueError("cannot encode an empty history")
        width = min(self.max_len, max(len(h) for h in histories))
        tokens = torch.zeros(len(histories), width, dtype=torch.long)
        for r, h in enumerate(histories):
            h = np.asarray(h[-width:], dtype=np.int64) + 1
            tokens[r, width - len(h):] = torch.from_numpy(h)
        return self.encode(tokens).float().numpy()

    def __call__(self, histories: Sequence[Sequence[Any]]) -> np.ndarray:
        return self.encode_indices([self.indices(h) for h in histories])


def encoder_of(run) -> HistoryEncoder:
    """The :class:`HistoryEncoder` of a loaded sequential run (the model's own history vectors)."""
    return HistoryEncoder(run.model.history_vectors, run.dataset.item_map.raw_ids, run.cfg.max_len)


class _LastPosition(torch.nn.Module):
    """A sequence encoder's output at the last position, ``[B, L] -> [B, D]``."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder(tokens)[:, -1, :]


def save_encoder(run, path: str | Path) -> None:
    """Write ``encoder.pt``: config, encoder name and ``state_dict``, item ids (row order). Only for
    models whose history vector is the bare encoder's last output (``ENCODER_PT``)."""
    cfg = run.cfg
    if not getattr(run.model, "ENCODER_PT", False):
        raise ValueError(f"{cfg.model}: its user vector is not the bare encoder's output, so no encoder.pt "
                         "is written; encode new histories from the run directory (contrastrec.export.encoder_of)")
    state = {
        "config": cfg.to_dict(),
        "encoder_name": cfg.encoder or "sasrec",
        "n_items": run.dataset.n_items,
        "item_ids": run.dataset.item_map.raw_ids,
        "encoder": {k: v.detach().cpu() for k, v in run.model.encoder.state_dict().items()},
    }
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_encoder(path: str | Path) -> HistoryEncoder:
    """Rebuild the encoder saved by :func:`export_run` (a file ``encoder.pt`` or its folder)."""
    from contrastrec.encoders import make_sequence_encoder
    from contrastrec.training.checkpoint import load_checkpoint

    from contrastrec.training.checkpoint import config_of, load_weights
    from contrastrec.training.checkpoint import CheckpointError

    p = Path(path)
    p = p / "encoder.pt" if p.is_dir() else p
    ck = load_checkpoint(p)
    cfg = config_of(ck, p)
    missing = [k for k in ("encoder_name", "n_items", "item_ids", "encoder") if k not in ck]
    if missing:
        raise CheckpointError(f"{p}: not an exported encoder (no {', '.join(missing)})")
    try:
        enc = make_sequence_encoder(ck["encoder_name"], ck["n_items"], cfg.embedding_dim, cfg.max_len,
                                    cfg.n_layers, cfg.n_heads, cfg.dropout, cfg.attn_dropout)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: cannot rebuild its encoder ({e})") from None
    load_weights(enc, ck["encoder"], p, "encoder")
    return HistoryEncoder(_LastPosition(enc), ck["item_ids"], cfg.max_len)


def _write_table(path: Path, ids: list[str], emb: np.ndarray, fmt: str) -> list[str]:
    """Each file written atomically (a failed or killed export never leaves half a table); a failed
    write is a one-line :class:`~contrastrec.training.checkpoint.WriteError` naming the file."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        col = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), pa.float32()), emb.shape[1])
        table = pa.table({"id": pa.array(ids, pa.string()), "embedding": col})
        atomic_write_bytes(path.with_suffix(".parquet"), lambda f: pq.write_table(table, f))
        return [path.with_suffix(".parquet").name]
    atomic_write_bytes(path.with_suffix(".npy"), lambda f: np.save(f, emb))
    ids_path = path.parent / f"{path.name}_ids.json"
    atomic_write_bytes(ids_path, lambda f: f.write(json.dumps(ids).encode()))
    return [path.with_suffix(".npy").name, ids_path.name]


def check_export_folder(output: Path, overwrite: bool) -> None:
    """Refuse (RunDirError) an export into a used folder, unless ``overwrite`` and the folder is an
    export (its ``metadata.json`` and export files, nothing else), which is then replaced whole."""
    from contrastrec.training.rundir import RunDirError, check_replaceable, used_folder

    if not used_folder(output):
        return
    if not overwrite:
        raise RunDirError(f"{output}: the folder is not empty; choose another --output, or pass --overwrite to "
                          "replace the export there")
    check_replaceable(output, FILES, (METADATA,), "contrastrec export")


def export_run(run_dir: str | Path, output: str | Path, format: str = "parquet",
               dataset: str | Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Export the run in ``run_dir`` to the folder ``output``; returns the metadata written. A used
    ``output`` is refused unless ``overwrite`` and it is an export; the export is written into a
    temporary folder beside it, which replaces ``output`` once complete (a failed export leaves it as it was)."""
    from contrastrec.serving.run import load_run
    from contrastrec.training.checkpoint import atomic_path

    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; valid: {', '.join(FORMATS)}")
    check_export_folder(Path(output), overwrite)
    run = load_run(run_dir, dataset)
    with atomic_path(output, folder=True) as tmp:
        meta = _write_export(run, tmp, format, dataset)
    return meta


def _write_export(run, out: Path, format: str, dataset: str | Path | None) -> dict[str, Any]:
    """Write the tables, the encoder (when there is one) and metadata.json into ``out``."""
    from contrastrec import __version__

    users, items = run.embeddings("test")
    files = _write_table(out / "users", run.dataset.user_map.raw_ids, users, format)
    files += _write_table(out / "items", run.dataset.item_map.raw_ids, items, format)
    if run.sequential and getattr(run.model, "ENCODER_PT", False):
        save_encoder(run, out / "encoder.pt")
        files.append("encoder.pt")
        how = (f"sequential model: user vector = encoder output at the last position of the user's "
               f"test-time history (train + valid items, last max_len={run.cfg.max_len}); the test item "
               "is not included. encoder.pt + contrastrec.export.load_encoder encode new histories.")
    elif run.sequential:
        how = (f"sequential model ({run.cfg.model}): user vector = the model's history vector of the user's "
               f"test-time history (train + valid items, last max_len={run.cfg.max_len}); the test item is "
               "not included. No encoder.pt: the vector is not the bare encoder's output; "
               "contrastrec.export.encoder_of(run) encodes new histories from the run directory.")
    else:
        how = "graph model: the final user embeddings of the recommendation branch (trained on train)."
    meta = {
        "model": run.cfg.model,
        "dimension": int(items.shape[1]),
        "normalization": "none",
        "score": "inner product: score(user, item) = dot(user_embedding, item_embedding); "
                 "vectors are not normalized, so cosine similarity would rank differently",
        "users": how,
        "run": {"id": run.run_id, "dir": run.name, "commit": run.commit, "path": str(run.path.resolve()),
                "best_epoch": run.results.get("best_epoch")},
        "dataset": {"name": run.dataset.name, "path": str(dataset or run.cfg.dataset),
                    "n_users": run.dataset.n_users, "n_items": run.dataset.n_items},
        "format": format,
        "files": files,
        "contrastrec_version": __version__,
    }
    atomic_write_json(out / METADATA, meta)
    return meta


@dataclass
class Exported:
    """Embeddings read back from an export folder."""

    user_ids: list[str]
    users: np.ndarray
    item_ids: list[str]
    items: np.ndarray
    metadata: dict[str, Any]


def read_export(path: str | Path) -> Exported:
    """Read an export folder written by :func:`export_run` (either format)."""
    p = Path(path)
    meta = json.loads((p / "metadata.json").read_text())

    def read(name: str) -> tuple[list[str], np.ndarray]:
        if meta["format"] == "parquet":
            import pyarrow.parquet as pq

            t = pq.read_table(p / f"{name}.parquet")
            emb = t.column("embedding").combine_chunks()
            return t.column("id").to_pylist(), emb.flatten().to_numpy().reshape(len(t), meta["dimension"])
        return json.loads((p / f"{name}_ids.json").read_text()), np.load(p / f"{name}.npy")

    uids, u = read("users")
    iids, i = read("items")
    return Exported(uids, u, iids, i, meta)
