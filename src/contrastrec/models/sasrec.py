"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention, next-item loss at every position."""
from __future__ import annotations

from contrastrec.models.seq_base import SequentialModel


class SASRec(SequentialModel):
    DEFAULTS = {**SequentialModel.DEFAULTS, "encoder": "sasrec"}
