"""Data parallelism on ``torch.distributed`` (launched by ``torchrun``; no process pool of our own).

``torchrun --nproc-per-node N -m contrastrec train ...`` (or ``contrastrec train --nproc N``)
starts N processes that each hold the whole model, the whole data set and, for graph models, the
whole adjacency (replicated). Per step:

* every rank draws the same *global* batch (the batch generator is seeded by ``(seed, epoch)``)
  and keeps its own contiguous shard (:func:`shard_batch`): ``batch_size`` is the global batch;
* each rank computes its shard's loss terms and gradients; the gradients of every parameter (the
  embedding tables included) are all-reduced and averaged (:meth:`Dist.average_gradients`, one
  flat buffer per step), so every rank applies the same Adam step and the replicas stay equal;
  under ``optimizer=lazy_adam`` a sparse table's touched rows are all-gathered instead;
* evaluation users are sharded across ranks and the per-user metric sums reduced;
* only rank 0 writes the run directory (checkpoints, logs, results); stop decisions (early stopping,
  the time budget) are taken from reduced values, so all ranks stop together; resume reads
  ``last.pt`` on every rank.

Backends: ``gloo`` on CPU, ``nccl`` on CUDA (each rank uses ``cuda:LOCAL_RANK``).
Means over a shard's items (a sequential model's positions, masked positions, SSL anchors) are made
global by :func:`shard_mean`: each rank's term is its sum over its items divided by the global count
(all-reduced), times the world size, so the averaged gradients (and the logged mean over the ranks)
are those of the mean over all items of the global batch, whatever the shards' sizes. A term not
passed through it (graph models' per-row means) is a per-shard mean, equal to the global one when the
shards have equal sizes. What still differs from one process with the same global batch: in-batch
contrastive negatives are those of the rank's shard (B/N rows, not B), and so are per-shard random
draws (sequence augmentations, BERT4Rec's masks); float sums are reduced in another order. See
docs/scale.md.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, params: list[torch.nn.Parameter], sparse: set[int] = frozenset()) -> None:
        """All-reduce (mean) the gradients of ``params`` through one flat buffer; a parameter
        without a gradient on this rank contributes zeros. Parameters whose ``id`` is in ``sparse``
        (``optimizer=lazy_adam``'s tables, row-sparse gradients) are gathered instead: every rank's
        touched rows and their values (:meth:`average_sparse`)."""
        if not self.enabled or not params:
            return
        for p in params:
            if id(p) in sparse:
                p.grad = self.average_sparse(p)
        params = [p for p in params if id(p) not in sparse]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world
        off = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[off : off + n].view_as(p)  # views of the one reduced buffer, no copy
            off += n

    def average_sparse(self, p: torch.nn.Parameter) -> torch.Tensor:
        """The mean over the ranks of ``p``'s row-sparse gradient, as a coalesced sparse tensor: each
        rank's (row, value) pairs are all-gathered (padded to the longest) and summed; the traffic is
        the touched rows, not the table. Every rank builds the same tensor in the same order."""
        g = p.grad
        if g is None:
            g = torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long, device=p.device),
                                        torch.zeros(0, *p.shape[1:], dtype=p.dtype, device=p.device), p.shape)
        g = g.coalesce()
        rows, vals = g.indices()[0], g.values()
        dev = self.device()
        count = torch.tensor([rows.numel()], device=dev)
        counts = [torch.zeros_like(count) for _ in range(self.world)]
        dist.all_gather(counts, count)
        counts = [int(c) for c in counts]
        m = max(counts)
        pad_r = torch.zeros(m, dtype=torch.long, device=dev)
        pad_v = torch.zeros(m, *vals.shape[1:], dtype=vals.dtype, device=dev)
        pad_r[: rows.numel()], pad_v[: rows.numel()] = rows.to(dev), vals.to(dev)
        all_r = [torch.empty_like(pad_r) for _ in range(self.world)]
        all_v = [torch.empty_like(pad_v) for _ in range(self.world)]
        dist.all_gather(all_r, pad_r)
        dist.all_gather(all_v, pad_v)
        rows = torch.cat([r[:c] for r, c in zip(all_r, counts)]).to(p.device)
        vals = torch.cat([v[:c] for v, c in zip(all_v, counts)]).to(p.device) / self.world
        return torch.sparse_coo_tensor(rows.unsqueeze(0), vals, p.shape).coalesce()

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """The sum of ``x`` over the ranks (``x`` itself in one process)."""
        if self.enabled:
            x = x.clone()
            dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    def shard_mean(self, loss: torch.Tensor, count: torch.Tensor | int) -> torch.Tensor:
        """``loss``, this shard's mean over its ``count`` items, as this rank's share of the mean over
        every rank's items: ``loss * count * world / sum_r count_r`` (a rank without items gives 0), so
        that :meth:`average_gradients` (sum / world) yields the gradient of the global mean. One
        process: ``loss`` itself, untouched (bit for bit)."""
        if not self.enabled:
            return loss
        c = torch.as_tensor(count, device=self.device()).to(torch.float64).reshape(())
        w = c * self.world / self.sum(c).clamp_min(1.0)
        w = w.to(loss.device, loss.dtype)
        return torch.where(c.to(loss.device) > 0, loss * w, torch.zeros_like(loss))

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is True on any rank (so that all ranks take the same decision)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def device(self) -> torch.device:
        if self.enabled and dist.get_backend() == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


_CURRENT = Dist()


def current() -> Dist:
    """The process's data-parallel context (one process: rank 0 of 1)."""
    return _CURRENT


def shard_mean(loss: torch.Tensor, count: torch.Tensor | int) -> torch.Tensor:
    """:meth:`Dist.shard_mean` in the process's context: every loss that is a mean over a shard's
    items (positions, anchors) goes through it, so that data parallelism computes the global mean."""
    return _CURRENT.shard_mean(loss, count)


def init_from_env(device: str = "cpu") -> Dist:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); without it, one process."""
    global _CURRENT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _CURRENT = Dist()
        return _CURRENT
    if not dist.is_initialized():
        cuda = device != "cpu" and torch.cuda.is_available()
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    _CURRENT = Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    return _CURRENT


def shutdown() -> None:
    global _CURRENT
    if dist.is_initialized():
        dist.destroy_process_group()
    _CURRENT = Dist()


def shard_batch(batch: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s contiguous shard of a global batch: every tensor whose first dimension is the
    batch size is split into ``world`` near-equal parts (``torch.tensor_split``). The shard also
    carries ``"shard": (first row, global batch size)`` (plain ints), so that a model that draws one
    random value per row can draw them for the global batch and keep its own rows: the draws of a
    data-parallel run are then those of a one-process run (MixGCF's α)."""
    if world <= 1:
        return batch
    b = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() > 0)
    out = {k: (torch.tensor_split(v, world)[rank] if isinstance(v, torch.Tensor) and v.dim() > 0
               and v.shape[0] == b else v) for k, v in batch.items()}
    out["shard"] = (rank * (b // world) + min(rank, b % world), b)  # tensor_split: the first b % world get one more
    return out
