"""Section 8: corpus scale. Training start-up at 10 k / 100 k / 1 M clips, preparation throughput (WAV and
FLAC), and pairs/s of the shard loader with 0, 1 and 2 DataLoader workers beside the training step and
the folder's memory-mapped cache.

The start-up figures use a synthetic prepared index: a manifest of ``clips / 1000`` shard entries of
1,000 clips each, all of them links to one real shard of generated audio (start-up reads the manifest
and the first batch only, so what the other shards hold does not change it). Each size runs in a fresh
process (``python -m benchmarks.corpus MANIFEST``), whose peak RSS is the start-up memory of one rank.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from benchmarks.settings import Settings
from benchmarks.table import NOT_MEASURED_NO_GPU, REPO_ROOT, Row, ratio, shown_path, verdict
from cola_pretrain.shards import MANIFEST_FILE, ShardInfo, write_manifest

log = logging.getLogger(__name__)

SECTION = "8 corpus"
STARTUP_TARGET_S = 5.0
STARTUP_TARGET_MB = 500.0
CLIPS_PER_SHARD = 1000
TORCH_MB_NOTE = "2.11 with its CUDA libraries is most of it"


def synthetic_index(folder: Path, clips: int, real_shard: Path) -> Path:
    """A manifest of ``clips`` clips in shards of 1,000: links to ``real_shard`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    for i in range(max(1, clips // CLIPS_PER_SHARD)):
        name = f"shard-{i:06d}.tar"
        if not (folder / name).exists():
            os.symlink(real_shard, folder / name)
        shards.append(ShardInfo(name, CLIPS_PER_SHARD, 10.0 * CLIPS_PER_SHARD))
    return write_manifest(folder, shards, 16000, [])


def startup_case(manifest: str, batch: int) -> dict[str, float]:
    """In this (fresh) process: open the manifest, build the loader, take the first batch (imports done first)."""
    from cola_pretrain.config import load_config
    from cola_pretrain.loader import open_batches
    from cola_pretrain.shards import open_shard_pool

    imports_mb = _rss_mb()
    start = time.perf_counter()
    pool = open_shard_pool([manifest])
    opened = time.perf_counter()
    config = load_config("default", {"data.shards": [manifest], "data.workers": 0, "train.batch_size": batch,
                                     "data.shuffle_buffer": batch})  # fmt: skip
    batches = open_batches(pool, config, rank=0, world_size=8, start=0)
    batches.get(0)
    done = time.perf_counter()
    return {
        "manifest_s": opened - start, "first_batch_s": done - opened, "data_s": done - start,
        "imports_mb": imports_mb, "rss_mb": _rss_mb(), "shards": len(pool.shards), "clips": pool.clips,
    }  # fmt: skip


def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB (``VmHWM``: ``ru_maxrss`` keeps the parent's peak
    across fork and exec, so a process started by a large one would report the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_generated(folder: Path, files: int, seconds: float, rate: int, channels: int, fmt: str) -> Path:
    """``files`` noisy sweeps of ``seconds`` at ``rate`` Hz with ``channels`` channels, as ``fmt`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * rate)) / rate
    for i in range(files):
        tone = 0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t * (1 + t / seconds))
        audio = np.stack([tone + 0.05 * rng.standard_normal(t.shape) for _ in range(channels)], axis=1)
        sf.write(folder / f"f{i:04d}.{fmt}", audio.astype(np.float32), rate, subtype="PCM_16")
    return folder


def prepare_rate(folder: Path, out: Path, workers: int) -> tuple[float, float, float, float]:
    """Files/s and hours of audio per minute per worker process of ``prepare`` over ``folder`` once its workers
    run (from the first file done to the end), its wall seconds, and the seconds to the first file done."""
    from cola_pretrain.prepare import PrepareOptions, prepare

    result = prepare([folder], out, PrepareOptions(workers=workers, clip_seconds=10.0), progress=False)
    steady = result.wall_s - result.first_file_s  # after the worker processes started and decoded a first file
    files = result.new_files - 1
    hours_per_min = result.new_seconds * files / result.new_files / 3600 / (steady / 60)
    return files / steady, hours_per_min / max(1, workers), result.wall_s, result.first_file_s


def pool_subset(pool: Path | None, folder: Path, files: int) -> tuple[Path, str]:
    """Links to ``files`` files spread over ``pool`` (or generated audio without a pool)."""
    from cola_pretrain.manifest import find_audio_files

    if pool is None:
        return write_generated(folder, files, 20.0, 16000, 1, "wav"), f"{files} generated 20 s files"
    found = find_audio_files([pool])
    picked = sorted(set(np.linspace(0, len(found) - 1, min(files, len(found))).round().astype(int).tolist()))
    folder.mkdir(parents=True, exist_ok=True)
    for i in picked:
        source = Path(found[i].path)
        os.symlink(source, folder / f"{i:06d}{source.suffix}")
    return folder, f"{len(picked)} of the {len(found)} files of {shown_path(pool)}"


def loader_rate(batches, batch: int, count: int) -> tuple[float, float]:
    """Pairs/s over ``count`` batches after the first, and the seconds of the first."""
    start = time.perf_counter()
    batches.get(0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for step in range(1, count + 1):
        batches.get(step)
    elapsed = time.perf_counter() - start
    batches.close()
    return batch * count / elapsed, first


def corpus_rows(settings: Settings, train_rate: float, train_note: str) -> list[Row]:
    from cola_pretrain.audio_cache import build_pool
    from cola_pretrain.config import load_config
    from cola_pretrain.loader import open_batches
    from cola_pretrain.prepare import PrepareOptions, prepare
    from cola_pretrain.shards import open_shard_pool

    s, work, quick = settings.sizes, settings.work_dir / "corpus", settings.quick
    rows: list[Row] = []
    # 1. start-up against the size of the index
    real = work / "real-shard"
    prepare([write_generated(work / "tiny", 64, 1.5, 16000, 1, "wav")], real, PrepareOptions(workers=0), False)
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    for clips in sizes:
        manifest = synthetic_index(work / f"index-{clips}", clips, real / "shard-000000.tar")
        log.info("[8 corpus] start-up with a synthetic index of %d clips", clips)
        command = [sys.executable, "-m", "benchmarks.corpus", str(manifest), str(s.train_batch)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"start-up case failed: {done.stderr[-2000:]}")
        case = json.loads(done.stdout.strip().splitlines()[-1])
        notes = (f"synthetic index: {case['shards']} shard entries of 1,000 clips (links to one real shard); "
                 f"a fresh process: interpreter and imports (torch, timm, pretrain), then manifest "
                 f"{case['manifest_s']:.3f} s and first batch of {s.train_batch} {case['first_batch_s']:.2f} s "
                 "(no DataLoader workers)")  # fmt: skip
        rows.append(Row(SECTION, f"start-up at {clips:,} clips", wall, "s", None,
                        f"{verdict(wall, STARTUP_TARGET_S, ' s', above=False)}; {notes}"))  # fmt: skip
        rows.append(Row(SECTION, f"start-up: manifest + first batch at {clips:,} clips", case["data_s"], "s", None,
                        "what grows with the index; the rest is the imports"))  # fmt: skip
        rows.append(Row(SECTION, f"start-up peak RSS at {clips:,} clips", case["rss_mb"], "MB", None,
                        f"{verdict(case['rss_mb'], STARTUP_TARGET_MB, ' MB', above=False)}; after the imports alone "
                        f"{case['imports_mb']:.0f} MB (torch {TORCH_MB_NOTE}), so the index and first batch add "
                        f"{case['rss_mb'] - case['imports_mb']:.0f} MB"))  # fmt: skip
    # 2. preparation throughput
    files = 8 if quick else 60
    workers = min(2, os.cpu_count() or 1)
    for label, rate, channels, fmt in (
        ("WAV 16 kHz mono", 16000, 1, "wav"),
        ("FLAC 44.1 kHz stereo", 44100, 2, "flac"),
    ):
        folder = write_generated(work / f"prep-{fmt}", files, 10.0, rate, channels, fmt)
        log.info("[8 corpus] prepare throughput: %d x 10 s %s files, %d workers", files, label, workers)
        per_s, hours_min_core, wall, first = prepare_rate(folder, work / f"prep-{fmt}-out", workers)
        notes = (f"{files} x 10 s files, {workers} worker processes (spawned; the first file was done after "
                 f"{first:.1f} s, left out of the rate), {wall:.1f} s in all; FLAC members out")  # fmt: skip
        rows.append(Row(SECTION, f"prepare {label}", per_s, "files/s", None, notes))
        rows.append(Row(SECTION, f"prepare {label}, audio per core", hours_min_core, "h audio/min/core", None, notes))
    # 3. loader pairs/s: shards with 0, 1, 2 workers, and the folder's memory-mapped cache, beside the step
    folder, description = pool_subset(settings.pool, work / "loader-pool", 24 if quick else 120)
    shards = work / "loader-shards"
    prepare([folder], shards, PrepareOptions(workers=workers, clip_seconds=10.0, shard_clips=100), False)
    pool = open_shard_pool([str(shards / MANIFEST_FILE)])
    batch, count = s.train_batch, s.loader_batches
    config = load_config("default", {"train.batch_size": batch, "data.clip_seconds": 10.0})
    vs = f"ratio vs the training step ({train_rate:.1f} pairs/s, {train_note})"
    for n_workers in (0, 1, 2):
        log.info("[8 corpus] shard loader, %d worker(s), batch %d", n_workers, batch)
        cfg = config.replace({"data.workers": n_workers, "data.shards": [str(shards)]})
        rate, first = loader_rate(open_batches(pool, cfg, 0, 1, 0), batch, count)
        rows.append(Row(SECTION, f"shard loader, {n_workers} worker(s), batch {batch}", rate, "pairs/s",
                        ratio(rate, train_rate), f"{vs}; first batch {first:.1f} s (fills the shuffle buffer); "
                        f"{description}, {pool.clips} clips of <= 10 s in {len(pool.shards)} shards"))  # fmt: skip
    log.info("[8 corpus] folder loader (memory-mapped cache) on the same files")
    start = time.perf_counter()
    audio = build_pool([folder], 16000, work / "cache", workers, progress=False)
    built = time.perf_counter() - start
    cfg = config.replace({"data.folders": [str(folder)]})
    rate, first = loader_rate(open_batches(audio, cfg, 0, 1, 0), batch, count)
    rows.append(Row(SECTION, f"folder loader (memory-mapped cache), batch {batch}", rate, "pairs/s",
                    ratio(rate, train_rate), f"{vs}; building the cache took {built:.1f} s, first batch {first:.1f} s; "
                    "the same files"))  # fmt: skip
    if not torch.cuda.is_available():
        rows.append(Row(SECTION, "start-up, loader and training step on a GPU node", NOT_MEASURED_NO_GPU))
    return rows


if __name__ == "__main__":
    print(json.dumps(startup_case(sys.argv[1], int(sys.argv[2]))))
