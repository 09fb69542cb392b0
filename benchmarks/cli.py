"""The benchmark command: every performance figure of issue 6 in one run, printed and written as CSV.

    python -m benchmarks                      # full run (< 10 minutes on 2 cores), writes results/benchmarks.csv
    python -m benchmarks --quick --out /tmp/bench.csv
    python -m benchmarks --sections 1,2 --weights runs/x/model.safetensors

See benchmarks/README.md for what each figure means and the targets.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.settings import DEFAULT_SECTIONS, QUICK, SECTIONS, Settings, Sizes
from benchmarks.table import (
    REPO_ROOT,
    Row,
    cpu_bf16,
    format_table,
    machine_rows,
    markdown_table,
    shown_path,
    write_csv,
)
from cola_hear.atomic import atomic_write_text

log = logging.getLogger("benchmarks")

DEFAULT_OUT = REPO_ROOT / "results" / "benchmarks.csv"
DEFAULT_POOL = REPO_ROOT / "data" / "pool"
DEFAULT_EVAL_CACHE = REPO_ROOT / "runs" / "eval" / "cache"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="python -m benchmarks",
        description="Measure HEAR embedding, pretraining, data-loading, GPU, scaling and evaluation speed in one run.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run that checks the code (< 2 minutes)")
    p.add_argument(
        "--sections",
        default=",".join(map(str, DEFAULT_SECTIONS)),
        help="comma-separated sections (default %(default)s): " + "; ".join(f"{k} {v}" for k, v in SECTIONS.items()),
    )
    p.add_argument("--weights", type=Path, help="cola_hear weights file (default: the shipped one, else random init)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"CSV to write (default {DEFAULT_OUT})")
    p.add_argument("--pool", type=Path, help=f"audio folder for data loading (default {DEFAULT_POOL} if it exists)")
    p.add_argument("--tasks-dir", type=Path, help="HEAR tasks folder for the evaluation (default: the built suite)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="also profile our training step and the HEAR calls (torch.profiler) into <out>-profile.txt and "
        "<out>-profile-hear.txt next to the CSV",
    )
    p.add_argument("--eval-cache-dir", type=Path, default=DEFAULT_EVAL_CACHE, help="embedding cache of the evaluation")
    return p


def parse_sections(text: str) -> list[int]:
    try:
        sections = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise ValueError(f"--sections must be numbers separated by commas, got {text!r}") from exc
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        raise ValueError(f"unknown section(s) {unknown or text!r}; known: {sorted(SECTIONS)}")
    return sections


def choose_weights(given: Path | None, work_dir: Path) -> tuple[Path, str]:
    """The weights file to embed with and how it was chosen."""
    from cola_hear.hear import default_weights_path

    if given is not None:
        if not given.is_file():
            raise ValueError(f"weights file not found: {given}")
        return given, "given"
    if default_weights_path().is_file():
        return default_weights_path(), "shipped default"
    from benchmarks.inputs import random_weights

    return random_weights(work_dir / "random-init.safetensors"), "random init (seed 0; no shipped default)"


@dataclass
class StepRate:
    """The training step's pairs/s that the data-loading section compares with (set by section 2)."""

    pairs_per_s: float | None = None
    note: str = ""


def section_rows(number: int, settings: Settings, step: StepRate) -> list[Row]:
    """The rows of one section (imports are local: each section needs only its own packages)."""
    if number == 1:
        from benchmarks.hear_speed import hear_rows

        return hear_rows(settings)
    if number == 2:
        from benchmarks.train_speed import train_rows

        rows, best = train_rows(settings)
        step.pairs_per_s, step.note = best, f"our best CPU step at batch {settings.sizes.train_batch}, section 2"
        return rows
    if number == 3:
        from benchmarks.loading import loading_rows

        _time_step(settings, step, "3 loading")
        return loading_rows(settings, step.pairs_per_s, step.note)
    if number == 4:
        from benchmarks.gpu import gpu_rows

        return gpu_rows(settings)
    if number == 5:
        from benchmarks.scaling import scaling_rows

        return scaling_rows(settings)
    if number == 6:
        from benchmarks.evaluation import eval_rows

        return eval_rows(settings)
    if number == 7:
        from benchmarks.quality import quality_rows

        return quality_rows(settings)
    if number == 8:
        from benchmarks.corpus import corpus_rows

        _time_step(settings, step, "8 corpus")
        return corpus_rows(settings, step.pairs_per_s, step.note)
    raise ValueError(f"unknown section {number}")


def _time_step(settings: Settings, step: StepRate, section: str) -> None:
    """Time our training step for a loader comparison, unless section 2 did in this run."""
    if step.pairs_per_s is None:
        from benchmarks.train_speed import our_step

        amp, s = ("bf16" if cpu_bf16() else "off"), settings.sizes
        log.info("[%s] timing our training step (%s) for the comparison", section, amp)
        step.pairs_per_s = our_step(s.train_batch, amp, s.train_steps, s.train_warmup)
        step.note = f"our step, {amp}, batch {s.train_batch}"


def run_sections(sections: list[int], settings: Settings) -> tuple[list[Row], list[int]]:
    """Run the sections in order; a failing section gives a 'failed' row and the others still run."""
    rows: list[Row] = []
    failed: list[int] = []
    step = StepRate()
    for number in sections:
        name = f"{number} {SECTIONS[number]}"
        log.info("== section %s", name)
        start = time.perf_counter()
        try:
            rows += section_rows(number, settings, step)
        except Exception as exc:  # one broken section must not hide the others' figures
            log.exception("section %s failed", name)
            reason = " ".join(str(exc).split())[-300:]  # the end of a subprocess's stderr says most
            rows.append(Row(f"{number} failed", SECTIONS[number], f"failed: {type(exc).__name__}", "", None, reason))
            failed.append(number)
        log.info("== section %s took %.1f s", name, time.perf_counter() - start)
    return rows, failed


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        sections = parse_sections(args.sections)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cola-bench-") as tmp:
        work_dir = Path(tmp)
        try:
            weights, weights_note = choose_weights(args.weights, work_dir)
        except ValueError as exc:
            log.error("%s", exc)
            return 2
        from benchmarks.evaluation import default_tasks_dir

        pool = args.pool or (DEFAULT_POOL if DEFAULT_POOL.is_dir() else None)
        if pool is not None and not pool.is_dir():
            log.error("pool folder not found: %s", pool)
            return 2
        settings = Settings(
            sizes=QUICK if args.quick else Sizes(),
            quick=args.quick,
            weights=weights,
            work_dir=work_dir,
            pool=pool,
            tasks_dir=args.tasks_dir or default_tasks_dir(args.quick),
            eval_cache_dir=args.eval_cache_dir,
            profile_out=args.out.with_name(f"{args.out.stem}-profile.txt") if args.profile else None,
        )
        rows = machine_rows("start")
        rows.append(Row("machine", "run", "quick" if args.quick else "full", notes=f"sections {args.sections}"))
        command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
        rows.append(Row("machine", "command", command))
        rows.append(Row("machine", "weights", weights_note, notes=shown_path(weights)))
        section_rows, failed = run_sections(sections, settings)
    rows += section_rows + machine_rows("end")
    rows.append(Row("machine", "benchmark wall time", time.perf_counter() - started, "s"))
    print(format_table(rows))
    path = write_csv(rows, args.out)
    markdown = atomic_write_text(
        args.out.with_suffix(".md"),
        "# Benchmarks\n\nGenerated by `python -m benchmarks` (see benchmarks/README.md); do not edit by hand.\n\n"
        + markdown_table(rows)
        + "\n",
    )
    log.info("wrote %s and %s", path, markdown)
    if failed:
        log.error("section(s) %s failed; see the rows marked 'failed'", ", ".join(map(str, failed)))
        return 1
    return 0
