"""device=cuda (issue 12): every model trains and scores on a GPU and agrees with the CPU run.
Marked ``gpu`` and skipped without a CUDA device (benchmarks/gpu_check.sh is the timed check)."""
import pytest
import torch

from contrastrec.config import MODELS, build_config
from contrastrec.training.loop import fit

from tests.conftest import make_tiny, small_overrides

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.mark.parametrize("name", [m for m in MODELS if m != "pop"])
def test_every_model_runs_on_cuda_like_on_cpu(tmp_path, name):
    ds = make_tiny()
    if name == "s3rec":
        ds.item_attributes = {i: [1 + i % 5] for i in range(ds.n_items)}
        ds.n_attributes = 5
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
