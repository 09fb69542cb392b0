"""Small signal helpers the task builders share: gain, silence trimming, noise, mixing.

All audio here is float32 mono at 16 kHz (decoded and resampled by
``cola_common.audio_files``).
"""

from __future__ import annotations

import numpy as np

SR = 16000
EPS = 1e-12


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def peak_normalize(x: np.ndarray, peak: float) -> np.ndarray:
    """Scale ``x`` so its largest absolute sample is ``peak`` (silence stays silence)."""
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x * (peak / m)).astype(np.float32) if m > EPS else x.astype(np.float32)


def frame_db(x: np.ndarray, frame: int = 160) -> np.ndarray:
    """Level of consecutive frames in dB relative to full scale."""
    n = len(x) // frame
    if n == 0:
        return np.full(1, 20 * np.log10(rms(x) + EPS))
    power = np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return 10 * np.log10(power + EPS)


def active_span(x: np.ndarray, below_peak_db: float = 40.0, frame: int = 160) -> tuple[int, int]:
    """First and last sample of the part of ``x`` louder than its loudest frame minus ``below_peak_db``."""
    db = frame_db(x, frame)
    on = np.flatnonzero(db > db.max() - below_peak_db)
    if len(on) == 0:
        return 0, 0
    return int(on[0] * frame), int(min(len(x), (on[-1] + 1) * frame))


def trim(x: np.ndarray, below_peak_db: float = 40.0) -> np.ndarray:
    """``x`` without its leading and trailing near-silence."""
    a, b = active_span(x, below_peak_db)
    return x[a:b]


def place(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    """``x`` written into ``n`` zeros at ``offset`` (cut at the end)."""
    out = np.zeros(n, dtype=np.float32)
    if offset < n:
        m = min(len(x), n - offset)
        out[offset : offset + m] = x[:m]
    return out


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS white, pink (1/f) or brown (1/f^2) noise of ``n`` samples."""
    white = rng.standard_normal(n)
    if colour == "white":
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1.0 / SR)
        f[0] = f[1] if n > 1 else 1.0
        exponent = {"pink": 0.5, "brown": 1.0}[colour]
        noise = np.fft.irfft(spectrum / f**exponent, n)
    return (noise / (rms(noise) + EPS)).astype(np.float32)


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + g * noise`` with ``g`` chosen so that rms(signal)/rms(g*noise) is ``snr_db``."""
    s, v = rms(signal), rms(noise)
    if v < EPS:
        return signal.astype(np.float32)
    gain = s / (v * 10 ** (snr_db / 20.0)) if s > EPS else 1.0
    return (signal + gain * noise).astype(np.float32)


def fit_peak(x: np.ndarray, rng: np.random.Generator, low: float = 0.25, high: float = 0.95) -> np.ndarray:
    """Peak-normalise to a random level, so loudness carries no label information."""
    return peak_normalize(x, float(rng.uniform(low, high)))
