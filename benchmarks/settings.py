"""Sizes of a benchmark run: the full run (under 10 minutes on 2 cores) and ``--quick`` (a smoke run)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sizes:
    """How much work each section does."""

    # 1. HEAR throughput
    clips: int = 10  # clips of ``clip_seconds`` per batch case
    clip_seconds: float = 60.0
    long_seconds: float = 1200.0  # the one long clip (20 minutes)
    scene_memory_seconds: float = 5400.0  # the clip whose scene embedding's memory is measured (90 minutes)
    windows_seconds: float = 60.0  # the clip on which mode="windows" and mode="shared" are compared
    short_clips: int = 300  # short sounds in one call, against one sound per call (the suite's clips are 1-6 s)
    short_seconds: float = 2.0
    # 2. training step on the CPU (ours and the seed article's model)
    train_batch: int = 128
    train_steps: int = 4
    train_warmup: int = 2
    train_compile: bool = True  # also time the step under torch.compile (compiling takes a minute or two)
    # 3. data loading
    loader_batches: int = 10  # batches of ``train_batch`` pairs from the cache
    fly_pairs: int = 128  # pairs decoded on the fly
    generated_seconds: float = 240.0  # audio in the generated folder (used when there is no pool)
    pool_subset_files: int = 400  # files taken from a pool that has no decoded-audio cache yet
    # 4. GPU
    gpu_batch: int = 256
    gpu_steps: int = 20
    gpu_warmup: int = 5
    # 5. scaling under torchrun
    ddp_batch: int = 64  # pairs per step and process
    ddp_steps: int = 8
    ddp_skip: int = 2  # first steps left out of the rate (start-up)
    # 6. evaluation
    eval_seeds: int = 3
    eval_tasks: int | None = None  # only the first tasks of the folder (None: all)


QUICK = Sizes(
    clips=2,
    clip_seconds=5.0,
    long_seconds=30.0,
    scene_memory_seconds=90.0,
    windows_seconds=5.0,
    short_clips=4,
    short_seconds=2.0,
    train_batch=8,
    train_steps=1,
    train_warmup=1,
    train_compile=False,
    loader_batches=3,
    fly_pairs=8,
    generated_seconds=20.0,
    pool_subset_files=20,
    gpu_batch=16,
    gpu_steps=2,
    gpu_warmup=1,
    ddp_batch=4,
    ddp_steps=3,
    ddp_skip=1,
    eval_seeds=1,
    eval_tasks=2,
)

SECTIONS = {
    1: "HEAR embedding throughput",
    2: "pretraining step throughput",
    3: "data loading",
    4: "GPU",
    5: "scaling under torchrun",
    6: "evaluation",
    7: "probe scores of the speed-ups: shared vs windows, bf16 vs fp32 (opt-in)",
    8: "corpus scale: start-up at 10k-1M clips, preparation, shard loader",
}
DEFAULT_SECTIONS = (1, 2, 3, 4, 5, 6, 8)


@dataclass(frozen=True)
class Settings:
    """Everything a section needs to know about the run."""

    sizes: Sizes
    quick: bool
    weights: Path  # a cola_hear weights file (given, or written at random init for the run)
    work_dir: Path  # temporary folder of the run
    pool: Path | None  # audio folder for the data-loading section (None: generated audio)
    tasks_dir: Path | None  # HEAR tasks for the evaluation section
    eval_cache_dir: Path  # embedding cache of the evaluation section
    profile_out: Path | None = None  # section 2's profile of our step, section 1's (``*-hear.txt``) beside it
