"""One way to build the data of a run from its config: :func:`dataset_for`, used by train,
refit, evaluate, serve, export, tune and plot."""
from __future__ import annotations

from pathlib import Path

from contrastrec.data.dataset import DataError, Dataset


def dataset_for(cfg, path: str | Path | None = None, id_maps: str | Path | None = None) -> Dataset:
    """Read and split the data named by ``cfg`` (``dataset``, or ``path`` when given) exactly as
    the run that ``cfg`` describes: ``format``, ``split``, ``split_seed`` (else ``seed``), ``k_core``, ``unseen_users``
    and ``sequential`` all come from the config.

    ``id_maps``: a run's ``id_maps.json``; when it exists, the data must map the same raw user and
    item ids to the same indices, else a DataError (a run never meets data it was not trained on,
    e.g. a user-rotated file, which would score silently wrong), and the run's ``dataset.json``
    fingerprint (size and head hash of each file) must match the data read now; a run recorded
    before fingerprints loads with a note."""
    from contrastrec.data.loading import load_dataset

    path = path or cfg.dataset
    if not path:
        raise DataError("no dataset given (use --dataset PATH or `dataset:` in the config)")
    ds = load_dataset(path, format=cfg.format or None, split=cfg.split,
                      seed=cfg.seed if cfg.split_seed is None else cfg.split_seed, k_core=cfg.k_core,
                      unseen_users=cfg.unseen_users, sequential=cfg.sequential)
    check_id_maps(ds, id_maps, f"the data at {path}")
    if id_maps is not None:
        _check_recorded_data(ds, Path(id_maps).parent / "dataset.json")
    return ds


def check_id_maps(ds: Dataset, id_maps: str | Path | None, what: str) -> None:
    """A DataError unless ``ds`` maps the raw ids as the run's ``id_maps`` file does (when it exists)."""
    if id_maps is not None and Path(id_maps).exists():
        users, items = Dataset.load_id_maps(id_maps)
        if users != ds.user_map or items != ds.item_map:
            raise DataError(f"{what} does not match the run's id_maps.json (different users or items); "
                            "pass the run's data set with --dataset", id_maps)


def _check_recorded_data(ds: Dataset, record: Path) -> None:
    """Compare ``ds`` with the data a run recorded in ``record`` (its ``dataset.json``)."""
    import json
    import sys

    from contrastrec.data.fingerprint import check_fingerprint

    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None  # absent or unreadable: the id maps check still holds
    printed = isinstance(recorded, dict) and isinstance(recorded.get("fingerprint"), dict)
    if printed:
        check_fingerprint(ds.fingerprint, recorded["fingerprint"], record)
    elif record.parent.is_dir() and (record.parent / "best.pt").exists():
        note = (f"{record}: the run records no data fingerprint (made before they were kept): the data was "
                "checked against the run's id maps only")
        ds.notes.append(note)
        print(f"note: {note}", file=sys.stderr)
