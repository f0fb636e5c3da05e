"""Issue 13 defect 1: ``schema: integrated`` keeps the method's views (docs/compose.md):
graph models L = 1/2 [l(U'[u], I''[i]) + l(U''[u], I'[i])], sequential models
L = 1/V sum_v l(f(s^(v)), e_t); without augmentation it is l(user, item). Before the fix the
augmented views were dropped (SGL logged only rec and reg)."""
import pytest
import torch

from tests.conftest import one_batch


def _setup(name, **over):
    return one_batch(name, schema="integrated", **over)


def _graph_reference(model, batch, views):
    users, pos = batch["users"], batch["pos"]
    same = pos[None] == pos[:, None]
    (u1, i1), (u2, i2) = views
    return 0.5 * (model.ssl(u1[users], i2[pos], positive_mask=same) + model.ssl(u2[users], i1[pos], positive_mask=same))


def test_sgl_integrated_contrasts_an_interaction_across_its_two_dropped_graphs():
    model, batch = _setup("sgl")
    assert model.views, "SGL draws its two dropped graphs under schema=integrated"
    got = model.loss_terms(batch)["rec"]
    views = (model.encoder(adj=model.views[0]), model.encoder(adj=model.views[1]))
    assert torch.allclose(got, _graph_reference(model, batch, views), atol=1e-6)
    clean = model.embeddings()  # the old integrated loss: no view at all
    assert not torch.allclose(got, model.ssl(clean[0][batch["users"]], clean[1][batch["pos"]],
                                             positive_mask=batch["pos"][None] == batch["pos"][:, None]))


@pytest.mark.parametrize("name", ["simgcl", "xsimgcl"])
def test_noise_models_integrated_use_their_views(name):
    model, batch = _setup(name)
    torch.manual_seed(5)
    got = model.loss_terms(batch)["rec"]
    torch.manual_seed(5)
    want = _graph_reference(model, batch, model.integrated_views())
    assert torch.allclose(got, want, atol=1e-6)
    torch.manual_seed(6)
    assert not torch.allclose(got, model.loss_terms(batch)["rec"])  # the views are random draws


def test_without_augmentation_integrated_is_the_user_item_contrast():
    model, batch = _setup("lightgcn")
    u, i = model.embeddings()
    same = batch["pos"][None] == batch["pos"][:, None]
    want = model.ssl(u[batch["users"]], i[batch["pos"]], positive_mask=same, pool=i, anchor_ids=batch["pos"])
    assert torch.allclose(model.loss_terms(batch)["rec"], want)


def test_cl4srec_integrated_scores_each_augmented_view_against_the_next_item():
    model, batch = _setup("cl4srec", dropout=0.0, attn_dropout=0.0)
    got = model.loss_terms(batch)["rec"]
    model.on_epoch_start(0)  # the same augmentation draws again
    v1, v2 = model.views(batch["seq"])
    t = batch["target"]
    same = t[None] == t[:, None]
    items = model.encoder.item_emb(t)
    want = 0.5 * sum(model.ssl(model.encode_last(v), items, positive_mask=same) for v in (v1, v2))
    assert torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(got, model.ssl(model.encode_last(batch["seq"]), items, positive_mask=same))
