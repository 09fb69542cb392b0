"""Anchor/positive pairs: two random crops of the same clip, as a pure function of (seed, rank, step).

The COLA recipe: a clip is picked, two independent random crops of exactly one model
window (``segment_frames`` log-mel frames) are cut from it, short clips are zero-padded,
the whole clip is L2-normalised first, and the positive gets Gaussian noise. The other
positives of the batch are the distractors. Because every random draw of a batch comes
from a generator seeded with (seed, rank, step), a resumed run sees exactly the batches
an uninterrupted run would, and every process of a multi-process run gets its own.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from cola_hear.config import FrontEndConfig
from cola_pretrain.audio_cache import AudioPool
from cola_pretrain.augment import mix_in, random_gain, spec_masks, spectral_offsets, zoom_params
from cola_pretrain.config import AugmentConfig, PretrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipTable:
    """Clips to sample from: extents in the pool's samples and the normalisation factor of each."""

    starts: np.ndarray  # int64
    lengths: np.ndarray  # int64
    scales: np.ndarray  # float32: multiply samples by this (1 / L2 norm, 1 / peak, or 1)

    def __len__(self) -> int:
        return int(self.starts.shape[0])


@dataclass
class PairBatch:
    """One step's input: waveform crops and the log-mel augmentations of both views (anchors, then positives)."""

    step: int
    anchors: torch.Tensor  # (B, crop_samples) float32
    positives: torch.Tensor  # (B, crop_samples) float32
    masks: torch.Tensor | None = None  # (2B, frames, n_mels) bool: time/frequency masks
    spectral: torch.Tensor | None = None  # (2B, n_mels) float32: per-band log offsets (EQ, band limit)
    zoom: torch.Tensor | None = None  # (2B, 4) float32: random resized crops

    def views(self) -> dict[str, torch.Tensor]:
        """The log-mel augmentations that are on, by name."""
        named = (("masks", self.masks), ("spectral", self.spectral), ("zoom", self.zoom))
        return {k: v for k, v in named if v is not None}

    def pin_memory(self) -> PairBatch:
        pinned = {k: v.pin_memory() for k, v in self.views().items()}
        return PairBatch(self.step, self.anchors.pin_memory(), self.positives.pin_memory(), **pinned)


def crop_samples(frontend: FrontEndConfig) -> int:
    """Samples of a crop that the front end turns into exactly ``segment_frames`` frames (15,200 at 16 kHz)."""
    return (frontend.segment_frames - 1) * frontend.hop_length


def make_clips(pool: AudioPool, clip_seconds: float | None, normalize: str) -> ClipTable:
    """Split the pool's files into clips (``clip_seconds`` long, or one per file) and normalise each.

    A remainder shorter than half a clip joins the previous clip. ``normalize``: "l2" scales
    each clip to unit L2 norm (the official recipe), "peak" to unit peak, "none" leaves it.
    """
    starts, lengths = [], []
    size = clip_size(clip_seconds, pool.sample_rate)
    for offset, length in zip(pool.offsets.tolist(), pool.lengths.tolist(), strict=True):
        for a, b in itertools.pairwise(clip_bounds(length, size)):
            starts.append(offset + a)
            lengths.append(b - a)
    starts_arr, lengths_arr = np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64)
    scales = np.ones(len(starts), dtype=np.float32)
    if normalize != "none":
        for i, (s, n) in enumerate(zip(starts, lengths, strict=True)):
            scales[i] = clip_scale(pool.samples[s : s + n], normalize)
    return ClipTable(starts_arr, lengths_arr, scales)


def clip_size(clip_seconds: float | None, sample_rate: int) -> int | None:
    """Samples per clip for ``data.clip_seconds`` (None: one clip per file)."""
    return None if clip_seconds is None else max(1, round(clip_seconds * sample_rate))


def clip_scale(samples: np.ndarray, normalize: str) -> float:
    """The factor that gives ``samples`` unit L2 norm ("l2") or unit peak ("peak"); 1 for "none" or silence."""
    if normalize == "none":
        return 1.0
    x = np.asarray(samples, dtype=np.float64)
    norm = float(np.sqrt(np.dot(x, x))) if normalize == "l2" else float(np.abs(x).max())
    return 1.0 / norm if norm > 0 else 1.0


def clip_bounds(length: int, size: int | None) -> list[int]:
    """Boundaries of the clips of a ``length``-sample file cut every ``size`` samples (None: one clip).

    A remainder shorter than half a clip joins the last clip.
    """
    if size is None or length <= size:
        return [0, length]
    whole = length // size
    if length - whole * size < size / 2:  # a short remainder joins the last clip
        whole -= 1
    return [k * size for k in range(whole + 1)] + [length]


class PairSampler:
    """Makes the batch of any step; ``sampler(step)`` is deterministic given (seed, rank, step)."""

    def __init__(
        self,
        pool: AudioPool,
        clips: ClipTable,
        frontend: FrontEndConfig,
        batch_size: int,
        seed: int,
        rank: int = 0,
        noise_std: float = 0.001,
        augment: AugmentConfig | None = None,
    ) -> None:
        if len(clips) == 0:
            raise ValueError("no clips to sample from")
        self.samples = pool.samples
        self.clips = clips
        self.crop = crop_samples(frontend)
        self.frames = frontend.segment_frames
        self.n_mels = frontend.n_mels
        self.batch_size = batch_size
        if len(clips) < batch_size:
            log.warning(
                "the pool has %d clips, fewer than the batch of %d pairs: clips repeat within a batch, so some "
                "distractors are copies of the positive and loss and accuracy are not comparable with other runs",
                len(clips),
                batch_size,
            )
        self.seed = seed
        self.rank = rank
        self.noise_std = noise_std
        self.augment = augment or AugmentConfig()

    @classmethod
    def for_run(cls, pool: AudioPool, config: PretrainConfig, rank: int = 0) -> PairSampler:
        """The sampler a run's config describes: its clips, crops, batch size, seed, noise and augmentations."""
        data = config.data
        clips = make_clips(pool, data.clip_seconds, data.normalize)
        return cls(pool, clips, config.frontend, config.train.batch_size, config.train.seed, rank,
                   data.noise_std, config.augment)  # fmt: skip

    def __call__(self, step: int) -> PairBatch:
        return self.pairs(np.random.default_rng([self.seed, self.rank, step]), step)

    def pairs(self, rng: np.random.Generator, step: int = 0) -> PairBatch:
        """A batch drawn with ``rng`` (``sampler(step)`` seeds it with (seed, rank, step))."""
        n, b = len(self.clips), self.batch_size
        ids = rng.choice(n, size=b, replace=n < b)  # distinct clips whenever the data allows
        views = np.stack([self._crops(ids, rng), self._crops(ids, rng)])  # (2, B, crop): anchors, positives
        noise = rng.standard_normal((b, self.crop), dtype=np.float32) * np.float32(self.noise_std)
        extra = self._augment(views, ids, rng)
        views[1] += noise
        return PairBatch(step, torch.from_numpy(views[0]), torch.from_numpy(views[1]), **extra)

    def _crops(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random crop of each clip in ``ids``, normalised; shorter clips are zero-padded at the end."""
        lengths = self.clips.lengths[ids]
        offsets = rng.integers(0, np.maximum(lengths - self.crop, 0) + 1)
        out = np.zeros((ids.shape[0], self.crop), dtype=np.float32)
        for i, (clip, offset) in enumerate(zip(ids.tolist(), offsets.tolist(), strict=True)):
            start = int(self.clips.starts[clip]) + offset
            count = min(int(self.clips.lengths[clip]), self.crop)
            out[i, :count] = self.samples[start : start + count]
            out[i, :count] *= self.clips.scales[clip]
        return out

    def _augment(self, views: np.ndarray, ids: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Waveform augmentations in place; returns the log-mel ones drawn for the step (see ``PairBatch``)."""
        cfg = self.augment
        n = len(self.clips)
        if cfg.mix_prob > 0 and n > 1:
            chosen = rng.random(views.shape[:2]) < cfg.mix_prob
            others = (ids[None, :] + rng.integers(1, n, size=views.shape[:2])) % n  # never the clip itself
            ratios = rng.uniform(0.0, cfg.mix_max_ratio, size=views.shape[:2])
            other_crops = np.stack([self._crops(others[0], rng), self._crops(others[1], rng)])
            mix_in(views, other_crops, chosen, ratios)
        if cfg.gain_db > 0:
            random_gain(views, rng, cfg.gain_db)
        extra = {}
        count = 2 * self.batch_size
        if cfg.uses_masks:
            extra["masks"] = torch.from_numpy(spec_masks(rng, count, self.frames, self.n_mels, cfg))
        if cfg.uses_spectral:
            extra["spectral"] = torch.from_numpy(spectral_offsets(rng, count, self.n_mels, cfg))
        if cfg.zoom > 0:
            extra["zoom"] = torch.from_numpy(zoom_params(rng, count, cfg.zoom))
        return extra


class Prefetcher:
    """Makes the batches of steps ``start, start+1, ...`` in a background thread, ``depth`` ahead."""

    def __init__(self, make: Callable[[int], PairBatch], start: int, depth: int = 2, pin: bool = False) -> None:
        self._make = make
        self._pin = pin
        self._next = start
        self._depth = depth
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(target=self._run, name="pair-sampler", daemon=True)
            self._thread.start()

    def get(self, step: int) -> PairBatch:
        """The batch of ``step`` (steps must be asked for in order)."""
        if step != self._next:
            raise ValueError(f"batches are made in order: expected step {self._next}, asked for {step}")
        self._next += 1
        if self._thread is None:
            return self._produce(step)
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)

    def _produce(self, step: int) -> PairBatch:
        batch = self._make(step)
        return batch.pin_memory() if self._pin else batch

    def _run(self) -> None:
        step = self._next
        while not self._stop.is_set():
            try:
                item: PairBatch | BaseException = self._produce(step)
            except BaseException as exc:  # handed to the training thread
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return
            step += 1
