"""Small audio folders written as real files, for tests: distinguishable tone mixtures and broken files.

Every clip of ``write_tone_folder`` is a mixture of a few sine tones whose frequencies
differ from clip to clip (optionally with a per-class "signature" so that clips of the
same class share their tones), written as real WAV/FLAC files at assorted sample rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


@dataclass(frozen=True)
class ToneClip:
    """One written clip: its path, tone frequencies (Hz) and class index."""

    path: Path
    freqs: tuple[float, ...]
    label: int


def tone_mixture(
    freqs: tuple[float, ...] | list[float],
    seconds: float,
    sample_rate: int,
    rng: np.random.Generator | None = None,
    noise: float = 0.0,
) -> np.ndarray:
    """Sum of unit sines at ``freqs`` with random phases, peak-normalised to 0.5, plus optional white noise."""
    rng = rng or np.random.default_rng(0)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    x = 0.5 * x / max(np.abs(x).max(), 1e-9)
    if noise:
        x = x + noise * rng.standard_normal(x.shape)
    return x.astype(np.float32)


def class_frequencies(label: int, tones: int = 3, low: float = 100.0, high: float = 7000.0) -> tuple[float, ...]:
    """The tone frequencies of class ``label`` (sorted).

    Tones come from a fixed shuffle of 96 log-spaced frequencies, ``tones`` per class, so the
    first ``96 // tones`` classes share no tone and neighbouring labels are not near in pitch.
    """
    grid = np.geomspace(low, high, 96)
    per_round = len(grid) // tones
    order = np.random.default_rng(1234 + label // per_round).permutation(len(grid))
    k = (label % per_round) * tones
    return tuple(sorted(float(f) for f in grid[order[k : k + tones]]))


def write_tone_folder(
    root: str | Path,
    n_classes: int,
    clips_per_class: int = 1,
    seconds: float = 2.0,
    sample_rates: tuple[int, ...] = (16000, 22050, 44100),
    formats: tuple[str, ...] = ("wav", "flac"),
    noise: float = 0.0,
    seed: int = 0,
    subfolders: bool = True,
) -> list[ToneClip]:
    """Write ``n_classes * clips_per_class`` tone-mixture clips under ``root`` and describe them.

    Clip files rotate through ``sample_rates`` and ``formats``; with ``subfolders`` each class
    gets its own subfolder (exercises recursive scanning).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    clips = []
    for label in range(n_classes):
        freqs = class_frequencies(label)
        folder = root / f"class{label:02d}" if subfolders else root
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(clips_per_class):
            k = label * clips_per_class + j
            rate = sample_rates[k % len(sample_rates)]
            ext = formats[k % len(formats)]
            path = folder / f"tone{label:02d}_{j:02d}.{ext}"
            sf.write(path, tone_mixture(freqs, seconds, rate, rng, noise), rate)
            clips.append(ToneClip(path, freqs, label))
    return clips
