"""Issue 12.5, "no per-step host synchronisation": a CPU stand-in for the GPU's synchronisations.
The training loop reads nothing back per step (its reads are per epoch: the same for 3 or 12
steps), and each model's step reads back only at the documented sites (docs/scale.md, "Host reads
in a training step"): a new per-step read fails here until it is justified and listed."""
import pytest
import torch

from contrastrec.config import MODELS, build_config
from contrastrec.training.loop import fit

from tests.conftest import make_tiny, make_tiny_for, one_batch, small_overrides
from tests.training.host_reads import count_host_reads

# model -> the sites that read a tensor back in one training step, and why (all data-dependent shapes
# or host-side draws; on a GPU each is one wait per step)
STEP_READS = {
    "lightgcn": {"graph.py:csr_rows"},  # nnz of the batch rows' slice of the adjacency (row-restricted last layer)
    "xsimgcl": {"graph.py:csr_rows"},
    "sgl": {"graph.py:csr_rows"},
    "simgcl": {"graph.py:csr_rows"},
    "buir": {"graph.py:csr_rows", "models/buir.py:_adj"},  # _adj: the drop rate drawn on the host (a CPU scalar)
    "dccf": {"graph.py:csr_rows", "augment/adaptive_mask.py:__init__", "augment/adaptive_mask.py:row_edges",
             "models/dccf.py:propagate"},  # the batch rows' edge list and the nodes it reads
    "cl4srec": {"models/cl4srec.py:views"},  # augmentations drawn on the host (device-independent draws)
    "coserec": {"models/cl4srec.py:views", "data/sequences.py:trim_left_padding"},  # + the batch's longest row
    "iclrec": {"models/cl4srec.py:views", "models/iclrec.py:ssl_terms"},  # + users without an intent
    "duorec": {"models/duorec.py:same_target_rows", "data/sequences.py:trim_left_padding"},  # host group tables
}


@pytest.mark.parametrize("name", [n for n, c in MODELS.items() if c.task != "none" and n != "s3rec"])  # s3rec: below
def test_a_models_step_reads_back_only_at_its_documented_sites(name):
    over = {"ssl.negatives": "uniform", "ssl.n_negatives": 4} if name == "lightgcl" else {}
    model, batch = one_batch(name, epoch=1, **over)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    with count_host_reads() as reads:
        loss = sum(model.loss_terms(batch).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.after_step()
    assert set(reads) == STEP_READS.get(name, set())


def test_s3rec_step_reads_back_only_in_its_segment_loss():
    from contrastrec.training.loop import build_model, make_batches

    ds = make_tiny_for("s3rec")
    cfg = build_config("s3rec", None, small_overrides("s3rec", schema="pretrain_finetune", pretrain_epochs=1))
    torch.manual_seed(0)
    model = build_model(cfg, ds)
    model.train()
    for phase in ("pretrain", "finetune"):
        model.set_phase(phase)
        model.on_epoch_start(0)
        batch = next(iter(make_batches(model, cfg, ds).epoch(0, torch.device("cpu"))))
        with count_host_reads() as reads:
            sum(model.loss_terms(batch).values()).backward()
        # pretrain: segment_loss skips a batch without a sequence of two items; fine-tuning reads nothing
        assert set(reads) == ({"models/s3rec.py:segment_loss"} if phase == "pretrain" else set()), phase


def _loop_reads(tmp_path, batch_size):
    cfg = build_config("lightgcn", None, small_overrides("lightgcn", epochs=2, batch_size=batch_size, ks=[10],
                                                          metric="ndcg@10"))
    with count_host_reads() as reads:
        fit(cfg, make_tiny(), tmp_path / str(batch_size), progress=False, log=lambda s: None)
    # the epoch's own reads: train_epoch (loss means) and the divergence guard; not the evaluation or checkpoints
    return {k: v for k, v in reads.items() if k in ("training/loop.py:train_epoch", "training/loop.py:_check")
            or k.startswith("training/batches.py")}


def test_the_loop_reads_back_per_epoch_not_per_step(tmp_path):
    # 3 vs 23 steps per epoch, both under the divergence guard's interval (it reads the loss every 50 steps)
    few, many = _loop_reads(tmp_path, 128), _loop_reads(tmp_path, 16)
    assert few == many and set(few) == {"training/loop.py:train_epoch", "training/loop.py:_check"}
