"""Validation of the audio handed to the HEAR API."""

from __future__ import annotations

import numpy as np
import torch

# integer PCM: (offset, full scale). int64 is refused: it has no PCM convention, and it is what
# ``torch.tensor(list_of_ints)`` / ``np.asarray(list_of_ints)`` make, whatever range the values have.
PCM_SCALES = {
    torch.uint8: (2**7, 2**7),
    torch.int8: (0, 2**7),
    torch.int16: (0, 2**15),
    torch.int32: (0, 2**31),
}


def as_audio_batch(audio: object) -> torch.Tensor:
    """Return ``audio`` as a finite float32 ``(n_sounds, n_samples)`` tensor.

    Accepts a torch tensor or numpy array. A 1-D input is one sound; float64 (and float16 /
    bfloat16) is cast to float32. Integer PCM is scaled to [-1, 1] by its own full scale:
    int16 / 2**15, int32 / 2**31, int8 / 2**7, uint8 (8-bit WAV) (x - 128) / 2**7. Other integer
    types (int64, uint16, ...) have no PCM scale and raise ``ValueError``: convert int16-range
    values with ``x.to(torch.int16)`` or pass floats in [-1, 1]. Also raises ``ValueError`` for
    other ranks, non-numeric dtypes, NaN or inf, and tensors without data (the meta device).
    """
    if isinstance(audio, np.ndarray):
        if audio.dtype.kind in "iu" and audio.dtype.itemsize == 8:
            raise ValueError(_no_pcm_scale(str(audio.dtype)))
        audio = torch.from_numpy(np.ascontiguousarray(audio))
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"audio must be a torch.Tensor or numpy array, got {type(audio).__name__}")
    if audio.device.type == "meta":
        raise ValueError("audio is on the meta device (a shape without data): pass a tensor with samples")
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2:
        raise ValueError(f"audio must have shape (n_sounds, n_samples), got {tuple(audio.shape)}")
    if audio.dtype in PCM_SCALES:
        offset, scale = PCM_SCALES[audio.dtype]
        audio = audio.to(torch.float32).sub_(offset).div_(scale)  # exact in float32: scales are powers of 2
    elif audio.dtype in (torch.int64, torch.uint16, torch.uint32, torch.uint64):
        raise ValueError(_no_pcm_scale(str(audio.dtype)))
    elif not audio.is_floating_point():
        raise ValueError(f"audio must be float or integer PCM (int16, int32), got dtype {audio.dtype}")
    audio = audio.to(torch.float32)
    if not _finite(audio):
        raise ValueError("audio contains NaN or inf")
    return audio


def _finite(audio: torch.Tensor, block: int = 1 << 20) -> bool:
    """Whether every sample is finite, checked a block at a time (no input-sized temporaries)."""
    flat = audio.reshape(-1)
    return all(bool(torch.isfinite(flat[i : i + block]).all()) for i in range(0, flat.numel(), block))


def _no_pcm_scale(dtype: str) -> str:
    return (
        f"audio of dtype {dtype} has no PCM scale: pass float32 in [-1, 1], or int16 / int32 PCM "
        "(for int16-range values: x.to(torch.int16) or x.astype(np.int16))"
    )
