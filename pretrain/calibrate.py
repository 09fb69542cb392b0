"""The no-learning control: a network at its random initialisation with only its BatchNorm statistics taken
from a pool.

A randomly initialised CNN with calibrated BatchNorm is a strong audio feature extractor on its own, so
a claim that pretraining *learned* something compares the trained weights with this control, not with
the raw random init. ``calibrate_batchnorm`` builds the run's initial network exactly as training would
(``torch.manual_seed(train.seed)`` then the model), resets every BatchNorm's running statistics and
replaces them with the cumulative average over ``batches`` training batches (the same crops,
augmentations and train-mode forward pass as a training step, without gradients). No weight changes.

    cola-pretrain calibrate --config transfer --data data/pool --seed 0 --batches 100 --out control-s0.safetensors
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from cola_common.provenance import git_commit
from cola_hear import save_weights
from cola_pretrain.audio_cache import build_pool
from cola_pretrain.config import PretrainConfig
from cola_pretrain.sampling import PairSampler
from cola_pretrain.step import build_module, to_channels_last

log = logging.getLogger(__name__)


def batchnorm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``module``."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def calibrate_batchnorm(
    config: PretrainConfig, out: str | Path, batches: int = 100, dtype: torch.dtype = torch.float16
) -> Path:
    """Write the seed's initial network with BatchNorm statistics averaged over ``batches`` batches of
    ``config``'s data; returns the weights file. Every other tensor is the initial one, bit for bit."""
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it to calibrate again")
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    data = config.data
    pool = build_pool(data.folders, config.frontend.sample_rate, data.cache_dir if data.cache else None,
                      data.decode_workers, config.train.progress)  # fmt: skip
    sampler = PairSampler.for_run(pool, config)
    torch.manual_seed(config.train.seed)
    module = build_module(config)
    layers = batchnorm_layers(module.model)
    if not layers:
        raise ValueError(f"encoder {config.encoder.name} has no BatchNorm layer to calibrate")
    momenta = [bn.momentum for bn in layers]
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over every batch seen
    if config.train.channels_last:
        to_channels_last(module)
    module.train()
    for step in tqdm(range(batches), desc="BatchNorm statistics", unit="batch", disable=not config.train.progress):
        batch = sampler(step)
        module(batch.anchors, batch.positives, **batch.views())
    for bn, momentum in zip(layers, momenta, strict=True):
        bn.momentum = momentum
    module.model.eval()
    provenance: dict[str, Any] = {
        "kind": "batchnorm-control",
        "seed": config.train.seed,
        "batches": batches,
        "batch_size": config.train.batch_size,
        "pairs_seen": batches * config.train.batch_size,
        "pool_manifest": pool.manifest_hash,
        "pool_folders": [Path(f).name for f in data.folders],
        "git_commit": git_commit(),
        "config": config.to_dict(),
    }
    model = module.model
    model.config = dataclasses.replace(model.config, provenance=provenance)
    path = save_weights(model, out, dtype=dtype)
    log.info("wrote %s: seed %d at init, BatchNorm statistics of %d batches of %d pairs", path,
             config.train.seed, batches, config.train.batch_size)  # fmt: skip
    return path
