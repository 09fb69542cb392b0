"""The frozen random-init EfficientNet-B0 baseline: a seeded weights file for module ``cola_hear``.

    cola-eval random-weights --seed 0 --out runs/weights/random-init-s0.safetensors
    cola-eval probe --module cola_hear --weights runs/weights/random-init-s0.safetensors --name random-init ...

The same seed gives a byte-identical file (and so the same checksum).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from cola_hear import ColaModel, ModelConfig, save_weights
from cola_hear.weights import read_config


def random_init_model(seed: int = 0, like: str | Path | ModelConfig | None = None) -> ColaModel:
    """The one random-init model of the project (baselines, fine-tuning from scratch, benchmarks): seeded,
    with the config of ``like`` (a weights file or a config; default: the default model)."""
    if isinstance(like, ModelConfig):
        config, source = like, {}
    else:
        config, source = (read_config(like), {"config_from": Path(like).name}) if like else (ModelConfig(), {})
    provenance = {"kind": "random-init", "seed": seed, **source}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ColaModel(dataclasses.replace(config, provenance=provenance))


def write_random_init_weights(path: str | Path, seed: int = 0, like: str | Path | None = None) -> Path:
    """Write the seeded random-init weights file (float32) and return its path."""
    return save_weights(random_init_model(seed, like), path)
