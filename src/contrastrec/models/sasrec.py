"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention, next-item loss at every position."""
from __future__ import annotations

from contrastrec.models.seq_base import SEQ_DEMO, SequentialModel


class SASRec(SequentialModel):
    NAME = "sasrec"
    DESCRIPTION = "SASRec self-attentive sequential recommender (Kang & McAuley ICDM 2018)"
    DEMO = SEQ_DEMO
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec"}
