"""Embedding-table encoder (matrix factorization): users and items map to free vectors."""
from __future__ import annotations

import torch
from torch import nn


class MFEncoder(nn.Module):
    """``forward() -> (user_emb [n_users, D], item_emb [n_items, D])``; ``lookup_rows(rows [R]) ->
    [R, D]`` looks up sorted node ids (items offset by ``n_users``) in the two tables."""

    def __init__(self, n_users: int, n_items: int, dim: int, init_std: float = 0.1):
        super().__init__()
        if n_users <= 0 or n_items <= 0 or dim <= 0:
            raise ValueError("n_users, n_items and dim must be positive")
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user_emb.weight, std=init_std)
        nn.init.normal_(self.item_emb.weight, std=init_std)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def layer0(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight, self.item_emb.weight

    def lookup_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows ``rows`` (sorted node ids: users first, items offset by ``n_users``) of
        ``cat(forward())`` by lookups: with ``sparse`` tables the gradient is row-sparse."""
        nu = self.user_emb.num_embeddings
        k = int(torch.searchsorted(rows, torch.tensor(nu, device=rows.device)))
        return torch.cat([self.user_emb(rows[:k]), self.item_emb(rows[k:] - nu)])
