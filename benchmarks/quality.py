"""Section 7 (opt-in): the probe scores of the two speed-ups against the exact computation they replace.

- The fast timestamp path: the suite's first event task probed with the weights as given
  (``hear.timestamp_mode = "shared"``, the default) and re-saved with ``timestamp_mode="windows"``.
- bf16 inference: the first scene tasks probed with the weights as given (``hear.precision =
  "auto"``: bf16 autocast where the CPU supports it) and re-saved with ``precision="fp32"``.

Each pair is reported with its spread over seeds; the difference is called "within noise" when it
is no larger than the sum of the two standard deviations.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from benchmarks.evaluation import run_probe, task_names
from benchmarks.settings import Settings
from benchmarks.table import Row, cpu_bf16, ratio
from cola_hear import load_weights, save_weights

log = logging.getLogger(__name__)

SECTION = "7 quality"
BF16_TASKS = 2  # scene tasks on which bf16 is compared with fp32


def with_hear(weights: Path, out: Path, **changes: str) -> Path:
    """A float32 copy of ``weights`` whose config has the ``hear`` settings ``changes``."""
    return save_weights(load_weights(weights).with_hear(**changes), out)


def tasks_of_type(tasks_dir: Path, embedding_type: str) -> list[str]:
    return [
        name
        for name in task_names(tasks_dir)
        if json.loads((tasks_dir / name / "task_metadata.json").read_text()).get("embedding_type") == embedding_type
    ]


def compare(settings: Settings, task: str, exact: tuple[str, Path], fast: tuple[str, Path], what: str) -> list[Row]:
    """Probe ``task`` with the exact and the fast weights; rows for both scores and their difference."""
    seeds = settings.sizes.eval_seeds
    scores = {}
    for label, weights in (exact, fast):
        log.info("[7 quality] linear probe of %s, %s (%d seed(s))", task, label, seeds)
        run = run_probe(weights, settings.tasks_dir, settings.eval_cache_dir, seeds, [task])
        if task not in run.scores:
            raise RuntimeError(f"cola-eval printed no score for {task}")
        scores[label] = run.scores[task]
        log.info("[7 quality]   %s = %.4f +- %.4f", *scores[label])
    metric, exact_score, exact_std = scores[exact[0]]
    _, fast_score, fast_std = scores[fast[0]]
    difference = fast_score - exact_score
    if seeds < 2:
        judged = "not judged (one seed gives no spread)"
    elif abs(difference) <= fast_std + exact_std:
        judged = "within noise (|difference| <= sum of the stds)"
    else:
        judged = "NOT within noise (|difference| > sum of the stds)"
    return [
        Row(SECTION, f"{task} {metric}, {exact[0]} (exact)", exact_score, metric, None,
            f"+- {exact_std:.4f}; {seeds} seed(s)"),
        Row(SECTION, f"{task} {metric}, {fast[0]} (fast)", fast_score, metric, ratio(fast_score, exact_score),
            f"+- {fast_std:.4f}; ratio vs {exact[0]}"),
        Row(SECTION, f"{what}: {fast[0]} - {exact[0]}", difference, metric, None, judged),
    ]  # fmt: skip


def quality_rows(settings: Settings) -> list[Row]:
    tasks_dir, work = settings.tasks_dir, settings.work_dir
    if tasks_dir is None:
        return [Row(SECTION, "probe scores of the speed-ups", "not measured (no tasks folder)")]
    rows = []
    events = tasks_of_type(tasks_dir, "event")
    if events:
        windows = with_hear(settings.weights, work / "windows-mode.safetensors", timestamp_mode="windows")
        rows += compare(
            settings, events[0], ("mode=windows", windows), ("mode=shared", settings.weights), "timestamp path"
        )
    else:
        rows.append(Row(SECTION, "event task score, shared vs windows", "not measured (no event task)"))
    scenes = tasks_of_type(tasks_dir, "scene")[:BF16_TASKS]
    if not cpu_bf16():
        rows.append(Row(SECTION, "scene task scores, bf16 vs fp32", "not measured (no CPU bf16)"))
    elif not scenes:
        rows.append(Row(SECTION, "scene task scores, bf16 vs fp32", "not measured (no scene task)"))
    else:
        fp32 = with_hear(settings.weights, work / "fp32.safetensors", precision="fp32")
        for task in scenes:
            rows += compare(settings, task, ("fp32", fp32), ("bf16 autocast", settings.weights), "inference precision")
    return rows
