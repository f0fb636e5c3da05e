"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention, next-item loss at every position."""
from __future__ import annotations

from contrastrec.models.seq_base import SequentialModel


class SASRec(SequentialModel):
    NAME = "sasrec"
    DESCRIPTION = "SASRec self-attentive sequential recommender (Kang & McAuley ICDM 2018)"
    DEMO = {"epochs": 20, "batch_size": 128, "dropout": 0.2, "attn_dropout": 0.2, "n_layers": 1}
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec"}
