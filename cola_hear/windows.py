"""Windows over a log-mel in time: the timestamp grid and the mean / std of each window, shared by the
COLA model and the log-mel statistics baseline."""

from __future__ import annotations

import torch

from cola_hear.config import FrontEndConfig


def timestamp_hop_frames(config: FrontEndConfig, hop_ms: float) -> int:
    """Log-mel frames between timestamps ``hop_ms`` apart (at least one frame)."""
    frame_ms = 1000.0 * config.hop_length / config.sample_rate
    hop = round(hop_ms / frame_ms)
    if hop < 1:
        raise ValueError(f"timestamp hop {hop_ms} ms is below one frame ({frame_ms} ms)")
    return hop


def timestamps_ms(n_frames: int, hop_frames: int, config: FrontEndConfig) -> torch.Tensor:
    """Centres (ms) of windows on every ``hop_frames``-th of ``n_frames`` frames, starting at 0: float32 ``(n_t,)``."""
    n_t = (n_frames - 1) // hop_frames + 1
    return torch.arange(n_t, dtype=torch.float32) * hop_frames * (1000.0 * config.hop_length / config.sample_rate)


def prefix_sums(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Running sums of ``x`` along ``dim`` in float64, starting with zeros: the sum of ``[a, b)`` is ``s[b] - s[a]``."""
    x = x.double()
    shape = list(x.shape)
    shape[dim] = 1
    return torch.cat([x.new_zeros(shape), x.cumsum(dim=dim)], dim=dim)


def window_moments(
    sums: torch.Tensor, squares: torch.Tensor | None, count: torch.Tensor | int, unbiased: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean and standard deviation (None without ``squares``) of windows of ``count`` values from their sums
    and sums of squares; float32. ``unbiased`` divides the variance by ``count - 1``."""
    mean = sums / count
    if squares is None:
        return mean.float(), None
    variance = (squares - sums * sums / count).clamp_min(0) / (count - 1 if unbiased else count)
    return mean.float(), variance.sqrt().float()
