"""Inputs the benchmark makes for itself: a random-init weights file and a folder of generated audio."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from cola_eval.models.baselines.random_init import write_random_init_weights

log = logging.getLogger(__name__)

GENERATED_RATES = (16000, 44100)  # the 44.1 kHz files make decoding include resampling, as real data does


def random_weights(path: Path, seed: int = 0) -> Path:
    """A seeded random-init default model saved as a weights file (throughput does not depend on the values)."""
    write_random_init_weights(path, seed)
    log.info("wrote random-init weights %s (no --weights given and no shipped default)", path)
    return path


def generated_audio(folder: Path, seconds: float, file_seconds: float = 20.0, seed: int = 0) -> Path:
    """Write about ``seconds`` of audio (tone sweeps in noise) as WAV and FLAC files under ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, round(seconds / file_seconds))
    length = seconds / count
    for i in range(count):
        rate = GENERATED_RATES[i % len(GENERATED_RATES)]
        t = np.arange(round(length * rate)) / rate
        f0, f1 = rng.uniform(100, 4000, size=2)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * length))
        audio = 0.3 * np.sin(phase) + 0.05 * rng.standard_normal(t.shape)
        ext = "wav" if i % 2 == 0 else "flac"
        sf.write(folder / f"clip{i:03d}.{ext}", audio.astype(np.float32), rate)
    log.info("wrote %d generated audio files (%.0f s) to %s", count, seconds, folder)
    return folder
