"""The audio encoder: EfficientNet over one log-mel window, pooled to one vector."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import timm
import torch
import torch.nn.functional as F
from timm.models._efficientnet_blocks import SqueezeExcite
from torch import nn

from cola_hear.config import EncoderConfig


class WindowedSqueezeExcite(nn.Module):
    """timm's ``SqueezeExcite`` whose squeeze can average over a sliding window in time.

    With ``window=None`` it is timm's block: the squeeze averages the whole feature map, so
    every output depends on the entire input. With ``window=k`` the squeeze at each time
    position averages the ``k`` positions around it (frequency still whole), so a pass over
    a long input behaves like passes over separate windows of ``k`` positions. Same
    parameters and state-dict keys as the block it replaces.
    """

    def __init__(self, se: SqueezeExcite) -> None:
        super().__init__()
        self.conv_reduce, self.act1, self.conv_expand, self.gate = se.conv_reduce, se.act1, se.conv_expand, se.gate
        self.window: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.window is None:
            squeezed = x.mean((2, 3), keepdim=True)
        else:
            k = self.window
            squeezed = F.avg_pool1d(x.mean(3), k, stride=1, padding=k // 2, count_include_pad=False)
            squeezed = squeezed[..., : x.shape[2]].unsqueeze(-1)
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(squeezed))))


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
        self.backbone = timm.create_model(c.name, pretrained=False, in_chans=in_chans, num_classes=0, global_pool="")
        self.pool = nn.AdaptiveMaxPool2d(1) if c.pooling == "max" else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(c.drop_rate)
        self.embedding_size: int = int(self.backbone.num_features)
        self._se_strides, self.stage_strides = self._install_windowed_se()

    def _install_windowed_se(self) -> tuple[dict[WindowedSqueezeExcite, int], tuple[int, ...]]:
        """Swap timm's SE blocks for ``WindowedSqueezeExcite``; return each one's time stride and
        the time stride of every stage's output (from one probe pass)."""
        blocks = [(name, m) for name, m in self.backbone.named_modules() if isinstance(m, SqueezeExcite)]
        for name, se in blocks:
            parent_name, _, attr = name.rpartition(".")
            setattr(self.backbone.get_submodule(parent_name), attr, WindowedSqueezeExcite(se))
        sizes: dict[WindowedSqueezeExcite, int] = {}
        hooks = [
            m.register_forward_pre_hook(lambda mod, args: sizes.__setitem__(mod, args[0].shape[2]))
            for m in self.backbone.modules()
            if isinstance(m, WindowedSqueezeExcite)
        ]
        probe = 256
        was_training = self.training
        self.eval()
        with torch.no_grad():
            maps, _ = self.readout_maps(torch.zeros(1, probe, 64), set(range(len(self.backbone.blocks))))
        self.train(was_training)
        for h in hooks:
            h.remove()
        stage_strides = tuple(probe // maps[i].shape[2] for i in sorted(maps))
        return {m: probe // n for m, n in sizes.items()}, stage_strides

    @contextlib.contextmanager
    def local_context(self, frames: int) -> Iterator[None]:
        """Within the block, every SE squeeze averages only ``frames`` input frames around each position."""
        for se, stride in self._se_strides.items():
            se.window = max(1, math.ceil(frames / stride))
        try:
            yield
        finally:
            for se in self._se_strides:
                se.window = None

    stride: int = 32  # time and frequency reduction of the feature map

    def feature_map(self, windows: torch.Tensor) -> torch.Tensor:
        """Last feature map ``(batch, channels, ceil(frames/32), ceil(n_mels/32))``.

        Runs in channels_last layout when the module was converted with
        ``.to(memory_format=torch.channels_last)`` (faster on CPU and GPU).
        """
        return self.readout_maps(windows, set())[1]

    def readout_maps(
        self, windows: torch.Tensor, stages: set[int], final: bool = True
    ) -> tuple[dict[int, torch.Tensor], torch.Tensor | None]:
        """The outputs of the EfficientNet stages in ``stages`` (by index) and, with ``final``, the last
        feature map (``feature_map``); without it the pass stops after the last stage needed."""
        if windows.dim() != 3:
            raise ValueError(f"expected (batch, frames, n_mels) log-mel windows, got shape {tuple(windows.shape)}")
        bb = self.backbone
        unknown = sorted(i for i in stages if not 0 <= i < len(bb.blocks))
        if unknown:
            raise ValueError(f"{self.config.name} has stages 0-{len(bb.blocks) - 1}, not {unknown}")
        x = self.stem(windows.unsqueeze(1))
        if bb.conv_stem.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        x = bb.bn1(bb.conv_stem(x))
        maps = {}
        last = len(bb.blocks) - 1 if final else max(stages, default=-1)
        for i, stage in enumerate(bb.blocks[: last + 1]):
            x = stage(x)
            if i in stages:
                maps[i] = x
        return maps, bb.bn2(bb.conv_head(x)) if final else None

    def pool_columns(self, fmap: torch.Tensor) -> torch.Tensor:
        """Pool a feature map over frequency only: ``(batch, channels, columns)``."""
        return fmap.amax(dim=3) if self.config.pooling == "max" else fmap.mean(dim=3)

    def pool_windows(self, columns: torch.Tensor, size: int) -> torch.Tensor:
        """Pool ``(channels, columns)`` over every run of ``size`` columns: ``(columns-size+1, channels)``."""
        runs = columns.unfold(1, size, 1)  # (channels, n, size)
        pooled = runs.amax(dim=2) if self.config.pooling == "max" else runs.mean(dim=2)
        return pooled.t()

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.feature_map(windows)).flatten(1))
