"""device=cuda (issue 12): every model trains and scores on a GPU and agrees with the CPU run.
Marked ``gpu`` and skipped without a CUDA device (benchmarks/gpu_check.sh is the timed check)."""
import pytest
import torch

from contrastrec.config import MODELS, build_config
from contrastrec.training.loop import fit

from tests.conftest import make_tiny, make_tiny_for, small_overrides

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.mark.parametrize("name", [m for m in MODELS if m != "pop"])
def test_every_model_runs_on_cuda_like_on_cpu(tmp_path, name):
    ds = make_tiny_for(name)
    over = small_overrides(name, epochs=2, ks=[10], metric="ndcg@10")
    if name == "s3rec":
        over.update({"schema": "pretrain_finetune", "pretrain_epochs": 1})
    res = {dev: fit(build_config(name, None, {**over, "device": dev}), ds, tmp_path / dev, progress=False,
                    log=lambda s: None) for dev in ("cpu", "cuda")}
    assert res["cuda"]["device"].startswith("cuda")
    assert abs(res["cuda"]["valid"]["ndcg@10"] - res["cpu"]["valid"]["ndcg@10"]) < 0.05


def test_bf16_autocast_trains(tmp_path):
    ds = make_tiny()
    cfg = build_config("sasrec", None, small_overrides("sasrec", epochs=2, ks=[10], metric="ndcg@10", device="cuda",
                                                         amp=True))
    res = fit(cfg, ds, tmp_path / "amp", progress=False, log=lambda s: None)
    assert 0 <= res["test"]["ndcg@10"] <= 1


def test_device_resident_batches_equal_the_cpu_batches():
    """On CUDA the batches are built on the device (data sent once, one pinned transfer per epoch):
    the same values as the CPU path."""
    from contrastrec.training.batches import PairwiseBatches, SequenceBatches

    ds, cuda, cpu = make_tiny(), torch.device("cuda"), torch.device("cpu")
    for make in (lambda: PairwiseBatches(ds, 32, 3, seed=1), lambda: SequenceBatches(ds, 16, 5, seed=0, with_negatives=True)):
        a, b = list(make().epoch(2, cpu)), list(make().epoch(2, cuda))
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            assert all(y[k].device.type == "cuda" and torch.equal(x[k], y[k].cpu()) for k in x)


def test_pool_logsumexp_on_cuda_equals_cpu():
    """The blocked whole-table InfoNCE denominator (its CUDA branch: no host read, grad multiplied
    in) against the CPU result, values and gradients, also under bf16 autocast (computed in float32)."""
    from contrastrec.losses.pool_lse import pool_logsumexp

    g = torch.Generator().manual_seed(0)
    q, pool = torch.randn(37, 8, generator=g), torch.randn(101, 8, generator=g)
    own, pos, w = torch.randint(0, 101, (37,), generator=g), torch.randn(37, generator=g), torch.randn(37, generator=g)
    out = {}
    for dev in ("cpu", "cuda"):
        leaves = [t.to(dev).requires_grad_() for t in (q, pool, pos)]
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            val = pool_logsumexp(leaves[0], leaves[1], own.to(dev), leaves[2], block_elements=500)
        assert val.dtype == torch.float32
        grads = torch.autograd.grad((val * w.to(dev)).sum(), leaves)
        out[dev] = [val.detach().cpu()] + [x.cpu() for x in grads]
    for a, b in zip(out["cpu"], out["cuda"]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["mf", "sasrec"])
def test_lazy_adam_on_cuda_like_on_cpu(tmp_path, name):
    """optimizer=lazy_adam: sparse gradients and SparseAdam on the device, close to the CPU run."""
    ds = make_tiny(sequential=name != "mf")
    over = small_overrides(name, epochs=2, ks=[10], metric="ndcg@10", optimizer="lazy_adam", loss="sampled_softmax",
                           n_negatives=5)
    res = {dev: fit(build_config(name, None, {**over, "device": dev}), ds, tmp_path / dev, progress=False,
                    log=lambda s: None) for dev in ("cpu", "cuda")}
    assert res["cuda"]["device"].startswith("cuda")
    assert abs(res["cuda"]["valid"]["ndcg@10"] - res["cpu"]["valid"]["ndcg@10"]) < 0.05
