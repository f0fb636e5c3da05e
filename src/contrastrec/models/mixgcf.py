"""MixGCF (Huang et al., KDD 2021): LightGCN trained with synthetic hard negatives.

A preset: the LightGCN recommendation branch with ``neg_sampler: mixgcf`` (which any LightGCN graph
model with BPR can use, e.g. SGL; see :meth:`GraphModel.mixgcf_terms` and
:func:`contrastrec.samplers.mixgcf.mix_negatives`). Per (user, positive) pair, ``n_negatives``
uniform candidates are mixed with the positive at every layer (α ~ U[0, 1) per pair and layer),
the candidate scoring highest against the user's layer mean is kept at each layer, and the kept
layers' mean is the negative of BPR (K = 1 negative per pair).

Defaults are the authors' LightGCN runs (huangtinglin/MixGCF README, ``utils/parser.py``): 3 layers,
mean pooling, K = 1, ``n_negs`` 64 (their Yelp2018 run; 32 on Alibaba, 16 on Amazon), lr 1e-3,
batch 2048, L2 1e-4. L2 as in their code: the batch's layer-0 user, positive and synthetic-negative
(mixed layer-0) embeddings. They use no message or edge dropout with LightGCN; neither do we.
"""
from __future__ import annotations

from contrastrec.models.graph_base import GRAPH_DEMO, LAYERS_SPACE, GraphModel


class MixGCF(GraphModel):
    NAME = "mixgcf"
    DESCRIPTION = "MixGCF synthetic hard negatives for LightGCN (Huang et al. KDD 2021)"
    ENCODERS = ("lightgcn",)
    DEFAULTS = {**GraphModel.DEFAULTS, "encoder": "lightgcn", "neg_sampler": "mixgcf", "n_negatives": 64,
                "n_layers": 3, "lr": 1e-3, "batch_size": 2048, "reg_weight": 1e-4}
    SPACE = {**GraphModel.SPACE, **LAYERS_SPACE,
             "n_negatives": {"type": "int", "low": 8, "high": 128, "log": True}}
    DEMO = {**GRAPH_DEMO, "n_negatives": 16, "n_layers": 2}
    ROW_RESTRICTED = True  # used by the neg_sampler=uniform ablation (plain LightGCN) only
    LAYER_AGGREGATE = True  # mean (default) or sum: the combination it scores with and mixes in (the authors' pool)
