"""Section 3: pairs per second the pretraining data pipeline delivers on its own.

From the decoded-audio cache (``cola_pretrain.audio_cache`` + ``cola_pretrain.sampling``, the real loader with its
prefetch thread) versus decoding each crop on the fly with ``cola_common.audio_files.load_audio``,
both compared with the rate of the training step.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.inputs import generated_audio
from benchmarks.settings import Settings
from benchmarks.table import REPO_ROOT, Row, ratio, shown_path, verdict
from cola_common.audio_files import AudioError, audio_info, load_audio
from cola_pretrain.audio_cache import CACHE_VERSION, INDEX_FILE, build_pool, cache_entry
from cola_pretrain.config import PretrainConfig, load_config
from cola_pretrain.manifest import AudioFile, cache_key, find_audio_files
from cola_pretrain.sampling import PairSampler, Prefetcher, crop_samples, make_clips

log = logging.getLogger(__name__)

SECTION = "3 loading"
LOADER_RATIO_TARGET = 3.0  # the loader must outrun the training step by this much


@dataclass(frozen=True)
class Source:
    """The audio folder the loader reads, its cache folder, and how it was chosen."""

    folder: Path
    cache_dir: Path
    description: str


def has_cache(folder: Path, cache_dir: Path, sample_rate: int) -> bool:
    """Whether ``cola_pretrain.audio_cache`` holds a complete decoded-audio cache of ``folder`` in ``cache_dir``."""
    key = cache_key(find_audio_files([folder]), sample_rate, CACHE_VERSION)
    return (cache_entry(key, cache_dir) / INDEX_FILE).is_file()


def choose_source(settings: Settings, config: PretrainConfig) -> Source:
    """The pool with its existing cache, a subset of an uncached pool (decoding it all is slow), or generated audio."""
    work = settings.work_dir
    if settings.pool is None:
        folder = generated_audio(work / "generated-audio", settings.sizes.generated_seconds)
        return Source(folder, work / "cache", f"generated audio ({settings.sizes.generated_seconds:g} s)")
    cache_dir = REPO_ROOT / config.data.cache_dir
    if has_cache(settings.pool, cache_dir, config.frontend.sample_rate):
        return Source(settings.pool, cache_dir, f"{shown_path(settings.pool)} (existing decoded-audio cache)")
    files = find_audio_files([settings.pool])
    count = min(settings.sizes.pool_subset_files, len(files))
    picked = sorted(set(np.linspace(0, len(files) - 1, count).round().astype(int).tolist()))  # spread over the pool
    subset = work / "pool-subset"
    subset.mkdir(parents=True, exist_ok=True)
    for i in picked:
        source = Path(files[i].path)
        os.symlink(source, subset / f"{i:06d}{source.suffix}")
    log.warning(
        "[3 loading] %s has no decoded-audio cache yet: using %d of its %d files",
        settings.pool,
        len(picked),
        len(files),
    )
    return Source(subset, work / "cache", f"{len(picked)} of the {len(files)} files of {shown_path(settings.pool)}")


def cache_loader_rate(source: Source, config: PretrainConfig, batch: int, batches: int) -> tuple[float, dict]:
    """Pairs/s of ``PairSampler`` behind its ``Prefetcher`` thread, after one warm-up batch; plus set-up times."""
    start = time.perf_counter()
    pool = build_pool([source.folder], config.frontend.sample_rate, source.cache_dir, config.data.decode_workers)
    pool_s = time.perf_counter() - start
    start = time.perf_counter()
    clips = make_clips(pool, config.data.clip_seconds, config.data.normalize)
    clips_s = time.perf_counter() - start
    sampler = PairSampler(
        pool, clips, config.frontend, batch, config.train.seed, 0, config.data.noise_std, config.augment
    )
    prefetch = Prefetcher(sampler, 0, config.data.prefetch)
    try:
        prefetch.get(0)
        start = time.perf_counter()
        for step in range(1, batches + 1):
            prefetch.get(step)
        elapsed = time.perf_counter() - start
    finally:
        prefetch.close()
    info = {"pool_s": pool_s, "clips_s": clips_s, "hours": pool.total_seconds / 3600, "clips": len(clips)}
    return batch * batches / elapsed, info


def on_the_fly_rate(folder: Path, config: PretrainConfig, pairs: int, index_files: int = 64, seed: int = 0) -> float:
    """Pairs/s when every anchor and positive crop is decoded (and resampled) from its file when needed.

    The file lengths are read beforehand (untimed), as an index would hold them; clips are not
    L2-normalised (that would need the whole file), so this is a lower bound on the cost.
    """
    rng = np.random.default_rng(seed)
    files: list[AudioFile] = find_audio_files([folder])
    picked = rng.choice(len(files), size=min(index_files, len(files)), replace=False)
    index = []
    for i in picked.tolist():
        try:
            index.append((files[i].path, audio_info(files[i].path).duration))
        except AudioError:
            continue
    if not index:
        raise ValueError(f"no readable audio file among {len(picked)} files of {folder}")
    crop = crop_samples(config.frontend)
    rate = config.frontend.sample_rate
    crop_s = crop / rate
    start = time.perf_counter()
    for _ in range(pairs):
        path, duration = index[int(rng.integers(len(index)))]
        views = []
        for _view in range(2):
            offset = float(rng.uniform(0.0, max(duration - crop_s, 0.0)))
            audio = load_audio(path, rate, start=offset, duration=crop_s)
            views.append(np.pad(audio[:crop], (0, max(0, crop - audio.shape[0]))))
        views[1] = views[1] + config.data.noise_std * rng.standard_normal(crop).astype(np.float32)
    return pairs / (time.perf_counter() - start)


def loading_rows(settings: Settings, train_rate: float, train_note: str) -> list[Row]:
    """Cache loader and on-the-fly decoding, each against the training step's rate ``train_rate``."""
    s = settings.sizes
    config = load_config("default")
    source = choose_source(settings, config)
    log.info("[3 loading] loader from the decoded-audio cache: %s", source.description)
    cache_rate, info = cache_loader_rate(source, config, s.train_batch, s.loader_batches)
    log.info("[3 loading]   %.0f pairs/s; decoding on the fly", cache_rate)
    fly_rate = on_the_fly_rate(source.folder, config, s.fly_pairs)
    log.info("[3 loading]   %.0f pairs/s", fly_rate)
    vs_train = f"ratio vs the training step ({train_rate:.1f} pairs/s, {train_note})"
    return [
        Row(SECTION, "audio pool", info["hours"], "hours", None, f"{source.description}; {info['clips']} clips"),
        Row(SECTION, "pool start-up (open or build the cache)", info["pool_s"], "s"),
        Row(SECTION, "clip table start-up (normalisation factors)", info["clips_s"], "s"),
        Row(
            SECTION,
            f"loader from decoded-audio cache, batch {s.train_batch}",
            cache_rate,
            "pairs/s",
            ratio(cache_rate, train_rate),
            f"{vs_train}; {verdict(ratio(cache_rate, train_rate), LOADER_RATIO_TARGET)}",
        ),
        Row(
            SECTION,
            "decoding each crop on the fly",
            fly_rate,
            "pairs/s",
            ratio(fly_rate, train_rate),
            f"{vs_train}; the cache loader delivers {cache_rate / fly_rate:.1f}x this",
        ),
    ]
