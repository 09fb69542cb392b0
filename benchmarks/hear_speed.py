"""Section 1: HEAR embedding throughput (seconds of audio per wall second) and peak memory.

Every case runs ``python -m benchmarks.hear_case`` in a fresh process, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass

from benchmarks.settings import Settings
from benchmarks.table import REPO_ROOT, Row, ratio, verdict

log = logging.getLogger(__name__)

SECTION = "1 hear"
SCENE_TARGET = 800.0  # x real time on the 2-core CPU machine (issue 6)
TIMESTAMP_TARGET = 200.0
RSS_TARGET_MB = 4096.0  # the 20-minute clip


@dataclass(frozen=True)
class Case:
    """One ``hear_case`` run; ``name`` identifies it in the table."""

    name: str
    kind: str  # "scene" | "timestamp"
    clips: int
    seconds: float
    mode: str = "shared"
    precision: str = "auto"
    baseline: str | None = None  # the case this one is compared with (ratio column)
    target: float | None = None  # x real time to reach
    rss: bool = False  # report the peak RSS too
    rss_target_mb: float | None = None

    def args(self, weights: str) -> dict:
        return {
            "kind": self.kind,
            "clips": self.clips,
            "seconds": self.seconds,
            "mode": self.mode,
            "precision": self.precision,
            "weights": weights,
        }


def run_case(case: Case, weights: str, timeout: float = 600.0) -> dict:
    """Run one case in a subprocess and return its JSON figures; a failure raises with its stderr."""
    command = [sys.executable, "-m", "benchmarks.hear_case", json.dumps(case.args(weights))]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"hear_case {case.name} failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cases(settings: Settings) -> list[Case]:
    """Batch of clips (auto precision vs fp32), the long clip, and shared vs exact windows on one clip."""
    s = settings.sizes
    batch = f"{s.clips} x {s.clip_seconds:g} s"
    long = f"1 x {s.long_seconds:g} s"
    short = f"1 x {s.windows_seconds:g} s"
    return [
        Case(f"scene {batch} fp32", "scene", s.clips, s.clip_seconds, precision="fp32"),
        Case(
            f"scene {batch}",
            "scene",
            s.clips,
            s.clip_seconds,
            baseline=f"scene {batch} fp32",
            target=SCENE_TARGET,
            rss=True,
        ),
        Case(f"timestamp shared {batch} fp32", "timestamp", s.clips, s.clip_seconds, precision="fp32"),
        Case(
            f"timestamp shared {batch}",
            "timestamp",
            s.clips,
            s.clip_seconds,
            baseline=f"timestamp shared {batch} fp32",
            target=TIMESTAMP_TARGET,
            rss=True,
        ),
        Case(f"scene {long}", "scene", 1, s.long_seconds, target=SCENE_TARGET, rss=True, rss_target_mb=RSS_TARGET_MB),
        Case(
            f"timestamp shared {long}",
            "timestamp",
            1,
            s.long_seconds,
            target=TIMESTAMP_TARGET,
            rss=True,
            rss_target_mb=RSS_TARGET_MB,
        ),
        Case(f"timestamp windows {short}", "timestamp", 1, s.windows_seconds, mode="windows"),
        Case(f"timestamp shared {short}", "timestamp", 1, s.windows_seconds, baseline=f"timestamp windows {short}"),
    ]


def hear_rows(settings: Settings) -> list[Row]:
    """Measure every case, then turn the figures into rows with their ratios and targets."""
    all_cases = cases(settings)
    results: dict[str, dict] = {}
    for i, case in enumerate(all_cases, 1):
        log.info("[1 hear] case %d/%d: %s", i, len(all_cases), case.name)
        r = results[case.name] = run_case(case, str(settings.weights))
        log.info("[1 hear]   %.0fx real time, peak RSS %.0f MB (%s)", r["x_realtime"], r["peak_rss_mb"], r["precision"])
    rows = []
    for case in all_cases:
        r = results[case.name]
        label = case.name if case.precision == "fp32" else f"{case.name} ({r['precision']})"
        notes = []
        baseline = results[case.baseline]["x_realtime"] if case.baseline else None
        if case.baseline:
            notes.append(f"ratio vs {case.baseline}")
        if case.target:
            notes.append(verdict(r["x_realtime"], case.target))
        if case.kind == "timestamp" and r["mode"] != case.mode:
            notes.append(f"the weights' read-out has no {case.mode} path: ran {r['mode']}")
        rows.append(
            Row(SECTION, label, r["x_realtime"], "x real time", ratio(r["x_realtime"], baseline), "; ".join(notes))
        )
    for case in all_cases:
        if case.rss:
            r = results[case.name]
            note = verdict(r["peak_rss_mb"], case.rss_target_mb, " MB", above=False) if case.rss_target_mb else ""
            rows.append(Row(SECTION, f"peak RSS, {case.name}", r["peak_rss_mb"], "MB", None, note))
    return rows
