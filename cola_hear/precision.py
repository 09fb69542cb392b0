"""The one precision policy: when to run under bf16 autocast, for inference and for training alike."""

from __future__ import annotations

import contextlib

import torch


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 kernels natively (CUDA's check; oneDNN's AVX512-BF16/AMX check on CPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def use_bf16(mode: str, device: torch.device, setting: str, auto_on_cpu: bool) -> bool:
    """Whether to autocast to bfloat16 for a ``mode`` setting.

    ``"fp32"`` / ``"off"``: never. ``"bf16"``: always, and a ``ValueError`` naming ``setting`` where the device
    has no native bf16. ``"auto"``: where the device has it, on the CPU only with ``auto_on_cpu`` (inference
    gains from CPU bf16; a training step loses: see README, Performance).
    """
    if mode in ("fp32", "off"):
        return False
    supported = bf16_supported(device)
    if mode == "bf16":
        if not supported:
            raise ValueError(f"{setting}='bf16' but {device.type} has no native bf16 support here")
        return True
    if mode != "auto":
        raise ValueError(f"{setting} must be 'fp32', 'bf16' or 'auto', got {mode!r}")
    return supported and (device.type == "cuda" or auto_on_cpu)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bfloat16 on ``device`` when ``enabled``, else a no-op context."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
