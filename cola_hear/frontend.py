"""Log-mel front end: 16 kHz waveform -> natural-log mel magnitudes (frames x bands)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from cola_hear.config import FrontEndConfig


class LogMelFrontEnd(nn.Module):
    """STFT magnitude, mel filterbank, clipped natural log (the COLA recipe).

    ``forward`` maps ``(batch, samples)`` float waveforms to ``(batch, frames, n_mels)``.
    Frames are centred: frame ``i`` is centred on sample ``i * hop_length``
    (the waveform is zero-padded by ``n_fft // 2`` on both sides).
    """

    def __init__(self, config: FrontEndConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontEndConfig()
        c = self.config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=c.sample_rate,
            n_fft=c.n_fft,
            win_length=c.win_length,
            hop_length=c.hop_length,
            f_min=c.f_min,
            f_max=c.f_max,
            n_mels=c.n_mels,
            power=1.0,
            center=False,
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        half = self.config.n_fft // 2
        padded = F.pad(waveform.float(), (half, half))  # centred frames, zero padding
        return self._log_mel(padded)

    def _log_mel(self, padded: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=padded.device.type, enabled=False):
            spec = self.mel(padded)  # (batch, n_mels, frames)
        c = self.config
        return spec.clamp(c.log_floor, c.log_ceiling).log().transpose(-1, -2)

    def long(self, waveform: torch.Tensor, chunk_frames: int = 512) -> torch.Tensor:
        """Same as ``forward`` for one long ``(samples,)`` waveform, computed in chunks.

        Peak memory is bounded by ``chunk_frames`` rather than the waveform length, and chunks of a
        few hundred frames keep the spectrogram in the CPU's cache (1.2-2x faster than 6,000 frames).
        """
        if waveform.dim() != 1:
            raise ValueError(f"expected a 1-D waveform, got shape {tuple(waveform.shape)}")
        return self.frames(waveform, 0, self.num_frames(waveform.shape[0]), chunk_frames)

    def frames(self, waveform: torch.Tensor, start: int, stop: int, chunk_frames: int = 512) -> torch.Tensor:
        """Frames ``start:stop`` of ``long(waveform)`` ``(stop - start, n_mels)``, reading only the samples they
        cover (no copy of the whole waveform). With ``start`` a multiple of ``chunk_frames`` the result is
        bit-identical to the slice of ``long``. The frames are computed on the front end's device."""
        c = self.config
        half, n = c.n_fft // 2, waveform.shape[0]
        device = self.mel.spectrogram.window.device
        parts = []
        for first in range(start, stop, chunk_frames):
            last = min(first + chunk_frames, stop)
            a, b = first * c.hop_length - half, (last - 1) * c.hop_length + c.n_fft - half  # in samples
            piece = waveform[max(0, a) : max(0, min(n, b))].to(device).float()
            piece = F.pad(piece, (max(0, -a), b - max(a, min(n, b))))  # zeros past both ends, as ``forward``
            parts.append(self._log_mel(piece.unsqueeze(0))[0])
        if not parts:
            return torch.zeros(0, c.n_mels, device=device)
        return torch.cat(parts, dim=0)

    @property
    def pad_value(self) -> float:
        """The log-mel value of silence, used to pad windows past the audio's ends."""
        return math.log(self.config.log_floor)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a waveform of ``num_samples`` samples."""
        return num_samples // self.config.hop_length + 1


def normalize_windows(windows: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-window normalisation of log-mel windows ``(..., frames, n_mels)``."""
    if mode == "none":
        return windows
    if mode == "standardize":
        mean = windows.mean(dim=(-2, -1), keepdim=True)
        std = windows.std(dim=(-2, -1), keepdim=True)
        return (windows - mean) / (std + 1e-5)
    raise ValueError(f"unknown window normalisation {mode!r}")
