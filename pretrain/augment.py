"""Augmentations (all off by default): gain, mixing in another clip, masks, EQ and band limits, zoom.

Waveform augmentations act on numpy crops in the sampler (drawing from its generator, so a
batch stays a pure function of seed, rank and step); masks are drawn there as a boolean
array and applied to the log-mel on the training device.
"""

from __future__ import annotations

import numpy as np
import torch

from cola_pretrain.config import AugmentConfig


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


DB_TO_LOG = float(np.log(10.0) / 20.0)  # dB of amplitude -> natural-log units of the (magnitude) log-mel
LOWPASS_DB_PER_BAND = 12.0  # roll-off above a band limit: a few bands reach the log floor


def spectral_offsets(rng: np.random.Generator, count: int, n_mels: int, config: AugmentConfig) -> np.ndarray:
    """Per-band log-mel offsets ``(count, n_mels)``: a random EQ curve and, sometimes, a band limit.

    The EQ curve is a tilt plus two cosine ripples across the bands, scaled so its peak is
    uniform in [0, ``eq_db``] dB. A band limit (probability ``lowpass_prob``) rolls off
    everything above a random band between a third of the range and the top, as a
    low sample rate or a cheap recording would. Added to the log-mel, then clamped at the
    front end's floor (``apply_spectral``).
    """
    out = np.zeros((count, n_mels), dtype=np.float64)
    bands = np.linspace(-1.0, 1.0, n_mels)
    if config.eq_db > 0:
        tilt = rng.uniform(-1, 1, size=(count, 1)) * bands
        freqs = rng.uniform(0.5, 3.0, size=(count, 2, 1))
        phases = rng.uniform(0, 2 * np.pi, size=(count, 2, 1))
        ripples = (rng.uniform(-0.5, 0.5, size=(count, 2, 1)) * np.cos(np.pi * freqs * bands + phases)).sum(axis=1)
        curve = tilt + ripples
        peak = np.maximum(np.abs(curve).max(axis=1, keepdims=True), 1e-6)
        out += curve / peak * rng.uniform(0, config.eq_db, size=(count, 1))
    if config.lowpass_prob > 0:
        limited = rng.random(count) < config.lowpass_prob
        cutoff = rng.integers(n_mels // 3, n_mels, size=count)
        above = np.maximum(np.arange(n_mels)[None, :] - cutoff[:, None], 0)
        out -= np.where(limited[:, None], above * LOWPASS_DB_PER_BAND, 0.0)
    return (out * DB_TO_LOG).astype(np.float32)


def apply_spectral(logmel: torch.Tensor, offsets: torch.Tensor, floor: float) -> torch.Tensor:
    """Add ``(n, n_mels)`` offsets to ``(n, frames, n_mels)`` log-mel windows, never below ``floor``."""
    return torch.clamp_min(logmel + offsets[:, None, :], floor)


def zoom_params(rng: np.random.Generator, count: int, zoom: float) -> np.ndarray:
    """``(count, 4)`` random resized crops: time scale, time shift, frequency scale, frequency shift.

    A scale above 1 zooms in (a shorter stretch of time, a narrower band range, stretched to
    the window); below 1 zooms out. Shifts move the crop within the window (grid units).
    """
    log_scale = np.log1p(zoom)
    scales = np.exp(rng.uniform(-log_scale, log_scale, size=(count, 2)))
    room = np.abs(1.0 - 1.0 / scales)  # how far the crop can move and stay inside (zoom in)
    shifts = rng.uniform(-1, 1, size=(count, 2)) * room
    return np.stack([scales[:, 0], shifts[:, 0], scales[:, 1], shifts[:, 1]], axis=1).astype(np.float32)


def apply_zoom(logmel: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Resample ``(n, frames, n_mels)`` windows on the crops of ``zoom_params`` (bilinear; borders repeat)."""
    n = logmel.shape[0]
    theta = torch.zeros(n, 2, 3, dtype=logmel.dtype, device=logmel.device)
    # grid_sample's x is the last axis (mel bands), y the frames.
    theta[:, 0, 0] = 1.0 / params[:, 2]
    theta[:, 0, 2] = params[:, 3]
    theta[:, 1, 1] = 1.0 / params[:, 0]
    theta[:, 1, 2] = params[:, 1]
    x = logmel.unsqueeze(1)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, 0]
