"""The GPU check, ready for the first time a GPU is lent: ``scripts/gpu_check.sh OUT_DIR`` (or ``$OUT``).

In at most about 8 minutes on one GPU it measures, into ``OUT_DIR/gpu_check.csv`` (and ``.md``):

1. the training step (``cola_pretrain.step.train_step``) at batch 256 and 1024: fp32, bf16 autocast with
   channels_last, and that with ``torch.compile``; pairs/s and peak GPU memory;
2. ``torchrun --nproc_per_node=<GPUs>`` (NCCL) for a few steps of the real training loop; every rank's
   weights digest must be the same;
3. HEAR scene and timestamp throughput of the shipped weights on the device.

Without a GPU the same code runs on the CPU with small sizes (the CPU fallback: 2 gloo processes, no
compile), so the script is exercised and tested where no GPU is; those rows say "CPU fallback".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.gpu import step_rows
from benchmarks.hear_speed import run_case
from benchmarks.inputs import generated_audio
from benchmarks.table import REPO_ROOT, Row, format_table, machine_rows, markdown_table, ratio, write_csv
from cola_hear.atomic import atomic_write_text

log = logging.getLogger("benchmarks.gpu_check")

SECTION_STEP, SECTION_DDP, SECTION_HEAR = "gpu step", "gpu torchrun", "gpu hear"


@dataclass(frozen=True)
class CheckSizes:
    """How much work each part does: the GPU sizes, or the CPU fallback's."""

    batches: tuple[int, ...] = (256, 1024)
    steps: int = 20
    warmup: int = 5
    compile: bool = True
    ddp_processes: int = 1
    ddp_steps: int = 10
    ddp_batch: int = 256
    hear_clips: int = 10
    hear_seconds: float = 60.0


CPU_FALLBACK = CheckSizes(batches=(4,), steps=1, warmup=1, compile=False, ddp_processes=2, ddp_steps=2,
                          ddp_batch=4, hear_clips=1, hear_seconds=3.0)  # fmt: skip


def sizes_for(device: str) -> CheckSizes:
    return CheckSizes(ddp_processes=torch.cuda.device_count()) if device == "cuda" else CPU_FALLBACK


def check_step_rows(sizes: CheckSizes, device: str) -> list[Row]:
    """Pairs/s and peak GPU memory of the training step for every batch and variant (``benchmarks.gpu``)."""
    return step_rows(SECTION_STEP, sizes.batches, sizes.steps, sizes.warmup, device, sizes.compile)[0]


def ddp_rows(sizes: CheckSizes, device: str, work: Path) -> list[Row]:
    """The real training loop under torchrun; every rank must end with the same weights digest."""
    data = generated_audio(work / "ddp-audio", 60.0)
    out = work / "ddp"
    n = sizes.ddp_processes
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--standalone", "--nproc_per_node", str(n), "-m", "benchmarks.ddp_check",
               str(data), str(out), str(sizes.ddp_steps), str(sizes.ddp_batch), device]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n))}
    log.info("[gpu torchrun] %d process(es), %d steps, batch %d on %s", n, sizes.ddp_steps, sizes.ddp_batch, device)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"torchrun failed (exit {result.returncode}): {result.stderr[-2000:]}")
    digests = [json.loads((out / f"rank{r}.json").read_text())["digest"] for r in range(n)]
    identical = len(set(digests)) == 1
    backend = "nccl" if device == "cuda" else "gloo"
    note = f"{backend}; digest {digests[0][:12]}" + ("" if n > 1 else "; one process: nothing to compare")
    return [
        Row(SECTION_DDP, f"{n} process(es) x batch {sizes.ddp_batch}, {sizes.ddp_steps} steps", wall, "s",
            notes=f"{backend}; wall time including start-up"),
        Row(SECTION_DDP, "ranks end with identical weights", "yes" if identical else "NO", notes=note),
    ]  # fmt: skip


def hear_rows(sizes: CheckSizes, weights: str) -> list[Row]:
    """HEAR throughput on the device ``load_model`` picks (CUDA when available), against the plain front end."""
    from benchmarks.hear_speed import YARDSTICK, Case

    batch = f"{sizes.hear_clips} x {sizes.hear_seconds:g} s"
    cases = [Case(f"{YARDSTICK} (torchaudio, CPU) {batch}", YARDSTICK, sizes.hear_clips, sizes.hear_seconds),
             Case(f"scene {batch}", "scene", sizes.hear_clips, sizes.hear_seconds),
             Case(f"timestamp shared {batch}", "timestamp", sizes.hear_clips, sizes.hear_seconds)]  # fmt: skip
    rows = []
    for case in cases:
        log.info("[gpu hear] %s", case.name)
        r = run_case(case, weights)
        notes = (
            f"{r['precision']}, {r['mode']}; ratio vs the plain front end (CPU) on the same audio in the same process"
        )
        rows.append(Row(SECTION_HEAR, case.name, r["x_realtime"], "x real time",
                        ratio(r["x_realtime"], r["yardstick_x_realtime"]), notes))  # fmt: skip
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check",
        allow_abbrev=False,
        description="Training step, torchrun and HEAR throughput on the GPU (CPU fallback).",
    )
    p.add_argument("out_dir", nargs="?", type=Path, help="folder for gpu_check.csv and .md (default: $OUT)")
    p.add_argument("--weights", default="", help="cola_hear weights for the HEAR rows (default: the shipped ones)")
    p.add_argument(
        "--device",
        choices=("auto", "cuda", "cpu"),
        default="auto",
        help="cuda, or cpu for the small CPU fallback (default: cuda when available)",
    )
    return p  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out_dir = args.out_dir or (Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    if out_dir is None:
        log.error("give an output folder (positional) or set $OUT")
        return 2
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        log.error("--device cuda, but CUDA is not available here")
        return 2
    sizes = sizes_for(device)
    started = time.perf_counter()
    rows = machine_rows("start")
    rows.append(Row("machine", "command", " ".join(["python -m benchmarks.gpu_check", *(argv or sys.argv[1:])])))
    rows.append(Row("machine", "check", "GPU" if device == "cuda" else "CPU fallback", notes=str(sizes)))
    failed = []
    with tempfile.TemporaryDirectory(prefix="cola-gpu-check-") as tmp:
        parts = (
            ("step", lambda: check_step_rows(sizes, device)),
            ("torchrun", lambda: ddp_rows(sizes, device, Path(tmp))),
            ("hear", lambda: hear_rows(sizes, args.weights)),
        )
        for name, part in parts:
            try:
                rows += part()
            except Exception as exc:  # one failing part must not hide the others
                log.exception("part %s failed", name)
                rows.append(Row(f"gpu {name}", "failed", f"failed: {type(exc).__name__}", notes=str(exc)[-300:]))
                failed.append(name)
    rows += machine_rows("end")
    rows.append(Row("machine", "check wall time", time.perf_counter() - started, "s"))
    print(format_table(rows))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "gpu_check.csv")
    atomic_write_text(out_dir / "gpu_check.md", "# GPU check\n\nGenerated by `scripts/gpu_check.sh`; do not edit "
                      "by hand.\n\n" + markdown_table(rows) + "\n")  # fmt: skip
    identical = [r for r in rows if r.item == "ranks end with identical weights"]
    if failed or any(r.value != "yes" for r in identical):
        log.error("the check failed: %s", ", ".join(failed) or "ranks differ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
