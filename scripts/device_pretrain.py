"""One pretraining run on a lent GPU machine: ``scripts/device_pretrain.sh OUT_DIR`` (or ``$OUT``).

Trains ``pretrain/configs/gpu.toml`` on the compact pool (``data/compact``, ``cola-pretrain compact``) for
what is left of a wall-clock budget (``--minutes``, the whole script's, set-up included), optionally
starting from weights an earlier run brought back (``--init``, ``train.init_weights``), and writes into
OUT at most 8 files, none over 16 MiB (what such a machine sends back):

- ``log.csv``: the run's log (loss, accuracy, lr, pairs/s, drift every ``log_every`` steps);
- ``summary.json``: the machine, the timings, the run's own summary, the compact pool's identity and the
  weights files below;
- ``final-stepNNNNNN-pairsP.safetensors`` and up to 5 ``stepNNNNNN-pairsP.safetensors``: float16 weights of
  the last step and of the checkpoints nearest to 250k, 500k, 1M, 1.5M and 2M pairs seen (those the run
  reached), each loadable by ``cola_hear.load_model(path)``.

The audio cache and the run folder (checkpoints with Adam state, too large to come back) live in
``--work``. Without CUDA, or with ``--cpu-smoke``, the same code runs tiny settings on the CPU (batch 8, a
few steps), so the script is exercised and tested where no GPU is.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cola_common.provenance import git_commit
from cola_hear.atomic import atomic_write_text
from cola_pretrain.audio_cache import build_pool
from cola_pretrain.checkpoint import export_checkpoint, list_checkpoints
from cola_pretrain.compact import read_json_object
from cola_pretrain.config import PretrainConfig, load_config
from cola_pretrain.train import run_training

log = logging.getLogger("device_pretrain")

ROOT = Path(__file__).resolve().parents[1]
MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2**20  # what comes back from $OUT
MAX_CHECKPOINT_EXPORTS = 5


@dataclass(frozen=True)
class RunSizes:
    """The budget and settings of one kind of run: the GPU's, or the CPU fallback's."""

    minutes: float  # the whole script's wall-clock budget, set-up included
    reserve_minutes: float  # kept for the final checkpoint, the exports and summary.json
    milestones: tuple[int, ...]  # pairs seen: the checkpoints nearest to these are exported
    overrides: dict[str, Any] = field(default_factory=dict)


GPU = RunSizes(minutes=8.0, reserve_minutes=0.75, milestones=(250_000, 500_000, 1_000_000, 1_500_000, 2_000_000))
CPU_SMOKE = RunSizes(
    minutes=3.0,
    reserve_minutes=0.5,
    milestones=(8, 16, 24),
    overrides={"train.batch_size": 8, "train.max_steps": 4, "train.checkpoint_every": 1, "train.log_every": 1,
               "train.amp": "off", "optim.warmup_steps": 2, "data.decode_workers": 2, "data.prefetch": 1},
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/device_pretrain.sh",
        allow_abbrev=False,
        description="Pretrain gpu.toml on the compact pool for a wall-clock budget; write log.csv, summary.json "
        "and float16 weights (final step, checkpoints nearest to pair milestones) into OUT_DIR.",
    )
    p.add_argument("out_dir", nargs="?", type=Path, help="folder for what comes back (default: $OUT)")
    p.add_argument("--data", default="data/compact", help="the pool to train on (default: data/compact)")
    p.add_argument("--init", metavar="WEIGHTS", help="start from these weights (train.init_weights)")
    p.add_argument("--minutes", type=float, help="wall-clock budget of the whole script (default: 8 on a GPU)")
    p.add_argument("--config", default="gpu", help="training config (default: gpu)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="any config override")
    p.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/cola-device-pretrain"),
        help="audio cache and run folders (default /tmp/cola-device-pretrain; never under OUT)",
    )
    p.add_argument("--commit", help="the checkout's commit, for the record (the GPU machine gets no .git)")
    p.add_argument("--cpu-smoke", action="store_true", help="tiny CPU settings even where CUDA is available")
    return p  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    started = float(os.environ.get("COLA_DEVICE_T0") or time.time())  # the shell's start: set-up counts
    out_dir = args.out_dir or (Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    if out_dir is None:
        log.error("give an output folder (positional) or set $OUT")
        return 2
    gpu = torch.cuda.is_available() and not args.cpu_smoke
    sizes = GPU if gpu else CPU_SMOKE
    minutes = args.minutes or sizes.minutes
    environment = machine(args.commit, "GPU" if gpu else "CPU fallback")
    log.info("environment: %s", json.dumps(environment))
    from cola_hear.config import parse_override

    overrides = {**sizes.overrides, **dict(parse_override(text) for text in args.set)}
    if args.init:
        overrides["train.init_weights"] = str(args.init)
    run_dir = args.work / time.strftime("run-%Y%m%d-%H%M%S")
    overrides |= {"data.folders": [args.data], "data.cache_dir": str(args.work / "cache"), "train.progress": False,
                  "train.out_dir": str(run_dir), "train.device": "cuda" if gpu else "cpu"}  # fmt: skip
    config = load_config(args.config, overrides)
    timings: dict[str, float] = {"setup_s": round(time.time() - started, 1)}
    error = None
    try:
        tick = time.time()
        data = config.data
        build_pool(data.folders, config.frontend.sample_rate, data.cache_dir, data.decode_workers, progress=False)
        timings["audio_cache_s"] = round(time.time() - tick, 1)
        train_minutes = max(0.1, minutes - sizes.reserve_minutes - (time.time() - started) / 60)
        config = config.replace({"train.max_minutes": round(train_minutes, 3)})
        log.info("training for %.2f minutes (budget %.2f, reserve %.2f)", train_minutes, minutes, sizes.reserve_minutes)
        tick = time.time()
        run_training(config)
        timings["train_s"] = round(time.time() - tick, 1)
    except Exception as exc:  # still bring back what the run wrote
        log.exception("the run failed")
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)[-3000:]}"
    tick = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = export_weights_files(config, run_dir, out_dir, sizes.milestones)
    if (run_dir / "log.csv").is_file():
        shutil.copyfile(run_dir / "log.csv", out_dir / "log.csv")
    timings["export_s"] = round(time.time() - tick, 1)
    timings["total_s"] = round(time.time() - started, 1)
    summary = {
        "environment": environment,
        "command": " ".join(["scripts/device_pretrain.sh", *(sys.argv[1:] if argv is None else argv)]),
        "budget_minutes": minutes,
        "timings": timings,
        "config": config.to_dict(),
        "data": compact_identity(Path(args.data)),
        "run": read_json_object(run_dir / "summary.json") or {},
        "weights": weights,
        "error": error,
    }
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    problems = check_out(out_dir)
    for problem in problems:
        log.error("%s", problem)
    log.info("done in %.0f s: %s", timings["total_s"], ", ".join(sorted(p.name for p in out_dir.iterdir())))
    return 1 if error or problems else 0


def export_weights_files(
    config: PretrainConfig, run_dir: Path, out_dir: Path, milestones: Sequence[int]
) -> list[dict[str, Any]]:
    """float16 weights of the last checkpoint and of those nearest to ``milestones`` (pairs seen) into OUT."""
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        return []
    global_batch = config.train.global_batch_size or config.train.batch_size  # one process
    final_step = found[-1][0]
    chosen = pick_checkpoints([s for s, _ in found], global_batch, milestones)
    paths = dict(found)
    written = []
    for step in [*chosen, final_step]:
        pairs = step * global_batch
        name = f"{'final-' if step == final_step else ''}step{step:06d}-pairs{pairs}.safetensors"
        path = export_checkpoint(paths[step], out_dir / name, dtype=torch.float16)
        written.append({"file": name, "step": step, "pairs": pairs, "bytes": path.stat().st_size})
        log.info("exported %s", name)
    return written


def pick_checkpoints(steps: Sequence[int], global_batch: int, milestones: Sequence[int]) -> list[int]:
    """The steps nearest to each milestone of pairs seen (milestones past the last step skipped; the last step
    itself is exported anyway), at most ``MAX_CHECKPOINT_EXPORTS``, in order."""
    if not steps:
        return []
    final = max(steps)
    earlier = [s for s in steps if s != final]
    chosen: list[int] = []
    for pairs in milestones:
        if pairs > final * global_batch or not earlier:
            continue
        step = min(earlier, key=lambda s: (abs(s * global_batch - pairs), s))
        if step not in chosen:
            chosen.append(step)
    return sorted(chosen)[:MAX_CHECKPOINT_EXPORTS]


def machine(commit: str | None, kind: str) -> dict[str, Any]:
    """What ran: the device, the software, the checkout."""
    import timm
    import torchaudio

    info: dict[str, Any] = {
        "run": kind,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": str(torch.__version__),
        "torchaudio": str(torchaudio.__version__),
        "timm": str(timm.__version__),
        "cuda": torch.version.cuda,
        "commit": commit or git_commit(ROOT) or "unknown (no git checkout here; pass --commit)",
    }
    try:
        import soundfile

        info["soundfile"] = f"{soundfile.__version__} (libsndfile {soundfile.__libsndfile_version__})"
    except ImportError as exc:
        info["soundfile"] = f"missing: {exc}"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                 "gpus": torch.cuda.device_count(), "cudnn": torch.backends.cudnn.version()}  # fmt: skip
    return info


def compact_identity(folder: Path) -> dict[str, Any]:
    """Name, checksum, size and settings of a compact pool (its manifest.json), without the file list."""
    manifest = read_json_object(folder / "manifest.json") or {}
    keep = ("name", "sha256", "num_files", "total_hours", "total_mb", "settings", "from_pool")
    return {"folder": str(folder), **{k: manifest[k] for k in keep if k in manifest}}


def check_out(out_dir: Path) -> list[str]:
    """What would not come back from OUT: too many files, a file too large."""
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    sizes = {p: p.stat().st_size for p in files}
    problems = [f"{p.name} is {n / 2**20:.1f} MiB (over 16)" for p, n in sizes.items() if n > MAX_FILE_BYTES]
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files in {out_dir} (at most {MAX_FILES} come back)")
    return problems


if __name__ == "__main__":
    sys.exit(main())
