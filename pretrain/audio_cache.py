"""The audio pool: every usable file decoded once to 16 kHz mono, in one flat float16 array.

Files are decoded with ``cola_common.audio_files.load_audio``; a file that cannot be used
(unreadable, empty, NaN/inf, silent) is skipped with a warning and recorded, never
ending the run. With a cache folder the decoded samples go to a memory-mapped file
plus a JSON index keyed by the data manifest (paths, sizes, mtimes), so later runs
start at once and the loader only slices memory; the cache is rebuilt when the
folder changes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cola_common.audio_files import audio_info, load_audio
from cola_hear.atomic import atomic_write, atomic_write_text
from cola_pretrain.manifest import AudioFile, DataError, cache_key, find_audio_files, manifest_hash

log = logging.getLogger(__name__)

CACHE_VERSION = 1
SAMPLES_FILE = "samples.f16"
INDEX_FILE = "index.json"
DECODE_BLOCK_SECONDS = 600.0  # long files are decoded in blocks of this length
MAX_ABS_SAMPLE = 1000.0  # larger float samples are corrupt data (and overflow float16)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the pool and why."""

    name: str
    reason: str


@dataclass
class AudioPool:
    """Decoded files back to back in ``samples`` (float16, 16 kHz mono), with their extents."""

    samples: np.ndarray
    names: list[str]  # manifest names of the decoded files
    offsets: np.ndarray  # int64 start of each file in ``samples``
    lengths: np.ndarray  # int64 length of each file in samples
    skipped: list[SkippedFile]
    manifest_hash: str
    folders: list[str]
    sample_rate: int

    @property
    def total_seconds(self) -> float:
        return float(self.lengths.sum()) / self.sample_rate

    def summary(self) -> dict[str, Any]:
        """What the provenance of a weights file records about the data (with the pools' identity, for folders
        written by ``cola-suite pool``)."""
        files = len(self.names) + len(self.skipped)
        return {
            "folders": self.folders,
            "files": files,
            "decoded_files": len(self.names),
            "skipped_files": len(self.skipped),
            "hours": round(self.total_seconds / 3600, 4),
            "sample_rate": self.sample_rate,
            "manifest_sha256": self.manifest_hash,
            "pools": pool_identity(self.folders, files),
        }

    def manifest(self) -> dict[str, Any]:
        """The full data manifest: summary, every decoded file with its duration, every skipped file."""
        return {
            **self.summary(),
            "decoded": [
                {"name": n, "seconds": round(int(n_samples) / self.sample_rate, 3)}
                for n, n_samples in zip(self.names, self.lengths, strict=True)
            ],
            "skipped": [asdict(s) for s in self.skipped],
        }


def pool_identity(folders: Sequence[str | os.PathLike], files: int | None = None) -> list[dict[str, Any]]:
    """Name, domain, checksum and hours of every folder that ``cola-suite pool`` wrote (its ``manifest.json``).

    With ``files``, a folder is reported only when its manifest lists that many files in total (all folders
    together), so a pool rebuilt since, with other contents, is not taken for the one a run read.
    """
    found = []
    for folder in folders:
        try:
            manifest = json.loads((Path(folder) / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and {"name", "sha256", "num_files"} <= set(manifest):
            found.append({
                "folder": str(folder), "name": manifest["name"], "domain": manifest.get("domain", "suite"),
                "sha256": manifest["sha256"], "hours": manifest.get("total_hours"), "files": manifest["num_files"],
            })  # fmt: skip
    if files is not None and sum(f["files"] for f in found) != files:
        return []
    return found


def build_pool(
    folders: Sequence[str | os.PathLike],
    sample_rate: int,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = True,
) -> AudioPool:
    """Scan ``folders``, then load the pool from the cache or decode every file (and fill the cache)."""
    files = find_audio_files(folders)
    folder_names = [str(Path(f).expanduser().resolve()) for f in folders]
    digest = manifest_hash(files)
    if cache_dir is None:
        log.info("decoding %d audio files (no cache)", len(files))
        return _decode_in_memory(files, sample_rate, digest, folder_names, workers, progress)
    key = cache_key(files, sample_rate, CACHE_VERSION)
    entry = cache_entry(key, cache_dir)
    pool = _read_cache(entry, key, folder_names)
    if pool is not None:
        log.info("audio cache hit: %s (%d files, %.2f h)", entry, len(pool.names), pool.total_seconds / 3600)
        for s in pool.skipped:
            log.warning("skipping %s: %s (cached)", s.name, s.reason)
        return pool
    log.info("decoding %d audio files into the cache %s", len(files), entry)
    _write_cache(entry, key, files, sample_rate, digest, workers, progress)
    pool = _read_cache(entry, key, folder_names)
    if pool is None:
        raise DataError(f"audio cache {entry} was written but cannot be read back")
    return pool


def cache_entry(key: str, cache_dir: str | os.PathLike) -> Path:
    """The folder of the cache entry for ``key``; it is complete once it holds ``INDEX_FILE``."""
    return Path(cache_dir) / key[:24]


def log_skipped(pool: AudioPool, limit: int = 10) -> None:
    """Log a summary of the files left out of the pool."""
    if not pool.skipped:
        log.info("data: %d files decoded, none skipped", len(pool.names))
        return
    shown = "; ".join(f"{s.name} ({s.reason})" for s in pool.skipped[:limit])
    more = f"; and {len(pool.skipped) - limit} more" if len(pool.skipped) > limit else ""
    log.warning(
        "data: skipped %d of %d files: %s%s",
        len(pool.skipped),
        len(pool.skipped) + len(pool.names),
        shown,
        more,
    )


def decode_file(file: AudioFile, sample_rate: int) -> np.ndarray | SkippedFile:
    """The file's samples as float16 (finite: NaN/inf and implausible values are refused), or why it cannot be
    used."""
    try:
        audio = _decode_blocks(file.path, sample_rate)
    except Exception as exc:  # one bad file never ends a run
        return SkippedFile(file.name, _short(exc, file.path))
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if audio.size == 0:
        return SkippedFile(file.name, "no samples")
    if peak == 0.0:
        return SkippedFile(file.name, "silent (all samples are zero)")
    if peak > MAX_ABS_SAMPLE:
        return SkippedFile(file.name, f"implausible sample values (peak {peak:.3g})")
    return audio.astype(np.float16)


def _decode_blocks(path: str | Path, sample_rate: int) -> np.ndarray:
    """Decode a file as float16 in blocks of ``DECODE_BLOCK_SECONDS`` (float32 memory bounded by one block).

    A multi-hour recording never exists whole in float32; a file shorter than one block is one read.
    When resampling, each block is resampled on its own: a few samples at each seam differ slightly.
    """
    duration = audio_info(path).duration
    blocks, start = [], 0.0
    while start < duration:
        blocks.append(load_audio(path, sample_rate, start=start, duration=DECODE_BLOCK_SECONDS).astype(np.float16))
        start += DECODE_BLOCK_SECONDS
    return np.concatenate(blocks)


def _decoded(files: list[AudioFile], sample_rate: int, workers: int, progress: bool) -> Iterator[tuple[AudioFile, Any]]:
    with ThreadPoolExecutor(max_workers=workers) as executor:
        results = executor.map(lambda f: decode_file(f, sample_rate), files)
        bar = tqdm(
            zip(files, results, strict=True), total=len(files), desc="decoding audio", unit="file", disable=not progress
        )
        for file, result in bar:
            if isinstance(result, SkippedFile):
                log.warning("skipping %s: %s", file.path, result.reason)
            yield file, result


def _decode_in_memory(
    files: list[AudioFile], sample_rate: int, digest: str, folders: list[str], workers: int, progress: bool
) -> AudioPool:
    arrays, names, skipped = [], [], []
    for file, result in _decoded(files, sample_rate, workers, progress):
        if isinstance(result, SkippedFile):
            skipped.append(result)
        else:
            arrays.append(result)
            names.append(file.name)
    _require_audio(names, skipped)
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return AudioPool(np.concatenate(arrays), names, offsets, lengths, skipped, digest, folders, sample_rate)


def _write_cache(
    entry: Path, key: str, files: list[AudioFile], sample_rate: int, digest: str, workers: int, progress: bool
) -> None:
    """Decode into ``entry`` atomically: samples, then the index that marks the entry complete."""
    names: list[str] = []
    lengths: list[int] = []
    skipped: list[SkippedFile] = []

    def write_samples(tmp: str) -> None:
        with open(tmp, "wb") as out:
            for file, result in _decoded(files, sample_rate, workers, progress):
                if isinstance(result, SkippedFile):
                    skipped.append(result)
                else:
                    out.write(result.tobytes())
                    names.append(file.name)
                    lengths.append(int(result.shape[0]))
        _require_audio(names, skipped)

    atomic_write(entry / SAMPLES_FILE, write_samples)
    index = {
        "version": CACHE_VERSION,
        "key": key,
        "sample_rate": sample_rate,
        "manifest_sha256": digest,
        "names": names,
        "lengths": lengths,
        "skipped": [asdict(s) for s in skipped],
    }
    atomic_write_text(entry / INDEX_FILE, json.dumps(index))


def _read_cache(entry: Path, key: str, folders: list[str]) -> AudioPool | None:
    """The cached pool, or None when the entry is missing, incomplete or stale."""
    index_path, samples_path = entry / INDEX_FILE, entry / SAMPLES_FILE
    if not index_path.is_file() or not samples_path.is_file():
        return None
    try:
        index = json.loads(index_path.read_text())
        if index.get("version") != CACHE_VERSION or index.get("key") != key:
            return None
        lengths = np.array(index["lengths"], dtype=np.int64)
        total = int(lengths.sum())
        if samples_path.stat().st_size != 2 * total:
            log.warning("audio cache %s is truncated; rebuilding it", entry)
            return None
        samples = np.memmap(samples_path, dtype=np.float16, mode="r", shape=(total,))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("audio cache %s is unreadable (%s); rebuilding it", entry, exc)
        return None
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    skipped = [SkippedFile(**s) for s in index["skipped"]]
    return AudioPool(
        samples,
        list(index["names"]),
        offsets,
        lengths,
        skipped,
        index["manifest_sha256"],
        folders,
        index["sample_rate"],
    )


def _require_audio(names: list[str], skipped: list[SkippedFile]) -> None:
    if not names:
        raise DataError(f"none of the {len(skipped)} audio files could be decoded (first: {skipped[0]})")


def _short(exc: Exception, path: str, limit: int = 200) -> str:
    """The exception's message without the file path it may start with, at most ``limit`` characters."""
    text = str(exc) or type(exc).__name__
    text = text.removeprefix(f"{path}: ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
