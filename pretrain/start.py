"""Where a run starts: the newest readable checkpoint of its folder (resume), or weights to start from.

A resumed run must have the config its checkpoint was written with, except for the settings in
``RESUMABLE``, which do not alter what is learned from which batch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cola_common.provenance import weights_sha256
from cola_hear.config import ConfigError
from cola_hear.weights import load_weights
from cola_pretrain.checkpoint import CheckpointError, latest_checkpoint, list_checkpoints
from cola_pretrain.step import PretrainModule

log = logging.getLogger(__name__)

# Settings a resumed run may change: they do not alter what is learned from which batch.
RESUMABLE = {
    "train": {
        "max_steps",
        "max_minutes",
        "log_every",
        "checkpoint_every",
        "keep_checkpoints",
        "out_dir",
        "device",
        "amp",
        "channels_last",
        "compile",
        "threads",
        "progress",
    },
    "data": {"folders", "cache", "cache_dir", "decode_workers", "prefetch", "shards", "workers", "shuffle_buffer"},
}


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``section.key: old -> new`` for every setting that a resumed run may not change."""
    from cola_pretrain.config import PretrainConfig

    defaults = PretrainConfig().to_dict()  # a key that an older checkpoint lacks had its default value
    diffs = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            if key in RESUMABLE.get(section, set()):
                continue
            fallback = defaults.get(section, {}).get(key)
            va, vb = a.get(key, fallback), b.get(key, fallback)
            if isinstance(va, list | tuple) and isinstance(vb, list | tuple):
                va, vb = list(va), list(vb)
            if va != vb:
                diffs.append(f"{section}.{key}: {va!r} -> {vb!r}")
    return diffs


def checkpoint_global_batch(state: dict[str, Any]) -> int:
    """Pairs per optimizer step of the run that wrote ``state`` (older checkpoints: batch size x processes)."""
    train = state["config"].get("train", {})
    return int(state.get("global_batch", train.get("batch_size", 0) * state.get("world_size", 1)))


def find_checkpoint(checkpoints: Path, config: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """The state to resume from (``None``: start at step 0). Without ``resume``, a folder that already holds
    checkpoints is refused; with it, the newest readable checkpoint must have ``config`` (see ``RESUMABLE``)."""
    existing = list_checkpoints(checkpoints)
    if not resume:
        if existing:
            raise ConfigError(
                f"{checkpoints.parent} already holds checkpoints of a run; pass --resume to continue it "
                "or choose another output folder"
            )
        return None
    found = latest_checkpoint(checkpoints)
    if found is None and existing:
        raise CheckpointError(f"none of the {len(existing)} checkpoints in {checkpoints} can be read")
    if found is None:
        log.info("no checkpoint in %s: starting from step 0", checkpoints)
        return None
    path, state = found
    diffs = config_differences(state["config"], config)
    # setting train.global_batch_size to the checkpoint's own global batch keeps the recipe (another world size)
    old_train, new_global = state["config"].get("train", {}), config.get("train", {}).get("global_batch_size")
    if old_train.get("global_batch_size") is None and new_global == checkpoint_global_batch(state):
        diffs = [d for d in diffs if not d.startswith("train.global_batch_size:")]
    if diffs:
        raise ConfigError(f"cannot resume from {path}: the config differs in " + "; ".join(diffs))
    log.info("resuming from %s (step %d)", path, state["step"])
    return state


def init_from_weights(module: PretrainModule, path: str) -> dict[str, Any]:
    """Load the model tensors of a ``cola_hear`` weights file into ``module`` (its objective head stays fresh).

    The file's front end and encoder must be the run's; returns what the provenance records of it.
    """
    source = load_weights(path)
    for section in ("frontend", "encoder"):
        theirs, ours = getattr(source.config, section), getattr(module.model.config, section)
        if theirs != ours:
            raise ConfigError(f"train.init_weights={path}: its {section} config {theirs} differs from the run's {ours}")
    module.model.load_state_dict(source.state_dict())
    steps = source.config.provenance.get("steps")
    log.info("model initialised from %s (%s steps of %s)", path, steps, source.config.provenance.get("objective"))
    return {
        "path": str(path),
        "sha256": weights_sha256(path),
        "steps": steps,
        "objective": source.config.provenance.get("objective"),
        "git_commit": source.config.provenance.get("git_commit"),
    }
