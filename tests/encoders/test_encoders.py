"""Sequence encoders: output shapes, and invariance to extra left padding (batches are trimmed to
their longest sequence for speed, so a sequence's representation must not depend on it)."""
import pytest
import torch

from contrastrec.encoders import make_sequence_encoder
from contrastrec.data.sequences import trim_left_padding


def _seqs():
    g = torch.Generator().manual_seed(0)
    s = torch.randint(1, 30, (6, 12), generator=g)
    lengths = torch.tensor([1, 3, 5, 7, 2, 4])
    pad = torch.arange(12).unsqueeze(0) < (12 - lengths).unsqueeze(1)
    return s.masked_fill(pad, 0)


@pytest.mark.parametrize("name", ["sasrec", "gru4rec", "caser"])
def test_left_padding_invariance(name):
    torch.manual_seed(0)
    enc = make_sequence_encoder(name, 30, 16, 12, 2, 2, 0.1, 0.1).eval()
    s = _seqs()
    full = enc(s)[:, -1]
    trimmed = enc(trim_left_padding(s))[:, -1]
    assert torch.allclose(full, trimmed, atol=1e-5)
    # each sequence alone gives the same representation as in the batch
    for i in range(s.shape[0]):
        alone = enc(trim_left_padding(s[i : i + 1]))[:, -1]
        assert torch.allclose(alone, full[i : i + 1], atol=1e-5)


@pytest.mark.parametrize("name", ["sasrec", "gru4rec", "caser"])
def test_shapes_and_errors(name):
    enc = make_sequence_encoder(name, 30, 16, 12, 1, 2, 0.0, 0.0)
    out = enc(_seqs())
    assert out.shape[0] == 6 and out.shape[2] == 16
    assert enc.item_weights().shape == (30, 16)
    with pytest.raises(ValueError):
        make_sequence_encoder("transformerxl", 30, 16, 12, 1, 2, 0.0, 0.0)


def test_sasrec_is_causal():
    torch.manual_seed(0)
    enc = make_sequence_encoder("sasrec", 30, 16, 12, 2, 2, 0.0, 0.0).eval()
    s = _seqs()
    a = enc(s)
    s2 = s.clone()
    s2[:, -1] = (s2[:, -1] % 29) + 1  # change only the last item
    b = enc(s2)
    real = s[:, :-1] > 0
    assert torch.allclose(a[:, :-1][real], b[:, :-1][real], atol=1e-5)  # earlier outputs unchanged
