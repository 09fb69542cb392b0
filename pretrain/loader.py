"""Batches for the training loop: from the decoded-audio pool (a folder) or streamed from tar shards.

``open_batches`` gives the loop one object with ``get(step)`` and ``close()`` whatever the source:

- a folder (``AudioPool``, ``pretrain/audio_cache.py``): ``PairSampler`` in a background thread, every batch a
  pure function of (seed, rank, step), so a resumed run is exact;
- shards (``ShardPool``, ``pretrain/shards.py``): a ``torch.utils.data.DataLoader`` whose workers stream
  their own shards through a shuffle buffer of clips. Each epoch the shards are permuted with
  (seed, epoch) and dealt to the (rank, worker) units; a unit's shuffle buffer, crops and augmentations
  draw from a generator seeded with (seed, rank, worker, start step), and the DataLoader takes the
  workers' batches in turn, so a run is deterministic given those numbers and the worker count. A
  resumed run starts new epochs from its resume step: it is approximate (its batches differ from an
  uninterrupted run's; clips seen before the stop may come again sooner), not exact.

With fewer shards than units (ranks x workers), every unit reads every shard and keeps every
``units``-th clip, so units still see disjoint clips.
"""

from __future__ import annotations

import itertools
import logging
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from cola_hear.config import FrontEndConfig
from cola_pretrain.audio_cache import AudioPool
from cola_pretrain.config import AugmentConfig, PretrainConfig
from cola_pretrain.manifest import DataError
from cola_pretrain.sampling import ClipTable, PairBatch, PairSampler, Prefetcher, clip_bounds, clip_scale, clip_size
from cola_pretrain.shards import MEMBER_FORMATS, ShardPool, decode_audio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamSpec:
    """What every unit of a shard stream needs (picklable, for the DataLoader's worker processes)."""

    urls: tuple[str, ...]
    sample_rate: int
    frontend: FrontEndConfig
    augment: AugmentConfig
    batch_size: int
    seed: int
    rank: int
    world_size: int
    start: int  # the resume point (micro-batch index): part of every unit's seed
    buffer: int  # clips in a unit's shuffle buffer
    clip_seconds: float | None
    normalize: str
    noise_std: float


class ShardPairStream(IterableDataset):
    """An endless stream of ``PairBatch`` from tar shards; each DataLoader worker streams its own shards."""

    def __init__(self, spec: StreamSpec) -> None:
        super().__init__()
        self.spec = spec

    def __iter__(self) -> Iterator[PairBatch]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:
            torch.set_num_threads(1)
        spec = self.spec
        rng = np.random.default_rng([spec.seed, spec.rank, worker, spec.start, 0xC01A])
        unit, units = spec.rank * workers + worker, spec.world_size * workers
        buffer: list[tuple[np.ndarray, float]] = []  # (float16 samples, scale)
        for clip in self._clips(unit, units):
            buffer.append(clip)
            if len(buffer) >= max(spec.buffer, spec.batch_size):
                yield self._batch(buffer, rng)

    def _batch(self, buffer: list[tuple[np.ndarray, float]], rng: np.random.Generator) -> PairBatch:
        """Take ``batch_size`` random clips out of the buffer and make their pairs (``PairSampler``)."""
        spec = self.spec
        picked = sorted(rng.choice(len(buffer), size=spec.batch_size, replace=False).tolist(), reverse=True)
        clips = []
        for i in picked:  # swap-remove, highest index first
            clips.append(buffer[i])
            buffer[i] = buffer[-1]
            buffer.pop()
        lengths = np.array([c.shape[0] for c, _ in clips], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        samples = np.concatenate([c for c, _ in clips])
        table = ClipTable(starts, lengths, np.array([s for _, s in clips], dtype=np.float32))
        source: Any = types.SimpleNamespace(samples=samples)  # PairSampler reads only the samples of a pool
        sampler = PairSampler(source, table, spec.frontend, spec.batch_size, spec.seed, spec.rank, spec.noise_std,
                              spec.augment)  # fmt: skip
        return sampler.pairs(rng)

    def _clips(self, unit: int, units: int) -> Iterator[tuple[np.ndarray, float]]:
        """This unit's clips, epoch after epoch: (samples as float32 at the stored gain, normalisation scale)."""
        spec = self.spec
        n = len(spec.urls)
        split_clips = n < units
        for epoch in itertools.count():
            order = np.random.default_rng([spec.seed, epoch, 0x5A4D]).permutation(n)
            mine = order if split_clips else order[unit::units]
            count = 0
            for k, clip in enumerate(self._read(mine)):
                if not split_clips or k % units == unit:
                    count += 1
                    yield clip
            if count == 0:
                raise DataError(
                    f"loader unit {unit} of {units} (ranks x data.workers) got no clip from {n} shard(s): the shards "
                    "hold no usable clip, or fewer clips than units (use fewer data.workers)"
                )

    def _read(self, shard_ids: np.ndarray) -> Iterator[tuple[np.ndarray, float]]:
        from webdataset.handlers import warn_and_continue
        from webdataset.tariterators import tarfile_samples

        spec = self.spec
        size = clip_size(spec.clip_seconds, spec.sample_rate)
        urls = [{"url": spec.urls[i]} for i in shard_ids.tolist()]
        for sample in tarfile_samples(iter(urls), handler=warn_and_continue):
            key = next((ext for ext in MEMBER_FORMATS if ext in sample), None)
            if key is None:
                log.warning(
                    "%s: member %s has no .flac or .wav audio; skipped", sample.get("__url__"), sample["__key__"]
                )
                continue
            try:
                audio, rate = decode_audio(sample[key])
                meta = _meta(sample.get("json"))
            except Exception as exc:  # one bad member never ends a run
                log.warning("%s: member %s is unreadable (%s); skipped", sample.get("__url__"), sample["__key__"], exc)
                continue
            if rate != spec.sample_rate or audio.size == 0:
                log.warning("%s: member %s is %d Hz / %d samples; skipped", sample.get("__url__"), sample["__key__"],
                            rate, audio.size)  # fmt: skip
                continue
            gain = float(meta.get("gain", 1.0))
            if gain != 1.0:
                audio /= np.float32(gain)
            bounds = clip_bounds(audio.shape[0], size)
            for a, b in itertools.pairwise(bounds):
                clip = audio[a:b]
                # float16 in the buffer (as in the decoded-audio cache): half the memory of float32
                yield clip.astype(np.float16), _scale(clip, spec.normalize, meta if len(bounds) == 2 else {})


def _meta(data: bytes | None) -> dict[str, Any]:
    import json

    return json.loads(data) if data else {}


def _scale(clip: np.ndarray, normalize: str, meta: dict[str, Any]) -> float:
    """The clip's normalisation factor: from the member's metadata when the clip is the whole member."""
    if normalize == "none":
        return 1.0
    name = "l2_scale" if normalize == "l2" else "peak_scale"
    if name in meta:
        return float(meta[name])
    return clip_scale(clip, normalize)


class ShardBatches:
    """``get(step)`` of the shard stream: the DataLoader's next batch, labelled with its step."""

    def __init__(self, spec: StreamSpec, workers: int, prefetch: int, pin: bool) -> None:
        self._next = spec.start
        self._loader = DataLoader(
            ShardPairStream(spec),
            batch_size=None,
            num_workers=workers,
            pin_memory=pin,
            prefetch_factor=max(1, prefetch) if workers else None,
            persistent_workers=False,
        )
        self._iter: Iterator[PairBatch] | None = iter(self._loader)

    def get(self, step: int) -> PairBatch:
        if step != self._next or self._iter is None:
            raise ValueError(f"batches are made in order: expected step {self._next}, asked for {step}")
        self._next += 1
        batch = next(self._iter)
        batch.step = step
        return batch

    def close(self) -> None:
        self._iter = None  # the DataLoader's workers end with their iterator


def stream_spec(pool: ShardPool, config: PretrainConfig, rank: int, world_size: int, start: int) -> StreamSpec:
    """The shard stream a run's config describes for one rank, from micro-batch ``start`` on."""
    data = config.data
    return StreamSpec(
        tuple(pool.names), pool.sample_rate, config.frontend, config.augment, config.train.batch_size,
        config.train.seed, rank, world_size, start, data.shuffle_buffer, data.clip_seconds, data.normalize,
        data.noise_std,
    )  # fmt: skip


def open_batches(
    pool: AudioPool | ShardPool, config: PretrainConfig, rank: int, world_size: int, start: int, pin: bool = False
) -> Prefetcher | ShardBatches:
    """The batches of a run from micro-batch ``start`` on (see the module docstring)."""
    if isinstance(pool, ShardPool):
        if pool.sample_rate != config.frontend.sample_rate:
            raise DataError(
                f"the shards are {pool.sample_rate} Hz but frontend.sample_rate is {config.frontend.sample_rate}"
            )
        spec = stream_spec(pool, config, rank, world_size, start)
        return ShardBatches(spec, config.data.workers, config.data.prefetch, pin)
    sampler = PairSampler.for_run(pool, config, rank)
    return Prefetcher(sampler, start, config.data.prefetch, pin=pin)
