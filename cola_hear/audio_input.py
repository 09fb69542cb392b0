"""Validation of the audio handed to the HEAR API."""

from __future__ import annotations

import numpy as np
import torch


def as_audio_batch(audio: object) -> torch.Tensor:
    """Return ``audio`` as a finite float32 ``(n_sounds, n_samples)`` tensor.

    Accepts a torch tensor or numpy array. A 1-D input is one sound; integer
    PCM is scaled to [-1, 1]; float64 is cast to float32. Raises ``ValueError``
    for anything else (other ranks, non-numeric dtypes, NaN or inf).
    """
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(np.ascontiguousarray(audio))
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"audio must be a torch.Tensor or numpy array, got {type(audio).__name__}")
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2:
        raise ValueError(f"audio must have shape (n_sounds, n_samples), got {tuple(audio.shape)}")
    if audio.dtype in (torch.int16, torch.int32, torch.int8, torch.uint8, torch.int64):
        scale = {torch.int8: 2**7, torch.uint8: 2**7, torch.int16: 2**15, torch.int32: 2**31, torch.int64: 2**31}
        offset = 2**7 if audio.dtype == torch.uint8 else 0
        audio = (audio.double() - offset) / scale[audio.dtype]
    elif not audio.is_floating_point():
        raise ValueError(f"audio must be float or integer PCM, got dtype {audio.dtype}")
    audio = audio.to(torch.float32)
    if audio.numel() and not torch.isfinite(audio).all():
        raise ValueError("audio contains NaN or inf")
    return audio
