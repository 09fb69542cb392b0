"""Section 6: wall time of the linear-probe evaluation (``cola-eval probe --no-write``) with cached embeddings.

A first run fills the embedding cache when it is cold (timed and reported as such); the figure is
the run that probes every task from cached embeddings.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.settings import Settings
from benchmarks.table import REPO_ROOT, Row, shown_path

log = logging.getLogger(__name__)

SECTION = "6 eval"
TASK_DIR_CANDIDATES = ("data/suite/tasks", "data/suite", "data/suite-mini/tasks", "data/suite-mini")
# a summary line of cola-eval: "<task> <model> <metric> <mean> +- <std> (n=<runs>)"
SUMMARY_LINE = re.compile(
    r"^(?P<task>\S+)\s+(?P<model>\S+)\s+(?P<metric>\S+)\s+(?P<mean>\S+) \+- (?P<std>\S+) \(n=\d+\)$"
)


@dataclass(frozen=True)
class ProbeRun:
    """One ``cola-eval probe`` run: wall time, tasks whose embeddings were computed, primary scores."""

    wall_s: float
    computed: int
    scores: dict[str, tuple[str, float, float]]  # task -> (primary metric, mean, std over seeds or folds)


def task_names(tasks_dir: Path) -> list[str]:
    """The task folders of ``tasks_dir``, sorted."""
    return sorted(p.name for p in tasks_dir.iterdir() if (p / "task_metadata.json").is_file())


def default_tasks_dir(quick: bool) -> Path | None:
    """The first suite folder that holds tasks (the mini suite first with ``quick``), or None."""
    candidates = TASK_DIR_CANDIDATES[2:] + TASK_DIR_CANDIDATES[:2] if quick else TASK_DIR_CANDIDATES
    for name in candidates:
        folder = REPO_ROOT / name
        if folder.is_dir() and task_names(folder):
            return folder
    return None


def run_probe(
    weights: Path, tasks_dir: Path, cache_dir: Path, seeds: int, tasks: list[str] | None = None, timeout: float = 3600.0
) -> ProbeRun:
    """Run ``cola-eval probe --no-write`` in a subprocess (process start-up included in the wall time)."""
    command = [
        sys.executable, "-m", "cola_eval", "probe", "--module", "cola_hear", "--weights", str(weights),
        "--tasks-dir", str(tasks_dir), "--cache-dir", str(cache_dir), "--seeds", str(seeds), "--no-write",
    ]  # fmt: skip
    for name in tasks or []:
        command += ["--task", name]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"cola-eval probe failed (exit {result.returncode}): {result.stderr[-3000:]}")
    scores = {}
    for line in result.stdout.splitlines():
        match = SUMMARY_LINE.match(line.strip())
        if match:
            scores[match["task"]] = (match["metric"], float(match["mean"]), float(match["std"]))
    return ProbeRun(wall, result.stderr.count("(embeddings computed)"), scores)


def eval_rows(settings: Settings) -> list[Row]:
    tasks_dir = settings.tasks_dir
    if tasks_dir is None:
        return [
            Row(
                SECTION,
                "linear probe, cached embeddings",
                "not measured (no tasks folder)",
                notes="build one with cola-suite build [--mini], or pass --tasks-dir",
            )
        ]
    names = task_names(tasks_dir)
    limit = settings.sizes.eval_tasks
    chosen = names[:limit] if limit else None
    shown = shown_path(tasks_dir)
    where = f"{len(chosen or names)} of {len(names)} tasks in {shown}" if chosen else f"{len(names)} tasks in {shown}"
    seeds = settings.sizes.eval_seeds
    log.info(
        "[6 eval] linear probe of %s (%d seed(s)); the first run fills the embedding cache if needed", where, seeds
    )
    run = run_probe(settings.weights, tasks_dir, settings.eval_cache_dir, seeds, chosen)
    rows = []
    if run.computed:
        log.info("[6 eval]   %.1f s with %d task(s) embedded; again from the cache", run.wall_s, run.computed)
        rows.append(
            Row(
                SECTION,
                "linear probe, embeddings computed (cold cache)",
                run.wall_s,
                "s",
                None,
                f"{where}; {run.computed} task(s) embedded; {seeds} seed(s)",
            )
        )
        run = run_probe(settings.weights, tasks_dir, settings.eval_cache_dir, seeds, chosen)
    log.info("[6 eval]   %.1f s from cached embeddings", run.wall_s)
    note = f"{where}; {seeds} seed(s); cola-eval probe --no-write, process start-up included"
    if run.computed:
        note += f"; WARNING: {run.computed} task(s) were embedded again (cache not reused)"
    rows.append(Row(SECTION, "linear probe, cached embeddings", run.wall_s, "s", None, note))
    return rows
