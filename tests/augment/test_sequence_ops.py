"""Config ``aug.ops``: the operators a CL4SRec-family view draws from, by name, so that an operator of
augment/sequence.py is usable by any of these models without code (issue 13)."""
import pytest
import torch

from contrastrec.augment.sequence import Crop, Insert, ItemCorrelation, Mask, make_sequence_ops
from contrastrec.config import AugConfig, ConfigError, build_config
from contrastrec.training.loop import fit

from tests.conftest import make_tiny, one_batch, small_overrides


def test_one_operator_view_equals_that_operator():
    seqs = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 7, 8, 9]])
    aug = AugConfig(mask_ratio=0.5)
    view = make_sequence_ops(["mask"], 11, aug)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    view.sample_choice(3, g2, seqs.device)  # the choice draw comes first
    assert torch.equal(view(seqs, generator=g1), Mask(11, 0.5)(seqs, generator=g2))


def test_correlated_operators_build_the_correlation_only_when_used():
    calls = []
    ds = make_tiny()

    def corr():
        calls.append(1)
        return ItemCorrelation.from_sequences(ds.train, ds.n_items, top_k=3)

    make_sequence_ops(["crop", "reorder"], 41, AugConfig(), corr)
    assert not calls
    view = make_sequence_ops(["crop", "insert"], 41, AugConfig(), corr)
    assert calls == [1] and isinstance(view.transforms[0], Crop) and isinstance(view.transforms[1], Insert)
    with pytest.raises(ValueError):
        make_sequence_ops(["crop", "nope"], 41, AugConfig())


@pytest.mark.parametrize("name", ["cl4srec", "iclrec", "coserec"])
def test_aug_ops_from_config(tmp_path, name):
    model, batch = one_batch(name, **{"aug.ops": ["crop", "insert"]})
    assert "ssl" in "".join(model.loss_terms(batch))
    cfg = build_config("cl4srec", None, small_overrides("cl4srec", epochs=1, ks=[10], metric="ndcg@10",
                                                        **{"aug.ops": ["substitute"]}))
    assert 0 <= fit(cfg, make_tiny(), tmp_path / "r", progress=False, log=lambda s: None)["test"]["ndcg@10"] <= 1
    with pytest.raises(ConfigError, match="aug.ops"):
        build_config(name, None, {"aug.ops": ["crop", "crop"]})
