"""Encoders f_θ: graph encoders return (user_emb, item_emb); sequence encoders map [B, L] -> [B, L, D]."""
from __future__ import annotations

SEQUENCE_ENCODERS = ("sasrec", "gru4rec", "caser")
GRAPH_ENCODERS = ("mf", "lightgcn")


def make_sequence_encoder(name: str, n_items: int, dim: int, max_len: int, n_layers: int, n_heads: int,
                          dropout: float, attn_dropout: float):
    """Build a sequence encoder by name (the only place these names become classes)."""
    if name in ("", "sasrec"):
        from contrastrec.encoders.sasrec import SASRecEncoder

        return SASRecEncoder(n_items, dim, max_len, n_layers, n_heads, dropout, attn_dropout)
    if name == "gru4rec":
        from contrastrec.encoders.gru4rec import GRU4RecEncoder

        return GRU4RecEncoder(n_items, dim, max_len, n_layers=max(1, n_layers // 2 or 1), dropout=dropout)
    if name == "caser":
        from contrastrec.encoders.caser import CaserEncoder

        return CaserEncoder(n_items, dim, max_len, dropout=dropout)
    raise ValueError(f"unknown sequence encoder {name!r}; valid: {', '.join(SEQUENCE_ENCODERS)}")
