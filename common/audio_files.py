"""Reading audio files: decode, crop, down-mix and resample to the model's rate.

The one place where the project decodes audio; ``pretrain`` and ``eval`` use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf
import torch
import torchaudio

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".opus")


class AudioError(ValueError):
    """An audio file cannot be used: unreadable, empty, or holding NaN/inf samples."""


@dataclass(frozen=True)
class AudioInfo:
    """What a file header says: native rate, channels and length in frames."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read the header of an audio file without decoding it."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{path}: empty audio file (frames={info.frames}, rate={info.samplerate})")
    return AudioInfo(sample_rate=int(info.samplerate), channels=int(info.channels), frames=int(info.frames))


def load_audio(
    path: str | os.PathLike,
    sample_rate: int = 16000,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to a mono float32 array at ``sample_rate``.

    ``start`` and ``duration`` (seconds) select a crop; only that part is decoded,
    so a crop of a multi-hour file is cheap. Raises ``AudioError`` for unreadable
    or empty files and for NaN/inf samples.
    """
    info = audio_info(path)
    first = max(0, round(start * info.sample_rate))
    count = -1 if duration is None else max(0, round(duration * info.sample_rate))
    try:
        with sf.SoundFile(str(path)) as f:
            if first:
                f.seek(min(first, info.frames))
            data = f.read(frames=count, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioError(f"{path}: decoding failed ({exc})") from exc
    if data.size == 0:
        raise AudioError(f"{path}: no samples in the requested range (start={start}s, duration={duration})")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: contains NaN or inf samples")
    mono = data.mean(axis=1)
    return resample(mono, info.sample_rate, sample_rate)


def resample(audio: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of a 1-D float array (identity when the rates match)."""
    if orig_rate == new_rate:
        return np.ascontiguousarray(audio, dtype=np.float32)
    g = np.gcd(int(orig_rate), int(new_rate))
    out = _resampler(int(orig_rate) // g, int(new_rate) // g)(torch.from_numpy(np.ascontiguousarray(audio, np.float32)))
    return out.numpy().astype(np.float32, copy=False)


@lru_cache(maxsize=16)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(orig, new)
