"""Section 4: the training step on one GPU at batch 256: fp32, bf16 + channels_last, and with ``torch.compile``.

Measured only when ``torch.cuda.is_available()``; otherwise every row says "not measured (no GPU)".
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

import torch

from benchmarks.settings import Settings
from benchmarks.table import NOT_MEASURED_NO_GPU, Row, cpu_bf16, ratio, verdict
from benchmarks.train_speed import step_config
from cola_pretrain.distributed import resolve_device
from cola_pretrain.sampling import PairBatch, crop_samples
from cola_pretrain.step import build_module, make_optimizer, to_channels_last, train_step, use_bf16

log = logging.getLogger(__name__)

SECTION = "4 gpu"
GPU_TARGET = 5000.0  # pairs/s on one H100 (issue 6)


@dataclass(frozen=True)
class Variant:
    name: str
    amp: str  # "off" | "bf16"
    channels_last: bool
    compile: bool


VARIANTS = (
    Variant("fp32", "off", False, False),
    Variant("bf16 autocast + channels_last", "bf16", True, False),
    Variant("bf16 autocast + channels_last + torch.compile", "bf16", True, True),
)


class UtilisationSampler:
    """Samples ``torch.cuda.utilization()`` (percent, via NVML) in a thread while it is open."""

    def __init__(self, device: torch.device, every_s: float = 0.1) -> None:
        self.device = device
        self.every_s = every_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-utilisation", daemon=True)

    def __enter__(self) -> UtilisationSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.samples.append(float(torch.cuda.utilization(self.device)))
            except Exception:  # NVML missing or unsupported: no utilisation figure
                return

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def measure_step(
    variant: Variant, batch: int, steps: int, warmup: int, device: str = "cuda"
) -> tuple[float, float | None]:
    """Pairs/s of the real training step (``cola_pretrain.step.train_step``) and the mean GPU utilisation."""
    config = step_config(batch, variant.amp, device, variant.channels_last)
    target = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)
    module = build_module(config).to(target)
    if variant.channels_last:
        to_channels_last(module)
    optimizer = make_optimizer(module, config.optim)
    trained = torch.compile(module) if variant.compile else module
    bf16 = use_bf16(config.train.amp, target)
    n = crop_samples(config.frontend)
    batch_data = PairBatch(0, 0.05 * torch.randn(batch, n), 0.05 * torch.randn(batch, n), None)
    trained.train()
    for _ in range(warmup):
        train_step(trained, optimizer, [batch_data], target, bf16)[0].item()
    sampler = UtilisationSampler(target) if target.type == "cuda" else None
    with sampler or contextlib.nullcontext():
        start = time.perf_counter()
        for _ in range(steps):
            loss, _ = train_step(trained, optimizer, [batch_data], target, bf16)
        loss.item()  # wait for the device
        elapsed = time.perf_counter() - start
    return batch * steps / elapsed, sampler.mean if sampler is not None else None


def step_rows(
    section: str, batches: tuple[int, ...], steps: int, warmup: int, device: str = "cuda", compile: bool = True
) -> tuple[list[Row], dict[str, tuple[float, float | None]]]:
    """Rows of the training step for every batch and variant on ``device`` (pairs/s, ratio vs fp32, the
    target on CUDA, utilisation, peak GPU memory); also ``{item: (pairs/s, utilisation)}`` of those measured.

    Used by section 4 and by the GPU check (``benchmarks.gpu_check``, which also runs it as a CPU fallback).
    """
    cuda = device == "cuda"
    where = torch.cuda.get_device_name(0) if cuda else "CPU fallback: no target"
    rows, measured = [], {}
    for batch in batches:
        fp32 = None
        for v in VARIANTS:
            item = f"train step {v.name}, batch {batch}"
            if v.compile and not compile:
                rows.append(Row(section, item, "not measured (CPU fallback: no compile)"))
                continue
            if v.amp == "bf16" and not cuda and not cpu_bf16():
                rows.append(Row(section, item, "not measured (no CPU bf16)"))
                continue
            if cuda:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            log.info("[%s] %s on %s", section, item, where)
            try:
                rate, util = measure_step(v, batch, steps, warmup, device=device)
            except Exception as exc:  # e.g. out of memory, or torch.compile without a working compiler: go on
                log.warning("[%s]   failed: %s", section, exc)
                rows.append(Row(section, item, f"failed: {type(exc).__name__}", notes=str(exc)[:200]))
                continue
            measured[item] = (rate, util)
            fp32 = rate if v is VARIANTS[0] else fp32
            base = fp32 if v is not VARIANTS[0] else None
            notes = [
                where,
                *(["ratio vs fp32"] if base else []),
                *([verdict(rate, GPU_TARGET, " pairs/s")] if cuda else []),
            ]
            notes += [*([f"GPU utilisation {util:.0f} %"] if util is not None else []), "crops from the host"]
            rows.append(Row(section, item, rate, "pairs/s", ratio(rate, base), "; ".join(notes)))
            if cuda:
                rows.append(Row(section, f"peak GPU memory, {item}", torch.cuda.max_memory_allocated() / 2**20, "MB"))
    return rows, measured


def gpu_rows(settings: Settings) -> list[Row]:
    s = settings.sizes
    b = s.gpu_batch
    if not torch.cuda.is_available():
        return [Row(SECTION, f"train step {v.name}, batch {b}", NOT_MEASURED_NO_GPU) for v in VARIANTS] + [
            Row(SECTION, "GPU utilisation during the fastest step", NOT_MEASURED_NO_GPU)
        ]
    rows, measured = step_rows(SECTION, (b,), s.gpu_steps, s.gpu_warmup)
    if measured:
        fastest = max(measured, key=lambda item: measured[item][0])
        note = f"{fastest}; mean of torch.cuda.utilization() samples"
        rows.append(Row(SECTION, "GPU utilisation during the fastest step", measured[fastest][1], "%", None, note))
    return rows
