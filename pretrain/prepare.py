"""``cola-pretrain prepare``: decode folders of audio once into WebDataset tar shards (``pretrain/shards.py``).

Resumable and incremental: every finished shard is followed by a small JSON file naming the
source files it read (path, size, modification time), and a later prepare decodes only the
files no finished shard names (new or changed files). A killed prepare loses at most the shard
it was writing. Parallel with bounded memory: files are found by a streaming walk and at most
``4 x workers`` of them are in flight, whatever the number of files. A file that cannot be used
(unreadable, empty, NaN/inf, silent) is skipped with a warning, recorded in its shard's JSON and
in the manifest, and not retried until it changes.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import re
import tarfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cola_hear.atomic import atomic_write_text
from cola_pretrain.audio_cache import SkippedFile, decode_file
from cola_pretrain.manifest import AudioFile, DataError, walk_audio
from cola_pretrain.sampling import clip_bounds, clip_scale, clip_size
from cola_pretrain.shards import MANIFEST_FILE, MEMBER_FORMATS, ShardInfo, encode_audio, write_manifest

log = logging.getLogger(__name__)

LOCK_FILE = ".prepare.lock"
_SIDECAR = re.compile(r"^shard-(\d{6,})\.json$")


@dataclass(frozen=True)
class PrepareOptions:
    """How ``prepare`` decodes and packs."""

    sample_rate: int = 16000
    fmt: str = "flac"  # "flac" or "wav" (16-bit PCM either way)
    clip_seconds: float | None = None  # cut files into clips of this length (None: one clip per file)
    shard_clips: int = 1000  # clips per shard at most
    shard_mb: float = 512.0  # encoded megabytes per shard at most
    workers: int = 2  # decoding processes (0: decode in this process)
    licence: str | None = None  # licence of files whose folder does not name one


@dataclass
class PrepareResult:
    """What a prepare did: new shards, files decoded and skipped now, totals of the folder."""

    out_dir: Path
    new_shards: int = 0
    new_files: int = 0
    new_clips: int = 0
    new_seconds: float = 0.0
    skipped_now: list[SkippedFile] = field(default_factory=list)
    already_prepared: int = 0
    shards: int = 0
    clips: int = 0
    seconds: float = 0.0
    wall_s: float = 0.0
    first_file_s: float = 0.0  # seconds until the first file to decode was done (the decoding processes' start)

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "new_shards": self.new_shards, "new_files": self.new_files,
            "new_clips": self.new_clips, "new_hours": round(self.new_seconds / 3600, 4),
            "skipped_now": [{"name": s.name, "reason": s.reason} for s in self.skipped_now],
            "already_prepared": self.already_prepared, "shards": self.shards, "clips": self.clips,
            "hours": round(self.seconds / 3600, 4), "wall_s": round(self.wall_s, 3),
        }  # fmt: skip


def prepare(
    folders: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    options: PrepareOptions | None = None,
    progress: bool = True,
) -> PrepareResult:
    """Decode every audio file under ``folders`` that ``out_dir`` does not hold yet into new shards there."""
    opts = options or PrepareOptions()
    if opts.fmt not in MEMBER_FORMATS:
        raise DataError(f"--format must be one of {', '.join(MEMBER_FORMATS)}, got {opts.fmt!r}")
    if opts.shard_clips < 1 or opts.shard_mb <= 0 or opts.workers < 0:
        raise DataError("--shard-clips and --shard-mb must be positive, --workers non-negative")
    if not folders:
        raise DataError("no folder to prepare")
    roots = [Path(f).expanduser().resolve() for f in folders]
    for folder, root in zip(folders, roots, strict=True):
        if not root.is_dir():
            raise DataError(f"data folder not found: {folder}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with _lock(out):
        existing = _finished_shards(out)
        # 8 bytes per prepared file, looked up by binary search (a set of strings would be 100+ bytes each)
        done = np.sort(np.array([_file_id(*s) for sc in existing for s in sc.pop("sources")], dtype=np.uint64))
        result = PrepareResult(out)
        writer = _ShardWriter(out, opts, existing)
        licences = {str(root): _folder_licences(root) for root in roots}

        def tasks() -> Iterator[tuple]:
            for root in roots:
                for path in walk_audio(root):
                    try:
                        stat = path.stat()
                    except OSError as exc:
                        log.warning("skipping %s: %s", path, exc)
                        continue
                    ident = _file_id(str(path), stat.st_size, stat.st_mtime_ns)
                    k = int(np.searchsorted(done, ident))
                    if k < done.size and done[k] == ident:
                        result.already_prepared += 1
                        continue
                    rel = path.relative_to(root).as_posix()
                    licence = licences[str(root)].get(rel, opts.licence)
                    yield (str(path), rel, stat.st_size, stat.st_mtime_ns, licence, opts)

        bar = tqdm(desc="preparing audio", unit="file", disable=not progress)
        try:
            for source, outcome in _bounded_map(_prepare_file, tasks(), opts.workers):
                if not result.new_files:
                    result.first_file_s = time.perf_counter() - started
                bar.update(1)
                result.new_files += 1
                if isinstance(outcome, SkippedFile):
                    log.warning("skipping %s: %s", outcome.name, outcome.reason)
                    result.skipped_now.append(outcome)
                    writer.add_skipped(source, outcome)
                    continue
                for _data, meta in outcome:
                    result.new_clips += 1
                    result.new_seconds += meta["seconds"]
                writer.add(source, outcome)
        finally:  # the clips of the open shard are complete: keep them (a kill -9 loses only that shard)
            bar.close()
            writer.close()
        result.new_shards = writer.new_shards
        shards, skipped = writer.all_shards(), writer.all_skipped()
        write_manifest(out, shards, opts.sample_rate, skipped)
    result.shards = len(shards)
    result.clips = sum(s.clips for s in shards)
    result.seconds = sum(s.seconds for s in shards)
    result.wall_s = time.perf_counter() - started
    if result.clips == 0:
        raise DataError(f"no usable audio under {', '.join(map(str, folders))} ({len(skipped)} file(s) skipped)")
    log.info(
        "prepared %d new file(s) into %d new shard(s) (%.2f h); %d already prepared; %s now holds %d shards, "
        "%d clips, %.2f h; %d file(s) skipped now",
        result.new_files, result.new_shards, result.new_seconds / 3600, result.already_prepared, out / MANIFEST_FILE,
        result.shards, result.clips, result.seconds / 3600, len(result.skipped_now),
    )  # fmt: skip
    return result


# -- decoding (runs in the worker processes) ---------------------------------------------------------------------
def _prepare_file(task: tuple) -> tuple[tuple[str, int, int], list[tuple[bytes, dict[str, Any]]] | SkippedFile]:
    """Decode one file to 16 kHz mono, cut it into clips and encode each; or why it cannot be used."""
    path, rel, size, mtime, licence, opts = task
    source = (path, size, mtime)
    decoded = decode_file(AudioFile(path, rel, size, mtime), opts.sample_rate)  # refuses NaN/inf itself
    if isinstance(decoded, SkippedFile):
        return source, SkippedFile(path, decoded.reason)
    audio = decoded.astype(np.float32)
    peak = float(np.abs(audio).max())
    gain = 1.0 if peak <= 1.0 else 1.0 / peak  # 16-bit members hold [-1, 1]; the gain is undone on reading
    size_samples = clip_size(opts.clip_seconds, opts.sample_rate)
    clips = []
    for a, b in itertools.pairwise(clip_bounds(audio.shape[0], size_samples)):
        pcm = np.clip(np.round(audio[a:b] * gain * 32767.0), -32768, 32767).astype(np.int16)
        stored = pcm.astype(np.float64) / 32768.0 / gain  # what the loader reads back
        meta = {
            "source": path, "offset_s": round(a / opts.sample_rate, 4), "seconds": round((b - a) / opts.sample_rate, 4),
            "sample_rate": opts.sample_rate, "licence": licence, "gain": gain,
            "l2_scale": clip_scale(stored, "l2"), "peak_scale": clip_scale(stored, "peak"),
        }  # fmt: skip
        clips.append((encode_audio(pcm, opts.sample_rate, opts.fmt), meta))
    return source, clips


def _bounded_map(fn: Any, tasks: Iterator[tuple], workers: int) -> Iterator[Any]:
    """``fn`` over ``tasks`` in order, with at most ``4 x workers`` tasks submitted and not yet consumed."""
    if workers == 0:
        yield from map(fn, tasks)
        return
    # spawned, not forked: a fork of a process whose OpenMP pool has run (torch ops) can hang in the child
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init) as executor:
        pending: collections.deque[Future] = collections.deque()
        for task in tasks:
            pending.append(executor.submit(fn, task))
            if len(pending) >= 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _worker_init() -> None:
    """One torch thread per decoding process (the processes are the parallelism)."""
    import torch

    torch.set_num_threads(1)


# -- shards on disk ----------------------------------------------------------------------------------------------
class _ShardWriter:
    """Appends clips to ``shard-NNNNNN.tar`` files; a shard is finished once its JSON sidecar exists."""

    def __init__(self, out: Path, opts: PrepareOptions, existing: list[dict[str, Any]]) -> None:
        self.out = out
        self.opts = opts
        self.existing = existing
        self.finished: list[dict[str, Any]] = []
        self.next_index = 1 + max((sc["index"] for sc in existing), default=-1)
        self.tar: tarfile.TarFile | None = None
        self.tmp: Path | None = None
        self._reset()

    @property
    def new_shards(self) -> int:
        return sum(1 for sc in self.finished if sc["tar"])

    def _reset(self) -> None:
        self.sources: list[list[Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.clips = 0
        self.seconds = 0.0
        self.bytes = 0

    def add(self, source: tuple[str, int, int], clips: list[tuple[bytes, dict[str, Any]]]) -> None:
        if self.tar is None:
            self.tmp = self.out / f".shard-{self.next_index:06d}.tar.tmp"
            self.tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115 (closed in _finish)
        for data, meta in clips:
            key = f"{self.next_index:06d}-{self.clips:06d}"
            _add_member(self.tar, f"{key}.{self.opts.fmt}", data)
            _add_member(self.tar, f"{key}.json", json.dumps(meta).encode())
            self.clips += 1
            self.seconds += meta["seconds"]
            self.bytes += len(data)
        self.sources.append(list(source))
        if self.clips >= self.opts.shard_clips or self.bytes >= self.opts.shard_mb * 1e6:
            self._finish()

    def add_skipped(self, source: tuple[str, int, int], skipped: SkippedFile) -> None:
        self.sources.append(list(source))
        self.skipped.append({"name": skipped.name, "reason": skipped.reason})
        if len(self.sources) >= 10 * self.opts.shard_clips:  # a long run of bad files still gets recorded
            self._finish()

    def close(self) -> None:
        if self.sources:
            self._finish()

    def _finish(self) -> None:
        name = f"shard-{self.next_index:06d}"
        tar_name = None
        if self.tar is not None and self.tmp is not None:
            self.tar.close()
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
            tar_name = f"{name}.tar"
            os.replace(self.tmp, self.out / tar_name)  # the tar first: a sidecar always has its tar
            self.tar = self.tmp = None
        sidecar = {
            "index": self.next_index, "tar": tar_name, "clips": self.clips, "seconds": round(self.seconds, 4),
            "sources": self.sources, "skipped": self.skipped,
        }  # fmt: skip
        atomic_write_text(self.out / f"{name}.json", json.dumps(sidecar))
        del sidecar["sources"]  # memory stays bounded: the manifest needs the counts and skips only
        self.finished.append(sidecar)
        self.next_index += 1
        self._reset()

    def all_shards(self) -> list[ShardInfo]:
        return [
            ShardInfo(sc["tar"], sc["clips"], sc["seconds"]) for sc in [*self.existing, *self.finished] if sc["tar"]
        ]

    def all_skipped(self) -> list[SkippedFile]:
        return [SkippedFile(s["name"], s["reason"]) for sc in [*self.existing, *self.finished] for s in sc["skipped"]]


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _finished_shards(out: Path) -> list[dict[str, Any]]:
    """The sidecars of the finished shards in ``out``; leftovers of a killed prepare are removed."""
    for stale in out.glob(".shard-*.tmp"):
        log.info("removing %s, left by an interrupted prepare", stale.name)
        stale.unlink()
    found = []
    for path in sorted(out.iterdir()):
        if not _SIDECAR.match(path.name):
            continue
        try:
            sidecar = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{path} is unreadable ({exc}); remove it and its tar to prepare those files again"
            ) from exc
        if sidecar["tar"] and not (out / sidecar["tar"]).is_file():
            raise DataError(f"{path} names {sidecar['tar']}, which is missing; remove {path.name} to prepare again")
        found.append(sidecar)
    listed = {sc["tar"] for sc in found}
    for tar in out.glob("shard-*.tar"):
        if tar.name not in listed:  # written, but killed before its sidecar: its files are prepared again
            log.info("removing %s: an interrupted prepare did not finish it", tar.name)
            tar.unlink()
    return found


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    with open(out / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise DataError(f"another cola-pretrain prepare is writing to {out}") from exc
        yield


def _file_id(path: str, size: int, mtime_ns: int) -> int:
    digest = hashlib.blake2b(f"{path}\0{size}\0{mtime_ns}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _folder_licences(root: Path) -> dict[str, str]:
    """File (relative to ``root``) -> licence, from the ``manifest.json`` that ``cola-suite pool`` writes into a
    pool folder (``root``'s own, or its parent's when ``root`` is one source of a pool); else empty."""
    for manifest_dir, prefix in ((root, ""), (root.parent, root.name + "/")):
        try:
            manifest = json.loads((manifest_dir / "manifest.json").read_text())
            by_source = {s["debian_source"]: s["licence"] for s in manifest["sources"] if "licence" in s}
            found = {
                f["file"].removeprefix(prefix): by_source[f["source"]]
                for f in manifest["files"]
                if f.get("source") in by_source and f["file"].startswith(prefix)
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if found:
            return found
    return {}
