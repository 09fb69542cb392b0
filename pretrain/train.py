"""The pretraining loop: data, model, Adam, logs, budget, checkpoints, resume, export.

``run_training(config)`` runs in one process, or in every process that ``torchrun``
starts (each rank samples its own batch; DistributedDataParallel averages gradients;
rank 0 writes logs, checkpoints and the exported weights). Layout of ``train.out_dir``::

    config.toml          the resolved config of the run
    data_manifest.json   every file used or skipped, durations, manifest hash
    log.csv              step, loss, accuracy, lr, pairs_per_s, elapsed_s, drift_<stage> (pretrain/drift.py)
    init_encoder.safetensors  the encoder weights the run started from (the drift reference)
    tensorboard/         the same, when tensorboard is installed
    checkpoints/         step-NNNNNNNN.pt, the newest ``train.keep_checkpoints``
    model.safetensors    the exported encoder + front end (cola_hear weights format)
    summary.json         steps, final loss/accuracy, why the run stopped, skipped files
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from cola_common.provenance import git_commit
from cola_hear.atomic import atomic_write_text
from cola_hear.config import ConfigError
from cola_pretrain.audio_cache import AudioPool, SkippedFile, build_pool, log_skipped
from cola_pretrain.checkpoint import export_weights, list_checkpoints, save_checkpoint
from cola_pretrain.config import PretrainConfig, dump_toml
from cola_pretrain.distributed import Distributed, setup_distributed
from cola_pretrain.drift import REFERENCE_FILE, DriftMeter, drift_columns
from cola_pretrain.large_batch import (
    accumulation_steps,
    gather_positives,
    lr_at,
    scaled_lr,
    use_sync_batchnorm,
)
from cola_pretrain.loader import open_batches
from cola_pretrain.metrics_log import MetricsLog, MetricWindow
from cola_pretrain.shards import ShardPool, open_shard_pool
from cola_pretrain.signals import StopRequest, stop_requests
from cola_pretrain.start import checkpoint_global_batch, find_checkpoint, init_from_weights
from cola_pretrain.step import (
    PretrainModule,
    build_module,
    compile_module,
    make_optimizer,
    step_seed,
    to_channels_last,
    train_step,
    use_bf16,
)

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoints"


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""


@dataclass
class TrainResult:
    """What a run did. ``module`` is this process's trained model and heads."""

    out_dir: Path
    start_step: int
    steps: int
    stopped_by: str
    history: list[dict[str, float]]
    weights: Path | None
    checkpoint: Path | None
    skipped: list[SkippedFile]
    module: PretrainModule
    data_summary: dict[str, Any] = field(default_factory=dict)
    signum: int = 0  # the signal that stopped the run (``stopped_by == "signal"``), else 0

    @property
    def final_loss(self) -> float:
        return self.history[-1]["loss"] if self.history else math.nan

    @property
    def final_accuracy(self) -> float:
        return self.history[-1]["accuracy"] if self.history else math.nan


def run_training(config: PretrainConfig, resume: bool = False) -> TrainResult:
    """Train ``config`` (in this process and, under ``torchrun``, its peers); see the module docstring."""
    if config.train.max_steps is None and config.train.max_minutes is None:
        raise ConfigError("no budget: set train.max_steps and/or train.max_minutes (--max-steps/--max-minutes)")
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    dist = setup_distributed(config.train.device)
    try:
        return _Trainer(config, dist).run(resume)
    finally:
        dist.close()


class _Trainer:
    def __init__(self, config: PretrainConfig, dist: Distributed) -> None:
        self.config = config
        self.dist = dist
        self.device = dist.device
        self.out_dir = Path(config.train.out_dir)
        self.checkpoints = self.out_dir / CHECKPOINT_DIR
        self.progress = config.train.progress and dist.is_main
        self.bf16 = use_bf16(config.train.amp, self.device)
        self.history: list[dict[str, float]] = []
        self.elapsed_before = 0.0
        self.started: float | None = None  # monotonic time the loop started
        self.stop = StopRequest()  # set by SIGINT/SIGTERM while the loop runs (pretrain/signals.py)
        self.git_commit = git_commit()  # HEAD, +dirty when a tracked file differs
        self.init_from: dict[str, Any] | None = None  # provenance of train.init_weights, when used
        self.drift: DriftMeter | None = None  # distance of the encoder from its starting weights
        self.encoder: torch.nn.Module | None = None  # the encoder being trained (unwrapped)
        tc = config.train
        self.accumulation = accumulation_steps(tc.global_batch_size, tc.batch_size, dist.world_size)
        self.global_batch = tc.batch_size * dist.world_size * self.accumulation
        self.peak_lr = scaled_lr(config.optim, self.global_batch)

    # -- set-up -------------------------------------------------------------------------------------------------
    def run(self, resume: bool) -> TrainResult:
        cfg = self.config
        state = find_checkpoint(self.checkpoints, self.config.to_dict(), resume)
        if cfg.train.sync_batchnorm and self.dist.enabled and self.device.type != "cuda":
            raise ConfigError("train.sync_batchnorm needs CUDA (torch's SyncBatchNorm runs on GPUs only)")
        pool = self._load_data()
        torch.manual_seed(cfg.train.seed)
        module = build_module(cfg)
        start_step = 0
        if state is not None:
            start_step = self._restore_module(module, state, pool)
        elif cfg.train.init_weights:
            self.init_from = init_from_weights(module, cfg.train.init_weights)
        self.drift = self._drift_meter(module, fresh=state is None)
        self.encoder = module.model.encoder
        if cfg.train.sync_batchnorm and self.dist.enabled:
            module = use_sync_batchnorm(module)
        if cfg.train.gather_distractors and self.dist.enabled:
            module.gather = gather_positives
        module.to(self.device)
        if cfg.train.channels_last:
            to_channels_last(module)
        optimizer = make_optimizer(module, cfg.optim)
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
        del state
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out_dir / "config.toml", dump_toml(cfg))
            atomic_write_text(self.out_dir / "data_manifest.json", json.dumps(pool.manifest(), indent=1))
        trained = (
            DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            if self.dist.enabled
            else module
        )
        if cfg.train.compile:
            trained = compile_module(trained)
        log.info(
            "training %s objective, batch %d x %d process(es) x %d micro-batch(es) = %d pairs per step, a %d-way "
            "task, lr %.3g (warm-up %d steps), %s%s, from step %d (budget: %s)",
            cfg.objective.name,
            cfg.train.batch_size,
            self.dist.world_size,
            self.accumulation,
            self.global_batch,
            cfg.train.batch_size * (self.dist.world_size if module.gather is not None else 1),
            self.peak_lr,
            cfg.optim.warmup_steps,
            self.device,
            ", bf16 autocast" if self.bf16 else "",
            start_step,
            _budget_text(cfg),
        )
        metrics = (
            MetricsLog(
                self.out_dir,
                resume_step=start_step if start_step else None,
                extra=tuple(drift_columns(module.model.encoder)),
            )
            if self.dist.is_main
            else None
        )
        try:
            with stop_requests() as self.stop:
                step, stopped_by = self._loop(trained, module, optimizer, pool, start_step, metrics)
        finally:
            if metrics is not None:
                metrics.close()
        return self._finish(module, optimizer, pool, start_step, step, stopped_by)

    def _drift_meter(self, module: PretrainModule, fresh: bool) -> DriftMeter | None:
        """The drift reference: the starting encoder, saved by a fresh run and read back on resume."""
        if not self.dist.is_main:
            return None
        path = self.out_dir / REFERENCE_FILE
        if fresh:
            meter = DriftMeter.of(module.model.encoder)
            meter.save(path)
            return meter
        if path.is_file():
            return DriftMeter.load(path)
        log.warning("no %s in %s: the log has no drift columns for this run", REFERENCE_FILE, self.out_dir)
        return None

    def _load_data(self) -> AudioPool | ShardPool:
        data = self.config.data
        if data.shards:  # prepared shards: read the manifests only, no audio (pretrain/shards.py)
            pool = open_shard_pool(data.shards)
            log.info("data: %d shard(s), %d clips, %.2f h", len(pool.shards), pool.clips, pool.total_seconds / 3600)
            return pool
        cache_dir = data.cache_dir if data.cache else None
        if cache_dir is not None and self.dist.enabled and not self.dist.is_local_main:
            self.dist.barrier()  # wait for local rank 0 to fill the cache
        pool = build_pool(data.folders, self.config.frontend.sample_rate, cache_dir, data.decode_workers, self.progress)
        if cache_dir is not None and self.dist.enabled and self.dist.is_local_main:
            self.dist.barrier()
        log.info(
            "data: %d files, %.2f h of audio (manifest %s)",
            len(pool.names),
            pool.total_seconds / 3600,
            pool.manifest_hash[:12],
        )
        return pool

    def _restore_module(self, module: PretrainModule, state: dict[str, Any], pool: AudioPool | ShardPool) -> int:
        module.model.load_state_dict(state["model"])
        module.objective.load_state_dict(state["objective"])
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.history = list(state["provenance"].get("history_tail", []))
        self.init_from = state["provenance"].get("init_weights")
        old_world = state.get("world_size", 1)
        if old_world != self.dist.world_size:
            if self.config.train.global_batch_size is None:
                kept = checkpoint_global_batch(state)
                raise ConfigError(
                    f"the checkpoint was written by {old_world} process(es), this run has {self.dist.world_size}: "
                    "that changes the gradient batch. To resume anyway, keep the global batch with "
                    f"--set train.global_batch_size={kept}"
                    " (micro-batches are accumulated to reach it)"
                )
            log.warning(
                "the checkpoint was written by %d process(es), this run has %d: the global batch stays %d (%d "
                "micro-batch(es) per process and step); batches differ from an uninterrupted run",
                old_world,
                self.dist.world_size,
                self.global_batch,
                self.accumulation,
            )
        old_hash = state["provenance"].get("data", {}).get("manifest_sha256")
        if old_hash and old_hash != pool.manifest_hash:
            log.warning(
                "the data changed since the checkpoint (manifest %s -> %s)", old_hash[:12], pool.manifest_hash[:12]
            )
        return int(state["step"])

    # -- the loop -----------------------------------------------------------------------------------------------
    def _loop(
        self,
        trained: torch.nn.Module,
        module: PretrainModule,
        optimizer: torch.optim.Optimizer,
        pool: AudioPool | ShardPool,
        step: int,
        metrics: MetricsLog | None,
    ) -> tuple[int, str]:
        cfg, tc = self.config, self.config.train
        k = self.accumulation
        prefetch = open_batches(pool, cfg, self.dist.rank, self.dist.world_size, step * k, self.device.type == "cuda")
        self.started = time.monotonic()
        deadline = self.started + 60 * tc.max_minutes if tc.max_minutes else None
        window = MetricWindow(self.device, self.started)
        bar = tqdm(
            total=tc.max_steps,
            initial=step,
            unit="step",
            desc="pretraining",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        trained.train()
        stopped_by = "max_steps"
        try:
            while True:
                if tc.max_steps is not None and step >= tc.max_steps:
                    break
                out_of_time = deadline is not None and time.monotonic() >= deadline
                if self.dist.any(out_of_time or self.stop.requested):
                    stopped_by = "signal" if self.stop.requested else "max_minutes"
                    break
                micro = range(step * k, (step + 1) * k)  # micro-batch m: batch and torch seed of (seed, rank, m)
                loss, accuracy = train_step(
                    trained,
                    optimizer,
                    [prefetch.get(m) for m in micro],
                    self.device,
                    self.bf16,
                    lr=lr_at(step, self.peak_lr, cfg.optim.warmup_steps),
                    seeds=[step_seed(tc.seed, self.dist.rank, m) for m in micro],
                )
                step += 1
                window.add(loss, accuracy)
                if step % tc.log_every == 0:
                    self._log(window, step, optimizer, metrics, bar)
                if step % tc.checkpoint_every == 0:
                    self._checkpoint(module, optimizer, pool, step)
                bar.update(1)
        finally:
            prefetch.close()
            bar.close()
        if window.steps:
            self._log(window, step, optimizer, metrics, None)
        return step, stopped_by

    def _log(
        self,
        window: MetricWindow,
        step: int,
        optimizer: torch.optim.Optimizer,
        metrics: MetricsLog | None,
        bar: tqdm | None,
    ) -> None:
        loss, accuracy = self.dist.mean(window.sums()).tolist()
        now = time.monotonic()
        row = {
            "step": step,
            "loss": loss,
            "accuracy": accuracy,
            "lr": optimizer.param_groups[0]["lr"],
            "pairs_per_s": window.steps * self.global_batch / max(now - window.t0, 1e-9),
            "elapsed_s": round(self._elapsed(), 3),
        }
        if self.drift is not None and self.encoder is not None:
            row.update(self.drift(self.encoder))
        window.reset(now)
        if not math.isfinite(loss):
            raise TrainingError(
                f"the loss became {loss} at step {step}; lower optim.lr or check the data "
                f"(checkpoints in {self.checkpoints})"
            )
        self.history.append(row)
        if metrics is not None:
            metrics.write(row)
        if self.progress and bar is not None:
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{accuracy:.3f}", pairs_s=f"{row['pairs_per_s']:.0f}")
        elif self.dist.is_main and not self.progress:
            log.info("step %d: loss %.4f, accuracy %.3f, %.0f pairs/s", step, loss, accuracy, row["pairs_per_s"])

    # -- checkpoints and export ---------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        """Training seconds of the run so far, across resumed invocations."""
        return self.elapsed_before + (time.monotonic() - self.started if self.started is not None else 0.0)

    def _state(
        self, module: PretrainModule, optimizer: torch.optim.Optimizer, pool: AudioPool | ShardPool, step: int
    ) -> dict[str, Any]:
        return {
            "format": "cola-pretrain-checkpoint-v1",
            "step": step,
            "config": self.config.to_dict(),
            "model": module.model.state_dict(),
            "objective": module.objective.state_dict(),
            "optimizer": optimizer.state_dict(),
            "world_size": self.dist.world_size,
            "global_batch": self.global_batch,
            "elapsed_s": self._elapsed(),
            "provenance": self._provenance(pool, step),
        }

    def _checkpoint(
        self, module: PretrainModule, optimizer: torch.optim.Optimizer, pool: AudioPool | ShardPool, step: int
    ) -> Path | None:
        if not self.dist.is_main:
            return None
        path = save_checkpoint(
            self.checkpoints, self._state(module, optimizer, pool, step), keep=self.config.train.keep_checkpoints
        )
        log.debug("checkpoint %s", path)
        return path

    def _provenance(self, pool: AudioPool | ShardPool, step: int) -> dict[str, Any]:
        cfg = self.config
        last = self.history[-1] if self.history else {}
        provenance = {
            "producer": "cola-pretrain",
            "command": shlex.join(["cola-pretrain", *sys.argv[1:]]),
            "objective": cfg.objective.name,
            "steps": step,
            "seed": cfg.train.seed,
            "batch_size": cfg.train.batch_size,
            "world_size": self.dist.world_size,
            "global_batch": self.global_batch,
            "accumulation": self.accumulation,
            "gather_distractors": bool(cfg.train.gather_distractors and self.dist.enabled),
            "pairs_seen": step * self.global_batch,
            "final_loss": last.get("loss"),
            "final_accuracy": last.get("accuracy"),
            "history_tail": self.history[-5:],
            "data": pool.summary(),
            "init_weights": self.init_from,
            "config": cfg.to_dict(),
            "git_commit": self.git_commit,
            "torch": str(torch.__version__),
            "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        return json.loads(json.dumps(provenance))  # plain JSON types only (weights metadata, weights_only loading)

    def _finish(
        self,
        module: PretrainModule,
        optimizer: torch.optim.Optimizer,
        pool: AudioPool | ShardPool,
        start_step: int,
        step: int,
        stopped_by: str,
    ) -> TrainResult:
        weights = checkpoint = None
        self.dist.broadcast_buffers(module)
        if self.dist.is_main:
            existing = dict(list_checkpoints(self.checkpoints))
            state = self._state(module, optimizer, pool, step)
            checkpoint = existing.get(step) or save_checkpoint(
                self.checkpoints, state, self.config.train.keep_checkpoints
            )
            weights = export_weights(state, self.out_dir / WEIGHTS_FILE)
            summary = {
                "steps": step,
                "start_step": start_step,
                "stopped_by": stopped_by,
                "final_loss": state["provenance"]["final_loss"],
                "final_accuracy": state["provenance"]["final_accuracy"],
                "weights": str(weights),
                "checkpoint": str(checkpoint),
                "data": pool.summary(),
                "skipped": [{"name": s.name, "reason": s.reason} for s in pool.skipped],
            }
            atomic_write_text(self.out_dir / "summary.json", json.dumps(summary, indent=1))
            log.info("stopped at step %d (%s); weights: %s", step, stopped_by, weights)
            log_skipped(pool)
        self.dist.barrier()
        return TrainResult(
            self.out_dir,
            start_step,
            step,
            stopped_by,
            self.history,
            weights,
            checkpoint,
            list(pool.skipped),
            module,
            pool.summary(),
            self.stop.signum if stopped_by == "signal" else 0,
        )


def _budget_text(config: PretrainConfig) -> str:
    parts = []
    if config.train.max_steps is not None:
        parts.append(f"{config.train.max_steps} steps")
    if config.train.max_minutes is not None:
        parts.append(f"{config.train.max_minutes:g} min")
    return " or ".join(parts)
