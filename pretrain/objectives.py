"""Contrastive objectives on encoder embeddings of anchors and positives.

Each objective maps ``(anchors, positives)``, two ``(B, D)`` embedding batches whose
row ``i`` is a pair, to ``(loss, accuracy)``: accuracy is the fraction of anchors whose
most similar positive in the batch is their own (chance: 1/B). The heads (projection,
bilinear matrix) are pretraining-only; export drops them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cola_pretrain.config import ObjectiveConfig
from cola_pretrain.heads import BilinearSimilarity, CosineSimilarity, ProjectionHead


class SoftmaxContrastive(nn.Module):
    """COLA: softmax cross-entropy over the B x B similarity matrix, labels ``arange(B)`` (paper eq. 2)."""

    def __init__(self, head: nn.Module, similarity: nn.Module) -> None:
        super().__init__()
        self.head = head
        self.similarity = similarity

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, offset: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``offset``: the row of ``positives`` that pairs with the first anchor (positives gathered from
        several processes hold more rows than the anchors)."""
        with torch.autocast(device_type=anchors.device.type, enabled=False):
            logits = self.similarity(self.head(anchors.float()), self.head(positives.float()))
        labels = torch.arange(logits.shape[0], device=logits.device) + offset
        return F.cross_entropy(logits, labels), _accuracy(logits, offset)


class TripletObjective(nn.Module):
    """The triplet-loss baseline: ``max(0, d(a, p) - d(a, n) + margin)`` with cosine distance.

    The negative of anchor ``i`` is another pair's positive: the hardest (most similar)
    one, or one drawn at random.
    """

    def __init__(self, head: nn.Module, margin: float = 0.5, negative: str = "hardest") -> None:
        super().__init__()
        if negative not in ("hardest", "random"):
            raise ValueError(f"negative must be 'hardest' or 'random', got {negative!r}")
        self.head = head
        self.margin = margin
        self.negative = negative

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, offset: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``offset`` as for ``SoftmaxContrastive``."""
        with torch.autocast(device_type=anchors.device.type, enabled=False):
            a = F.normalize(self.head(anchors.float()), dim=-1)
            p = F.normalize(self.head(positives.float()), dim=-1)
            similarity = a @ p.t()  # (B, N): N = B, or all processes' positives
        b, n = similarity.shape
        if n < 2:
            raise ValueError("the triplet loss needs a batch of at least 2 pairs")
        rows = torch.arange(b, device=similarity.device)
        own = rows + offset
        if self.negative == "hardest":
            mask = torch.zeros_like(similarity, dtype=torch.bool)
            mask[rows, own] = True
            negative = similarity.masked_fill(mask, float("-inf")).amax(dim=1)
        else:
            negative = similarity[rows, (own + torch.randint(1, n, (b,), device=rows.device)) % n]
        positive = similarity[rows, own]
        loss = F.relu((1 - positive) - (1 - negative) + self.margin).mean()
        return loss, _accuracy(similarity, offset)


def build_objective(config: ObjectiveConfig, embedding_size: int) -> nn.Module:
    """The objective named by ``config.name`` with freshly initialised heads.

    ``config.head``: "official" squashes the projection (LayerNorm + tanh) for the bilinear
    similarity only, as the official COLA code does; "squash" does it for every objective.
    """
    squash = config.head == "squash" or config.name == "bilinear"
    head = ProjectionHead(embedding_size, config.projection_dim, squash=squash)
    if config.name == "bilinear":
        return SoftmaxContrastive(head, BilinearSimilarity(config.projection_dim))
    if config.name == "cosine":
        return SoftmaxContrastive(head, CosineSimilarity(config.temperature))
    if config.name == "triplet":
        return TripletObjective(head, config.margin, config.negative)
    raise ValueError(f"unknown objective {config.name!r}")


def _accuracy(similarity: torch.Tensor, offset: int = 0) -> torch.Tensor:
    labels = torch.arange(similarity.shape[0], device=similarity.device) + offset
    return (similarity.detach().argmax(dim=1) == labels).float().mean()
