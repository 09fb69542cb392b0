"""Augmentations (all off by default): random gain, mixing in another clip, time/frequency masks.

Waveform augmentations act on numpy crops in the sampler (drawing from its generator, so a
batch stays a pure function of seed, rank and step); masks are drawn there as a boolean
array and applied to the log-mel on the training device.
"""

from __future__ import annotations

import numpy as np
import torch

from pretrain.config import AugmentConfig


def random_gain(views: np.ndarray, rng: np.random.Generator, max_db: float) -> None:
    """Scale each crop of ``views`` (..., samples) in place by a gain uniform in [-max_db, max_db] dB."""
    gains_db = rng.uniform(-max_db, max_db, size=views.shape[:-1])
    views *= (10.0 ** (gains_db / 20.0)).astype(np.float32)[..., None]


def mix_in(views: np.ndarray, others: np.ndarray, chosen: np.ndarray, ratios: np.ndarray) -> None:
    """Add ``others`` to the ``chosen`` crops of ``views`` in place, at ``ratios`` of each crop's RMS.

    ``views``, ``others``: (..., samples); ``chosen`` (bool) and ``ratios``: views.shape[:-1].
    """
    rms_view = np.sqrt(np.mean(views.astype(np.float64) ** 2, axis=-1))
    rms_other = np.sqrt(np.mean(others.astype(np.float64) ** 2, axis=-1))
    usable = chosen & (rms_other > 0) & (rms_view > 0)
    scale = np.where(usable, ratios * rms_view / np.where(rms_other > 0, rms_other, 1.0), 0.0)
    views += (scale.astype(np.float32)[..., None] * others).astype(np.float32)


def spec_masks(rng: np.random.Generator, count: int, frames: int, n_mels: int, config: AugmentConfig) -> np.ndarray:
    """Boolean masks ``(count, frames, n_mels)``: True where the log-mel is masked (time and frequency bands)."""
    masks = np.zeros((count, frames, n_mels), dtype=bool)
    for n_masks, max_width, axis, size in (
        (config.time_masks, config.time_mask_frames, 1, frames),
        (config.freq_masks, config.freq_mask_bands, 2, n_mels),
    ):
        if not (n_masks and max_width):
            continue
        widths = rng.integers(0, min(max_width, size) + 1, size=(count, n_masks))
        starts = rng.integers(0, size - widths + 1)
        positions = np.arange(size)
        band = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])  # (count, n, size)
        hit = band.any(axis=1)  # (count, size)
        masks |= hit[:, :, None] if axis == 1 else hit[:, None, :]
    return masks


def apply_masks(logmel: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Replace the masked entries of ``(n, frames, n_mels)`` log-mel windows by each window's mean."""
    mean = logmel.mean(dim=(-2, -1), keepdim=True)
    return torch.where(masks, mean, logmel)
