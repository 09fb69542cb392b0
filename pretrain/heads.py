"""Pretraining-only modules: projection head and the similarity functions.

The HEAR module never uses them (the downstream feature is the encoder output);
they live here so the model code exists in one place and ``pretrain`` imports it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """Linear ``in_dim -> out_dim``, then (``squash``) LayerNorm and tanh.

    The official COLA code squashes before the bilinear similarity only; the cosine
    similarity gets the plain linear projection.
    """

    def __init__(self, in_dim: int = 1280, out_dim: int = 512, squash: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim) if squash else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        return x if self.norm is None else torch.tanh(self.norm(x))


class BilinearSimilarity(nn.Module):
    """``s(a, p) = a W p^T`` over every anchor/positive pair of a batch."""

    def __init__(self, dim: int = 512) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim, dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        return anchors @ self.weight @ positives.t()


class CosineSimilarity(nn.Module):
    """Cosine similarity divided by a temperature (the COLA ablation)."""

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        return F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).t() / self.temperature
