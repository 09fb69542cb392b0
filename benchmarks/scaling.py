"""Section 5: pretraining pairs/s with 1 and 2 processes under ``torchrun`` (gloo on CPU, NCCL on GPUs).

Each run is the real ``python -m cola_pretrain`` training loop on generated audio; its rate comes from
the run's own ``log.csv`` (one row per step), leaving out the first steps (start-up).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.inputs import generated_audio
from benchmarks.settings import Settings
from benchmarks.table import REPO_ROOT, Row, ratio
from cola_pretrain.metrics_log import read_log

log = logging.getLogger(__name__)

SECTION = "5 scaling"


def threads_per_process(processes: int) -> int:
    """CPU threads per process so that the processes together use every core once."""
    return max(1, (os.cpu_count() or 1) // processes)


def scaling_device() -> str:
    """CUDA when there is a GPU for each of the 2 processes, else the CPU."""
    return "cuda" if torch.cuda.device_count() >= 2 else "cpu"


def run_torchrun(processes: int, data: Path, out: Path, batch: int, steps: int, timeout: float = 600.0) -> Path:
    """Train ``steps`` steps with ``processes`` processes; returns the run's ``log.csv``."""
    torchrun = Path(sys.executable).parent / "torchrun"
    threads = threads_per_process(processes)
    command = [
        str(torchrun), "--standalone", "--nproc_per_node", str(processes), "-m", "cola_pretrain",
        "--config", "default", "--data", str(data), "--out", str(out), "--cache-dir", str(out.parent / "cache"),
        "--max-steps", str(steps), "--batch-size", str(batch), "--device", scaling_device(), "--no-progress",
        "--set", "train.log_every=1", "--set", f"train.threads={threads}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun with {processes} process(es) failed: {result.stderr[-3000:]}")
    return out / "log.csv"


def log_rate(path: Path, skip: int) -> float:
    """Pairs/s over the logged steps after the first ``skip`` (from the rows' per-step rates)."""
    rows = read_log(path)[skip:]
    if not rows:
        raise ValueError(f"{path}: no steps left after skipping {skip}")
    if any(r["pairs_per_s"] <= 0 for r in rows):
        raise ValueError(f"{path}: a logged rate is not positive")
    return len(rows) / sum(1.0 / r["pairs_per_s"] for r in rows)  # rows of one step each: total pairs / total time


def scaling_rows(settings: Settings) -> list[Row]:
    s = settings.sizes
    data = settings.work_dir / "scaling-audio"
    if not data.is_dir():
        generated_audio(data, settings.sizes.generated_seconds)
    backend = "nccl" if scaling_device() == "cuda" else "gloo"
    rows, rates = [], {}
    for processes in (1, 2):
        log.info("[5 scaling] %d process(es) under torchrun (%s), %d steps", processes, backend, s.ddp_steps)
        out = settings.work_dir / f"torchrun-{processes}"
        rate = log_rate(run_torchrun(processes, data, out, s.ddp_batch, s.ddp_steps), s.ddp_skip)
        rates[processes] = rate
        log.info("[5 scaling]   %.1f pairs/s", rate)
        threads = threads_per_process(processes)
        notes = f"{backend}; {threads} thread(s) per process; steps {s.ddp_skip + 1}-{s.ddp_steps} timed"
        if processes > 1:
            notes = f"ratio vs 1 process; {notes}"
        rows.append(
            Row(
                SECTION,
                f"{processes} process{'es' if processes > 1 else ''} x batch {s.ddp_batch}",
                rate,
                "pairs/s",
                ratio(rate, rates[1]) if processes > 1 else None,
                notes,
            )
        )
    return rows
