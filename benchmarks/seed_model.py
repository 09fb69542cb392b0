"""The seed article's COLA model, written afresh from its description, for speed comparison only.

Encoder: a 3x3 ``Conv2d`` lifting the 1-channel log-mel to 3 channels, EfficientNet-B0 from the
``efficientnet_pytorch`` package (features only), global average pooling, dropout 0.1. Head: linear
1280 -> 512, LayerNorm, tanh, bilinear similarity, softmax cross-entropy. Anchors and positives go
through the encoder in two separate passes, in the default (channels-first) layout and float32.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from efficientnet_pytorch import EfficientNet
from torch import nn


class SeedEncoder(nn.Module):
    def __init__(self, drop: float = 0.1) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 3, kernel_size=3, padding=1)
        self.net = EfficientNet.from_name("efficientnet-b0", include_top=False)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.extract_features(self.stem(x))
        return self.drop(F.adaptive_avg_pool2d(features, 1).flatten(1))


class SeedCola(nn.Module):
    def __init__(self, dim: int = 512) -> None:
        super().__init__()
        self.encoder = SeedEncoder()
        self.projection = nn.Linear(1280, dim)
        self.norm = nn.LayerNorm(dim)
        self.similarity = nn.Linear(dim, dim, bias=False)

    def forward(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        a = torch.tanh(self.norm(self.projection(self.encoder(anchors))))
        p = torch.tanh(self.norm(self.projection(self.encoder(positives))))
        logits = self.similarity(a) @ p.t()
        return F.cross_entropy(logits, torch.arange(a.shape[0]))


def benchmark_seed_step(batch: int, frames: int = 96, mels: int = 64, steps: int = 3, warmup: int = 1) -> float:
    """Training-step pairs per second of the seed model on log-mel-sized noise (Adam, lr 1e-4)."""
    torch.manual_seed(0)
    model = SeedCola().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    anchors, positives = torch.randn(batch, 1, frames, mels), torch.randn(batch, 1, frames, mels)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = model(anchors, positives)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return batch * steps / sum(times)
