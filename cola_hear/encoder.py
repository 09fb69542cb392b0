"""The audio encoder: EfficientNet over one log-mel window, pooled to one vector."""

from __future__ import annotations

import timm
import torch
from torch import nn

from cola_hear.config import EncoderConfig


class AudioEncoder(nn.Module):
    """EfficientNet (timm) on ``(batch, frames, n_mels)`` log-mel windows.

    Returns ``(batch, embedding_size)``: the last feature map, globally pooled over
    time and frequency (max pooling in the official COLA recipe).
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or EncoderConfig()
        c = self.config
        in_chans = 1
        if c.stem == "conv3x3":
            # The seed article: a 3x3 conv lifts the 1-channel log-mel to 3 channels.
            self.stem: nn.Module = nn.Conv2d(1, 3, kernel_size=3, padding=1)
            in_chans = 3
        else:
            self.stem = nn.Identity()
        self.backbone = timm.create_model(
            c.name, pretrained=False, in_chans=in_chans, num_classes=0, global_pool=""
        )
        self.pool = nn.AdaptiveMaxPool2d(1) if c.pooling == "max" else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(c.drop_rate)
        self.embedding_size: int = int(self.backbone.num_features)

    def feature_map(self, windows: torch.Tensor) -> torch.Tensor:
        """Last feature map ``(batch, channels, frames/32, n_mels/32)``."""
        if windows.dim() != 3:
            raise ValueError(f"expected (batch, frames, n_mels) log-mel windows, got shape {tuple(windows.shape)}")
        return self.backbone.forward_features(self.stem(windows.unsqueeze(1)))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.feature_map(windows)).flatten(1))
