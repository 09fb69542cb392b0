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


class WindowedSqueezeExcite(SqueezeExcite):
    """timm's EfficientNet ``SqueezeExcite`` whose squeeze can average over a sliding window in time.

    Injected through timm's ``se_layer=`` constructor argument, so parameters and state-dict
    keys are timm's. With ``window=None`` it is timm's block: the squeeze averages the whole
    feature map, so every output depends on the entire input. With ``window=k`` the squeeze at
    each time position averages the ``k`` positions around it (frequency still whole), so a
    pass over a long input behaves like passes over separate windows of ``k`` positions.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.window: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.window is None:
            squeezed = x.mean((2, 3), keepdim=True)
        else:
            k = self.window
            squeezed = F.avg_pool1d(x.mean(3), k, stride=1, padding=k // 2, count_include_pad=False)
            squeezed = squeezed[..., : x.shape[2]].unsqueeze(-1)
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(squeezed))))


# (convolution, BatchNorm that follows it) attribute pairs of timm's EfficientNet-family modules; a BatchNorm
# whose convolution is not listed stays as it is (correct, only not faster).
FOLDABLE = {
    "EfficientNet": (("conv_stem", "bn1"), ("conv_head", "bn2")),
    "MobileNetV3": (("conv_stem", "bn1"),),
    "DepthwiseSeparableConv": (("conv_dw", "bn1"), ("conv_pw", "bn2")),
    "InvertedResidual": (("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
    "EdgeResidual": (("conv_exp", "bn1"), ("conv_pwl", "bn2")),
    "ConvBnAct": (("conv", "bn1"),),
}


class FoldedNorm(nn.Module):
    """What is left of timm's ``BatchNormAct2d`` once its normalisation is folded into the convolution
    before it: the dropout and activation."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.drop = getattr(norm, "drop", nn.Identity())
        self.act = getattr(norm, "act", nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> int:
    """Fold every eval-mode BatchNorm that directly follows a plain convolution (``FOLDABLE``) into that
    convolution's weight and bias, in place; returns how many were folded. The result computes the same
    function up to float rounding with about a third less time on the CPU, but can no longer train."""
    folded = 0
    for parent in list(module.modules()):
        for conv_name, norm_name in FOLDABLE.get(type(parent).__name__, ()):
            conv, norm = getattr(parent, conv_name, None), getattr(parent, norm_name, None)
            if type(conv) is not nn.Conv2d or not isinstance(norm, nn.BatchNorm2d) or norm.running_var is None:
                continue
            scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
            shift = norm.bias.double() - norm.running_mean.double() * scale
            if conv.bias is not None:
                shift = shift + conv.bias.double() * scale
            conv.weight.copy_((conv.weight.double() * scale.view(-1, 1, 1, 1)).to(conv.weight.dtype))
            conv.bias = nn.Parameter(shift.to(conv.weight.dtype), requires_grad=False)
            setattr(parent, norm_name, FoldedNorm(norm))
            folded += 1
    return folded


class AudioEncoder(nn.Module):
    """EfficientNet (timm) on ``(batch, frames, n_mels)`` log-mel windows.

    Returns ``(batch, embedding_size)``: the last feature map, globally pooled over
    time and frequency (max pooling in the official COLA recipe). A thin timm client: the
    windowed SE blocks come in through ``se_layer=``, stage outputs from
    ``forward_intermediates`` and their strides from ``feature_info``.
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
            c.name,
            pretrained=False,
            in_chans=in_chans,
            num_classes=0,
            global_pool="",
            se_layer=WindowedSqueezeExcite,
        )
        self.pool = nn.AdaptiveMaxPool2d(1) if c.pooling == "max" else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(c.drop_rate)
        self.embedding_size: int = int(self.backbone.num_features)
        self.stage_strides = self._stage_strides()
        self._se_strides = {
            se: self.stage_strides[i]
            for i, stage in enumerate(self.backbone.blocks)
            for se in stage.modules()
            if isinstance(se, WindowedSqueezeExcite)
        }

    def _stage_strides(self) -> tuple[int, ...]:
        """Time stride of every stage's output, from timm's ``feature_info``: a stage that is not
        listed there has the stride of the next listed stage (timm lists the last stage of
        each resolution; ``stage`` k there is the output of ``blocks[k - 1]``)."""
        info = self.backbone.feature_info
        n = len(self.backbone.blocks)
        return tuple(next(f["reduction"] for f in info if f["stage"] >= i + 1) for i in range(n))

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
        order = sorted(stages)
        if not order and not final:
            return {}, None
        # timm's block indices with extra_blocks: 0 is the stem, i + 1 the output of stage i.
        indices = [i + 1 for i in order] if order else [len(bb.blocks)]
        out = bb.forward_intermediates(
            x, indices=indices, extra_blocks=True, stop_early=not final, intermediates_only=not final
        )
        last, intermediates = (None, out) if not final else out
        return (dict(zip(order, intermediates, strict=True)) if order else {}), last

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
