"""Training checkpoints (written atomically, read with ``weights_only=True``) and export to weights files.

A checkpoint holds the model (front end + encoder), the objective's heads, the optimizer,
the step, the config and the provenance so far. No random-generator state is needed:
every random draw of step ``s`` is derived from (seed, rank, s).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

from cola_hear import ColaModel, save_weights
from cola_hear.atomic import atomic_write
from cola_pretrain.config import PretrainConfig

log = logging.getLogger(__name__)

FORMAT = "cola-pretrain-checkpoint-v1"
_NAME = re.compile(r"^step-(\d{8,})\.pt$")
REQUIRED_KEYS = ("format", "step", "config", "model", "objective", "optimizer", "provenance")


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or not a cola-pretrain checkpoint."""


def checkpoint_path(folder: str | os.PathLike, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}.pt"


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(folder: str | os.PathLike, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` as ``folder/step-NNNNNNNN.pt`` atomically and delete all but the ``keep`` newest.

    Temporary files that a killed process left behind (one writer at a time: rank 0) are removed first.
    """
    for stale in Path(folder).glob(".step-*.pt.*.tmp"):
        stale.unlink(missing_ok=True)
    path = atomic_write(checkpoint_path(folder, int(state["step"])), lambda tmp: torch.save(state, tmp))
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint on the CPU without unpickling code (``torch.load(weights_only=True)``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a cola-pretrain checkpoint (format {FORMAT!r} expected)")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}")
    return state


def latest_checkpoint(folder: str | os.PathLike) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of ``folder`` that loads (unreadable ones are reported and passed over)."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("passing over a bad checkpoint: %s", exc)
    return None


def export_weights(state: dict[str, Any], path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
    """Write the encoder and front end of a checkpoint as a ``cola_hear`` weights file; the heads are dropped.

    The checkpoint's provenance goes into the file's config.
    """
    config = PretrainConfig.from_dict(state["config"])
    model = ColaModel(config.model_config(provenance=dict(state["provenance"])))
    model.load_state_dict(state["model"])
    return save_weights(model, path, dtype=dtype)


def export_checkpoint(
    checkpoint: str | os.PathLike, path: str | os.PathLike, dtype: torch.dtype = torch.float32
) -> Path:
    """``export_weights`` for a checkpoint file."""
    return export_weights(load_checkpoint(checkpoint), path, dtype)
