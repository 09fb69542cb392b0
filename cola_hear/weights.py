"""Weights files: safetensors tensors with the model config as JSON metadata.

Loading never unpickles anything, checks the architecture and every tensor's
shape against the config, and names whatever does not match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from cola_hear.atomic import atomic_write
from cola_hear.config import ModelConfig
from cola_hear.model import ColaModel

METADATA_KEY = "cola_hear"  # one key: safetensors stores metadata in a hash map of random order
FORMAT = "cola-hear-weights-v1"


class WeightsError(ValueError):
    """A weights file is missing, unreadable or does not match its architecture."""


def save_weights(model: ColaModel, path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
    """Write ``model``'s weights and config to ``path`` atomically (temp file + rename).

    Floating-point tensors are stored as ``dtype`` (``torch.float16`` for shipped weights).
    """
    if model.folded:
        raise WeightsError(
            "this model's BatchNorm is folded into its convolutions for inference (cola_hear.load_model), so its "
            "tensors are not a weights file's; save a model from cola_hear.load_weights"
        )
    path = Path(path)
    tensors = {
        name: (t.detach().to(dtype) if t.is_floating_point() else t.detach()).cpu().contiguous()
        for name, t in model.state_dict().items()
    }
    metadata = weights_metadata(model.config.to_dict())
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def read_config(path: str | os.PathLike) -> ModelConfig:
    """The model config stored in a weights file."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors weights file: {exc}") from exc
    try:
        header = json.loads(metadata[METADATA_KEY])
    except (KeyError, ValueError) as exc:
        raise WeightsError(
            f"{path} is a safetensors file but not a cola-hear weights file (no {METADATA_KEY!r} metadata)"
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise WeightsError(f"{path}: unsupported weights format {found!r} (expected {FORMAT!r})")
    try:
        return ModelConfig.from_dict(header["config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: invalid model config: {exc}") from exc


def weights_metadata(config: dict) -> dict[str, str]:
    """The safetensors metadata of a weights file: format and model config as canonical JSON."""
    return {METADATA_KEY: json.dumps({"format": FORMAT, "config": config}, sort_keys=True, separators=(",", ":"))}


def load_weights(path: str | os.PathLike, device: str | torch.device = "cpu") -> ColaModel:
    """Rebuild the model described by a weights file and load its tensors (float32)."""
    path = _existing(path)
    config = read_config(path)
    try:
        model = ColaModel(config)
    except ValueError as exc:
        raise WeightsError(f"{path}: its config describes no buildable model: {exc}") from exc
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot read tensors: {exc}") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"{path} does not match the architecture its config describes "
            f"({config.encoder.name}): {_summary('missing', missing)}{_summary('unexpected', unexpected)}"
            f"{_summary('wrong shape', mismatched)}"
        )
    state = {k: tensors[k].to(v.dtype) for k, v in expected.items()}
    for name, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise WeightsError(f"{path}: tensor {name} contains NaN or inf")
    model.load_state_dict(state)
    return model.to(device).eval()


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.safetensors"))[:3]
        hint = f" (it holds {', '.join(found)})" if found else ""
        raise WeightsError(f"{path} is a folder, not a weights file: pass a .safetensors file{hint}")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    return path


def _summary(kind: str, names: list[str], limit: int = 5) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
    return f"{kind} [{shown}]; "
