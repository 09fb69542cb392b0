"""Section 7 (opt-in): the event-task probe score of the fast timestamp path against exact sliding windows.

The same weights are probed twice on the suite's first event task: as given (``hear.timestamp_mode``
"shared", the default) and re-saved with ``timestamp_mode="windows"``. Both scores are reported with
their spread over seeds, and the difference is called "within noise" when it is no larger than the
sum of the two standard deviations.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from benchmarks.evaluation import run_probe, task_names
from benchmarks.settings import Settings
from benchmarks.table import Row, ratio
from cola_hear import load_weights, save_weights

log = logging.getLogger(__name__)

SECTION = "7 quality"


def with_timestamp_mode(weights: Path, mode: str, out: Path) -> Path:
    """A float32 copy of ``weights`` whose config asks for ``hear.timestamp_mode = mode``."""
    return save_weights(load_weights(weights).with_hear(timestamp_mode=mode), out)


def event_tasks(tasks_dir: Path) -> list[str]:
    return [
        name
        for name in task_names(tasks_dir)
        if json.loads((tasks_dir / name / "task_metadata.json").read_text()).get("embedding_type") == "event"
    ]


def quality_rows(settings: Settings) -> list[Row]:
    tasks_dir = settings.tasks_dir
    events = event_tasks(tasks_dir) if tasks_dir is not None else []
    if not events:
        return [Row(SECTION, "event task score, shared vs windows", "not measured (no event task)")]
    task, seeds = events[0], settings.sizes.eval_seeds
    windows = with_timestamp_mode(settings.weights, "windows", settings.work_dir / "windows-mode.safetensors")
    scores = {}
    for mode, weights in (("shared", settings.weights), ("windows", windows)):
        log.info("[7 quality] linear probe of %s, timestamp mode %s (%d seed(s))", task, mode, seeds)
        run = run_probe(weights, tasks_dir, settings.eval_cache_dir, seeds, [task])
        if task not in run.scores:
            raise RuntimeError(f"cola-eval printed no score for {task}")
        scores[mode] = run.scores[task]
        log.info("[7 quality]   %s = %.4f +- %.4f", *scores[mode])
    metric, shared, shared_std = scores["shared"]
    _, exact, exact_std = scores["windows"]
    difference = shared - exact
    if seeds < 2:
        judged = "not judged (one seed gives no spread)"
    elif abs(difference) <= shared_std + exact_std:
        judged = "within noise (|difference| <= sum of the stds)"
    else:
        judged = "NOT within noise (|difference| > sum of the stds)"
    return [
        Row(
            SECTION,
            f"{task} {metric}, mode=windows (exact)",
            exact,
            metric,
            None,
            f"+- {exact_std:.4f}; {seeds} seed(s)",
        ),
        Row(
            SECTION,
            f"{task} {metric}, mode=shared (fast)",
            shared,
            metric,
            ratio(shared, exact),
            f"+- {shared_std:.4f}; ratio vs mode=windows",
        ),
        Row(
            SECTION,
            "shared - windows",
            difference,
            metric,
            None,
            judged,
        ),
    ]
