"""Run by tests/training/test_distributed.py under ``torchrun --nproc-per-node 2`` (not collected by
pytest): every model trains two epochs on tiny data in one gloo process group, and after each
epoch the ranks' model states (every parameter and buffer, bit for bit) are compared.

Usage: ``torchrun --standalone --nproc-per-node 2 tests/training/ddp_every_model.py OUT_DIR [MODEL ...]
[--no-allreduce] [--lazy-adam]``; rank 0 writes ``OUT_DIR/report.json``: ``{model: "ok" | "diverged after epoch
E: keys" | "error: ..."}``. ``--no-allreduce`` skips the gradient all-reduce (the check must then see the replicas
diverge: the test's proof that it can fail). ``--lazy-adam`` trains with ``optimizer=lazy_adam`` and
``loss=sampled_softmax`` (sequential models), and first checks that the gathered mean of row-sparse
gradients (:meth:`Dist.average_sparse`) equals the dense all-reduced mean (report key ``average_sparse``).
"""
from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.conftest

from contrastrec.config import MODELS, build_config  # noqa: E402
from contrastrec.training import loop  # noqa: E402
from tests.conftest import make_tiny_for, small_overrides  # noqa: E402


def _state_vector(model: torch.nn.Module) -> tuple[list[str], torch.Tensor]:
    """Every state entry flattened into one float64 vector (integers and bools converted exactly)."""
    sd = model.state_dict()
    keys = sorted(sd)
    return keys, torch.cat([sd[k].detach().reshape(-1).to(torch.float64).cpu() for k in keys] or [torch.zeros(0)])


def check_average_sparse(rank: int, world: int) -> str:
    """Each rank holds a row-sparse gradient of a [50, 3] table over its own rows (rank 1 none at all,
    duplicates included); the gathered mean must equal the dense all-reduced mean."""
    from contrastrec.training.distributed import current

    g = torch.Generator().manual_seed(rank)
    n = 0 if rank == 1 else 7 + rank
    rows = torch.randint(0, 50, (n,), generator=g)
    p = torch.nn.Parameter(torch.zeros(50, 3))
    p.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), torch.randn(n, 3, generator=g), (50, 3)) if n else None
    dense = p.grad.to_dense() if n else torch.zeros(50, 3)
    dist.all_reduce(dense)
    got = current().average_sparse(p)
    ok = got.is_sparse and torch.allclose(got.to_dense(), dense / world, atol=1e-6)
    return "ok" if ok else f"wrong: max diff {(got.to_dense() - dense / world).abs().max():.3g}"


def main(out: Path, only: list[str], no_allreduce: bool, lazy: bool = False) -> int:
    from contrastrec.training.distributed import init_from_env

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))
    init_from_env("cpu")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    report: dict[str, str] = {}
    if lazy:
        report["average_sparse"] = check_average_sparse(rank, world)
    current = {"name": "", "diverged": ""}
    train_epoch = loop.train_epoch

    def checked_epoch(model, opt, batches, epoch, *args, **kwargs):
        record = train_epoch(model, opt, batches, epoch, *args, **kwargs)
        keys, vec = _state_vector(model)
        gathered = [torch.empty_like(vec) for _ in range(world)]
        dist.all_gather(gathered, vec)
        if not current["diverged"] and any(not torch.equal(g, gathered[0]) for g in gathered):
            sd, off, bad = model.state_dict(), 0, []
            for k in keys:
                n = sd[k].numel()
                if any(not torch.equal(g[off:off + n], gathered[0][off:off + n]) for g in gathered):
                    bad.append(k)
                off += n
            current["diverged"] = f"diverged after epoch {epoch}: {', '.join(bad[:5])}"
        return record

    loop.train_epoch = checked_epoch
    if no_allreduce:
        from contrastrec.training.distributed import Dist

        Dist.average_gradients = lambda self, params, sparse=(): None
    for name, cls in MODELS.items():
        if cls.task == "none" or (only and name not in only):
            continue
        ds = make_tiny_for(name)
        extra = {"optimizer": "lazy_adam", "loss": "sampled_softmax", "n_negatives": 5} if lazy else {}
        over = small_overrides(name, epochs=2, ks=[10], metric="ndcg@10", eval_every=1, **extra)
        if name == "s3rec":
            over["pretrain_epochs"] = 1
        current.update(name=name, diverged="")
        try:
            loop.fit(build_config(name, None, over), ds, out / name, progress=False, log=lambda s: None)
            report[name] = current["diverged"] or "ok"
        except Exception as e:  # noqa: BLE001 - recorded, the test fails on it
            report[name] = f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        dist.barrier()
    if rank == 0:
        (out / "report.json").write_text(json.dumps(report, indent=1))
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(Path(args[0]), [a for a in args[1:] if not a.startswith("--")], "--no-allreduce" in args,
                  "--lazy-adam" in args))
