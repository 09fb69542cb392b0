"""Timing of the training step on synthetic audio: pairs per second at a given batch size."""

from __future__ import annotations

import time
from typing import Any

import torch

from cola_pretrain.config import PretrainConfig
from cola_pretrain.distributed import resolve_device
from cola_pretrain.sampling import PairBatch, crop_samples
from cola_pretrain.step import build_module, compile_module, make_optimizer, to_channels_last, train_step, use_bf16


def benchmark_step(config: PretrainConfig, steps: int = 5, warmup: int = 2) -> dict[str, Any]:
    """Run ``warmup`` + ``steps`` real training steps (model, objective, Adam) on noise; time the last ``steps``."""
    if steps < 1 or warmup < 0:
        raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps}, {warmup}")
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)
    module = build_module(config).to(device)
    if config.train.channels_last:
        to_channels_last(module)
    optimizer = make_optimizer(module, config.optim)
    trained = compile_module(module) if config.train.compile else module
    bf16 = use_bf16(config.train.amp, device)
    b, n = config.train.batch_size, crop_samples(config.frontend)
    batch = PairBatch(0, 0.05 * torch.randn(b, n), 0.05 * torch.randn(b, n), None)
    module.train()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        loss, _ = train_step(trained, optimizer, [batch], device, bf16)
        loss.item()  # wait for the device
        if i >= warmup:
            times.append(time.perf_counter() - start)
    total = sum(times)
    return {
        "batch_size": b,
        "steps": steps,
        "seconds_per_step": round(total / steps, 4),
        "pairs_per_s": round(b * steps / total, 2),
        "device": str(device),
        "bf16": bf16,
        "channels_last": config.train.channels_last,
        "compile": config.train.compile,
        "threads": torch.get_num_threads(),
        "objective": config.objective.name,
        "encoder": config.encoder.name,
        "segment_frames": config.frontend.segment_frames,
    }
