"""Mini-batch producers for the two training tasks. Randomness is drawn from a generator seeded by
``(seed, epoch)``, so an interrupted run that resumes at epoch e sees exactly the batches it would
have seen.

Host-to-device traffic: on an accelerator (``resident``, the default when the device is not the
CPU) the training arrays are copied to the device once, and each epoch sends its order (and its
negatives, when they are drawn for the whole epoch) in one pinned, non-blocking transfer; batches
are then slices and gathers on the device, with no per-step copy. Negatives that depend on the
current model (hard / popularity samplers, sequence BCE negatives) are still drawn per step on the
host and sent with the batch. The batches are the same values either way (tested on the CPU with
``resident=True``)."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from contrastrec.data.dataset import DataError, Dataset, Split
from contrastrec.data.sequences import padded_tokens, prefix_tokens
from contrastrec.rng import numpy_stream, stream_seed


def to_device(a: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """``a`` on ``device``; to a CUDA device through pinned memory, without blocking the host."""
    t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class _Resident:
    """Arrays copied to one device once (``get(device)``), kept while the device stays the same."""

    def __init__(self, **arrays):
        self.arrays, self.device, self.tensors = arrays, None, {}

    def get(self, device: torch.device) -> dict[str, torch.Tensor]:
        if self.device != device:
            self.tensors = {k: to_device(v, device) for k, v in self.arrays.items() if v is not None}
            self.device = device
        return self.tensors


def check_negatives_exist(split: Split, n_users: int, n_items: int, user_map=None,
                          support: np.ndarray | None = None, what: str = "uniform",
                          keys: np.ndarray | None = None) -> None:
    """A :class:`DataError` naming the first user (its raw id when ``user_map`` is given) whose
    *distinct* training items cover every item a negative could be drawn from (all items, or the
    ``support`` mask): no negative exists for that user, and sampling one would never end. Raised
    when the negatives are set up, before any training step. ``keys``: the unique
    ``user * n_items + item`` of ``split``, when the caller has them already."""
    keys = np.unique(split.users * n_items + split.items) if keys is None else keys
    users, items = keys // n_items, keys % n_items
    if support is None:
        need = n_items
    else:
        support = np.asarray(support, dtype=bool)
        keep = support[items]
        users, need = users[keep], int(support.sum())
    if need == 0:  # nothing to draw from at all: the sampler itself refuses that
        return
    full = np.flatnonzero(np.bincount(users, minlength=n_users) >= need)
    if full.size:
        u = int(full[0])
        who = f"user {user_map.to_raw(u)!r}" if user_map is not None else f"user index {u}"
        others = f" (and {full.size - 1} more user(s))" if full.size > 1 else ""
        pool = "every item" if support is None else f"every item that {what} negatives can draw ({need})"
        raise DataError(f"{who}{others} interacted with {pool} in the training data: no negative item exists "
                        f"for its {what} negatives; remove such users from the data (or filter them out "
                        "before training)")


class UniformNegatives:
    """Uniform negatives that exclude the user's training positives (vectorized rejection)."""

    def __init__(self, split: Split, n_users: int, n_items: int, user_map=None):
        self.n_items = n_items
        keys = np.unique(split.users * n_items + split.items)
        self.keys = keys
        check_negatives_exist(split, n_users, n_items, user_map, keys=keys)

    def sample(self, users: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        out = rng.integers(0, self.n_items, size=(len(users), n))
        ukeys = users[:, None] * self.n_items
        bad = np.isin(ukeys + out, self.keys)
        while bad.any():
            out[bad] = rng.integers(0, self.n_items, size=int(bad.sum()))
            bad[bad] = np.isin((ukeys + out)[bad], self.keys)
        return out


class SamplerNegatives:
    """Adapter: a :mod:`contrastrec.samplers` sampler drawing from the epoch's generator.

    For the hard-negative miner, ``score_source()`` must return the current model's
    ``score_fn``; the miner re-ranks every ``refresh_every`` calls (steps).
    """

    def __init__(self, sampler, score_source=None):
        self.sampler = sampler
        self.score_source = score_source
        self.log_q = getattr(sampler, "log_q", None)

    def sample(self, users: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        self.sampler.generator.manual_seed(int(rng.integers(0, 2**62)))
        step = getattr(self.sampler, "step", None)
        if step is not None:  # hard miner: refresh with the current model when due
            if self.sampler.needs_refresh:
                if self.score_source is None:
                    raise RuntimeError("hard negatives need the model's scores (score_source not set)")
                with torch.no_grad():
                    self.sampler.refresh(self.score_source())
            step()
        return self.sampler.sample(torch.from_numpy(users), n).numpy()


def make_negatives(cfg, dataset: Dataset):
    """The main-loss negative source named by ``cfg.neg_sampler``. ``mixgcf`` draws its
    ``n_negatives`` candidates uniformly (the model mixes them into synthetic negatives)."""
    if cfg.neg_sampler in ("uniform", "mixgcf"):
        return UniformNegatives(dataset.train, dataset.n_users, dataset.n_items, getattr(dataset, "user_map", None))
    from contrastrec.samplers import HardNegativeMiner, PopularityNegativeSampler

    csr = dataset.train_csr()
    support = None  # hard negatives: their easy part is uniform over every item
    if cfg.neg_sampler == "popularity" and cfg.neg_alpha > 0:  # items never trained on have q = 0
        support = np.bincount(dataset.train.items, minlength=dataset.n_items) > 0
    check_negatives_exist(dataset.train, dataset.n_users, dataset.n_items, getattr(dataset, "user_map", None),
                          support, cfg.neg_sampler)
    if cfg.neg_sampler == "popularity":
        return SamplerNegatives(PopularityNegativeSampler(csr, alpha=cfg.neg_alpha, seed=stream_seed(cfg.seed, "negatives.sampler")))
    band = max(1, min(cfg.neg_hard_band, dataset.n_items - cfg.neg_hard_skip_top))
    return SamplerNegatives(HardNegativeMiner(csr, skip_top=cfg.neg_hard_skip_top, band=band,
                                              hard_ratio=cfg.neg_hard_ratio,
                                              refresh_every=cfg.neg_hard_refresh_every,
                                              seed=stream_seed(cfg.seed, "negatives.sampler")))


class PairwiseBatches:
    """(user, positive, negatives) batches over all training interactions, shuffled per epoch."""

    def __init__(self, dataset: Dataset, batch_size: int, n_negatives: int, seed: int, negatives=None,
                 resident: bool | None = None):
        self.users = dataset.train.users
        self.items = dataset.train.items
        self.batch_size, self.n_negatives, self.seed = batch_size, n_negatives, seed
        self.negatives = negatives or UniformNegatives(dataset.train, dataset.n_users, dataset.n_items,
                                                       getattr(dataset, "user_map", None))
        self.resident = resident  # None: on the device when it is not the CPU
        log_q = getattr(self.negatives, "log_q", None)
        self._dev = _Resident(users=self.users, items=self.items, log_q=log_q)

    def __len__(self) -> int:
        return (len(self.users) + self.batch_size - 1) // self.batch_size

    def epoch(self, epoch: int, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
        rng = numpy_stream(self.seed, "batches", epoch)
        perm = rng.permutation(len(self.users))
        per_batch = isinstance(self.negatives, SamplerNegatives)  # model-dependent: draw per step
        neg = None if per_batch else self.negatives.sample(self.users[perm], self.n_negatives, rng)
        log_q = getattr(self.negatives, "log_q", None)
        if self.resident or (self.resident is None and device.type != "cpu"):
            yield from self._resident_epoch(perm, neg, rng, device)
            return
        for s in range(0, len(perm), self.batch_size):
            idx = perm[s : s + self.batch_size]
            nb = self.negatives.sample(self.users[idx], self.n_negatives, rng) if per_batch else neg[s : s + self.batch_size]
            batch = {
                "users": torch.from_numpy(self.users[idx]).to(device),
                "pos": torch.from_numpy(self.items[idx]).to(device),
                "neg": torch.from_numpy(nb).to(device),
            }
            if log_q is not None:
                batch["log_q_pos"] = log_q[batch["pos"].cpu()].to(device)
                batch["log_q_neg"] = log_q[batch["neg"].cpu()].to(device)
            yield batch

    def _resident_epoch(self, perm, neg, rng, device):
        """:meth:`epoch` with the data on ``device``: one transfer of the order (and negatives)."""
        data = self._dev.get(device)
        perm_d = to_device(perm, device)
        neg_d = None if neg is None else to_device(neg, device)
        for s in range(0, len(perm), self.batch_size):
            idx = perm_d[s : s + self.batch_size]
            if neg_d is None:  # model-dependent negatives: drawn now, on the host
                nb = to_device(self.negatives.sample(self.users[perm[s : s + self.batch_size]], self.n_negatives, rng),
                               device)
            else:
                nb = neg_d[s : s + self.batch_size]
            batch = {"users": data["users"][idx], "pos": data["items"][idx], "neg": nb}
            if "log_q" in data:
                batch["log_q_pos"] = data["log_q"][batch["pos"]]
                batch["log_q_neg"] = data["log_q"][nb]
            yield batch


def length_bucketed_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                          bucket_batches: int = 50) -> np.ndarray:
    """A random order in which each batch holds sequences of similar length.

    Shuffle, cut into chunks of ``bucket_batches`` batches, sort each chunk by length, cut into
    batches and shuffle the batches. Batches stay random samples of users; padding shrinks.
    """
    perm = rng.permutation(len(lengths))
    chunk = batch_size * bucket_batches
    batches = []
    for s in range(0, len(perm), chunk):
        c = perm[s : s + chunk]
        c = c[np.argsort(lengths[c], kind="stable")]
        batches += [c[i : i + batch_size] for i in range(0, len(c), batch_size)]
    order = rng.permutation(len(batches))
    return np.concatenate([batches[i] for i in order]) if batches else perm


class SequenceBatches:
    """One training sequence per user: inputs ``items[:-1]``, next-item targets ``items[1:]``
    (of the training part), left-padded/truncated to ``max_len``. With ``prefixes=True`` (config
    ``train_prefixes``), one example per prefix instead (:func:`~contrastrec.data.sequences.prefix_tokens`):
    the items before an interaction as input and that item as the one target, at the last position
    (``max_prefixes`` > 0: each user's most recent ones only).

    A batch: ``users [B]``, ``seq [B, W]``, ``pos [B, W]`` (next-item tokens, 0 = none), ``target [B]``
    (the last position's), ``example [B]`` (each row's index among this object's examples: the
    user's sequence, or with prefixes the row of ``prefix_tokens``), ``neg [B, W]`` when asked for.

    With ``bucket=True`` batches group sequences of similar length and are trimmed to their
    longest sequence (same result per sequence, far less padding computed)."""

    def __init__(self, dataset: Dataset, batch_size: int, max_len: int, seed: int, with_negatives: bool,
                 bucket: bool = True, negatives=None, resident: bool | None = None,
                 prefixes: bool = False, max_prefixes: int = 0):
        if prefixes:
            self.users, self.seq, target = prefix_tokens(dataset.train, dataset.n_users, max_len, max_prefixes)
            self.pos = np.zeros_like(self.seq)
            self.pos[:, -1] = target
        else:
            full = padded_tokens(dataset.train, dataset.n_users, max_len + 1)
            seq, pos = full[:, :-1].copy(), full[:, 1:].copy()
            pos[seq == 0] = 0
            keep = (pos > 0).any(1)
            self.users = np.nonzero(keep)[0].astype(np.int64)
            self.seq, self.pos = seq[keep], pos[keep]
        self.batch_size, self.seed, self.max_len = batch_size, seed, max_len
        self.with_negatives = with_negatives
        self.bucket = bucket
        self.lengths = (self.seq > 0).sum(1)
        if with_negatives:
            self.negatives = negatives or UniformNegatives(dataset.train, dataset.n_users, dataset.n_items,
                                                           getattr(dataset, "user_map", None))
        else:
            self.negatives = None
        self.resident = resident  # None: on the device when it is not the CPU
        self._dev = _Resident(users=self.users, seq=self.seq, pos=self.pos)

    def __len__(self) -> int:
        return (len(self.users) + self.batch_size - 1) // self.batch_size

    def epoch(self, epoch: int, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
        rng = numpy_stream(self.seed, "batches", epoch)
        if self.bucket:
            perm = length_bucketed_order(self.lengths, self.batch_size, rng)
        else:
            perm = rng.permutation(len(self.users))
        resident = self.resident or (self.resident is None and device.type != "cpu")
        if resident:
            data, perm_d = self._dev.get(device), to_device(perm, device)
        for s in range(0, len(perm), self.batch_size):
            idx = perm[s : s + self.batch_size]
            width = max(int(self.lengths[idx].max()), 1)
            if resident:
                idx_d = perm_d[s : s + self.batch_size]
                pos_d = data["pos"][idx_d, -width:]
                batch = {"users": data["users"][idx_d], "seq": data["seq"][idx_d, -width:], "pos": pos_d,
                         "target": pos_d[:, -1].clone(), "example": idx_d}
                if self.negatives is not None:
                    neg = self.negatives.sample(self.users[idx], width, rng) + 1
                    batch["neg"] = to_device(np.where(self.pos[idx, -width:] > 0, neg, 0), device)
                yield batch
                continue
            seq, pos = self.seq[idx, -width:], self.pos[idx, -width:]
            batch = {
                "users": torch.from_numpy(self.users[idx]).to(device),
                "seq": torch.from_numpy(seq).to(device),
                "pos": torch.from_numpy(pos).to(device),
                "target": torch.from_numpy(pos[:, -1].copy()).to(device),
                "example": torch.from_numpy(idx).to(device),
            }
            if self.negatives is not None:
                neg = self.negatives.sample(self.users[idx], width, rng) + 1
                batch["neg"] = torch.from_numpy(np.where(pos > 0, neg, 0)).to(device)
            yield batch
