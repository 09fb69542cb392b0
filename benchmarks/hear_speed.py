"""Section 1: HEAR embedding throughput (seconds of audio per wall second) and peak memory.

Every case runs ``python -m benchmarks.hear_case`` in a fresh process, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.settings import Settings
from benchmarks.table import REPO_ROOT, Row, ratio, verdict
from cola_hear.atomic import atomic_write_text

log = logging.getLogger(__name__)

SECTION = "1 hear"
# Targets of issue 13, as fractions of the plain front end's rate measured in the same run (2-core CPU)
SCENE_TARGET = 0.70
TIMESTAMP_TARGET = 0.50
FRONT_END_TARGET = 0.90
RSS_TARGET_MB = 2048.0  # the 20-minute clip
YARDSTICK = "plain front end"  # the first case: torchaudio's log-mel of the COLA recipe


@dataclass(frozen=True)
class Case:
    """One ``hear_case`` run; ``name`` identifies it in the table. Every rate is compared with the yardstick."""

    name: str
    kind: str  # "scene" | "timestamp" | "plain front end" | "front end"
    clips: int
    seconds: float
    mode: str = "shared"
    precision: str = "auto"
    module: str = "cola_hear"
    target: float | None = None  # fraction of the yardstick's rate to reach
    compare: str | None = None  # another case whose rate is named in the notes (e.g. fp32, windows)
    rss: bool = False  # report the peak RSS too
    rss_target_mb: float | None = None
    rss_added: bool = False  # also say how much the calls added to the peak (model and input loaded before)
    folded: bool = True  # BatchNorm folded into the convolutions, as cola_hear.load_model does
    per_sound: bool = False  # one sound per call instead of every clip in one call

    def args(self, weights: str) -> dict:
        return {
            "kind": self.kind,
            "clips": self.clips,
            "seconds": self.seconds,
            "mode": self.mode,
            "precision": self.precision,
            "weights": weights if self.module == "cola_hear" else "",
            "module": self.module,
            "folded": self.folded,
            "per_sound": self.per_sound,
        }


def run_case(case: Case, weights: str, timeout: float = 600.0) -> dict:
    """Run one case in a subprocess and return its JSON figures; a failure raises with its stderr."""
    command = [sys.executable, "-m", "benchmarks.hear_case", json.dumps(case.args(weights))]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"hear_case {case.name} failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cases(settings: Settings) -> list[Case]:
    """The yardstick and the project's front end, scene and timestamp embeddings (auto precision vs fp32, and
    BatchNorm folded vs not), the long clip, shared vs exact windows on one clip, many short sounds in one call
    vs one per call, and the log-mel statistics baseline module."""
    s = settings.sizes
    batch = f"{s.clips} x {s.clip_seconds:g} s"
    long = f"1 x {s.long_seconds:g} s"
    short = f"1 x {s.windows_seconds:g} s"
    sounds = f"{s.short_clips} x {s.short_seconds:g} s"
    stats = "cola_eval.models.baselines.logmel_stats"
    return [
        Case(f"{YARDSTICK} (torchaudio, whole clips) {batch}", YARDSTICK, s.clips, s.clip_seconds),
        Case(f"front end (cola_hear, chunked) {batch}", "front end", s.clips, s.clip_seconds, target=FRONT_END_TARGET),
        Case(f"scene {batch} fp32, BatchNorm not folded", "scene", s.clips, s.clip_seconds, precision="fp32",
             folded=False),
        Case(f"scene {batch} fp32", "scene", s.clips, s.clip_seconds, precision="fp32",
             compare=f"scene {batch} fp32, BatchNorm not folded"),
        Case(f"scene {sounds} fp32, one sound per call", "scene", s.short_clips, s.short_seconds, precision="fp32",
             per_sound=True),
        Case(f"scene {sounds} fp32", "scene", s.short_clips, s.short_seconds, precision="fp32",
             compare=f"scene {sounds} fp32, one sound per call"),
        Case(f"scene {batch}", "scene", s.clips, s.clip_seconds, target=SCENE_TARGET, compare=f"scene {batch} fp32",
             rss=True),
        Case(f"timestamp shared {batch} fp32", "timestamp", s.clips, s.clip_seconds, precision="fp32"),
        Case(f"timestamp shared {batch}", "timestamp", s.clips, s.clip_seconds, target=TIMESTAMP_TARGET,
             compare=f"timestamp shared {batch} fp32", rss=True),
        Case(f"scene {long}", "scene", 1, s.long_seconds, target=SCENE_TARGET, rss=True, rss_target_mb=RSS_TARGET_MB),
        Case(f"timestamp shared {long}", "timestamp", 1, s.long_seconds, target=TIMESTAMP_TARGET, rss=True,
             rss_target_mb=RSS_TARGET_MB),
        Case(f"scene 1 x {s.scene_memory_seconds:g} s", "scene", 1, s.scene_memory_seconds, rss=True,
             rss_added=True),
        Case(f"timestamp windows {short}", "timestamp", 1, s.windows_seconds, mode="windows"),
        Case(f"timestamp shared {short}", "timestamp", 1, s.windows_seconds, compare=f"timestamp windows {short}"),
        Case(f"log-mel statistics module, scene {batch}", "scene", s.clips, s.clip_seconds, module=stats),
        Case(f"log-mel statistics module, timestamp {batch}", "timestamp", s.clips, s.clip_seconds, module=stats),
    ]  # fmt: skip


def profile_hear(weights: str, clips: int, seconds: float, path: Path, row_limit: int = 20) -> Path:
    """Operators by self CPU time of one scene and one timestamp call on ``clips`` x ``seconds`` of noise (where
    the time goes when a target is missed); written to ``path``."""
    from cola_hear import get_scene_embeddings, get_timestamp_embeddings, load_model

    model = load_model(weights)
    audio = 0.1 * torch.randn(clips, int(seconds * model.sample_rate), generator=torch.Generator().manual_seed(0))
    parts = []
    for name, fn in (("scene", get_scene_embeddings), ("timestamp", get_timestamp_embeddings)):
        fn(audio[:1], model)  # warm-up
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            fn(audio, model)
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)
        parts.append(f"get_{name}_embeddings, {clips} x {seconds:g} s: operators by self CPU time\n{table}\n")
    return atomic_write_text(path, "\n".join(parts))


def hear_rows(settings: Settings) -> list[Row]:
    """Measure every case, then turn the figures into rows: ratio to the yardstick, comparisons, targets."""
    all_cases = cases(settings)
    results: dict[str, dict] = {}
    for i, case in enumerate(all_cases, 1):
        log.info("[1 hear] case %d/%d: %s", i, len(all_cases), case.name)
        r = results[case.name] = run_case(case, str(settings.weights))
        log.info("[1 hear]   %.0fx real time, peak RSS %.0f MB (%s)", r["x_realtime"], r["peak_rss_mb"], r["precision"])
    rows = []
    for case in all_cases:
        r = results[case.name]
        label = (
            case.name
            if case.precision == "fp32" or case.kind not in ("scene", "timestamp")
            else (f"{case.name} ({r['precision']})")
        )
        share = ratio(r["x_realtime"], r["yardstick_x_realtime"])
        notes = [
            f"ratio vs the plain front end on the same audio in the same process ({r['yardstick_x_realtime']:,.0f}x)"
        ]
        if case.compare:
            notes.append(f"{ratio(r['x_realtime'], results[case.compare]['x_realtime']):.2f}x {case.compare}")
        if case.target:
            notes.append(verdict(share, case.target, "x of the plain front end"))
        if case.kind == "timestamp" and case.module == "cola_hear" and r["mode"] != case.mode:
            notes.append(f"the weights' read-out has no {case.mode} path: ran {r['mode']}")
        rows.append(Row(SECTION, label, r["x_realtime"], "x real time", share, "; ".join(notes)))
    if settings.profile_out is not None:
        path = settings.profile_out.with_name(f"{settings.profile_out.stem}-hear.txt")
        log.info("[1 hear] profiling scene and timestamp embeddings into %s", path)
        profile_hear(str(settings.weights), settings.sizes.clips, settings.sizes.clip_seconds, path)
    for case in all_cases:
        if case.rss:
            r = results[case.name]
            note = verdict(r["peak_rss_mb"], case.rss_target_mb, " MB", above=False) if case.rss_target_mb else ""
            if case.rss_added:
                note = (
                    f"{r['rss_before_mb']:.0f} MB before the first call (model + {r['input_mb']:.0f} MB of input): "
                    f"the calls added {r['peak_rss_mb'] - r['rss_before_mb']:.0f} MB (scene embeddings are done in "
                    "blocks of about a minute, so this does not grow with the clip)"
                )
            rows.append(Row(SECTION, f"peak RSS, {case.name}", r["peak_rss_mb"], "MB", None, note))
    return rows
