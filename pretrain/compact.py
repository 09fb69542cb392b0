"""A compact pool (``cola-pretrain compact``): a seeded, source-stratified part of a pool as 16 kHz mono Ogg
Opus, small enough to travel with the working tree to a lent GPU machine (pretrain/README.md).

The selection is a pure function of the pool's files, their durations and the options:

- every source (the first folder under the pool) gets a share of the planned seconds in proportion to
  its hours;
- inside a source, files are taken in a seeded order, each cropped to at most ``max_seconds`` at a
  seeded offset, until the share is filled; when a source's files are too few to fill it at that length,
  the crop length rises until they do (or the whole source is taken); a last crop shorter than
  ``min_seconds`` is left out;
- the planned seconds are chosen so that the estimated size (bitrate x seconds plus an Ogg overhead per
  file) is ``fill`` x the size budget. Files are encoded interleaved across sources, and once the next
  file would take the total past the budget, it and the rest are left out (recorded).

Files come out as ``OUT/<source>/<name>.opus`` (``pretrain/opus.py``: byte-identical for a seed) beside
``OUT/manifest.json``. The pool is built in ``OUT.partial``, where a rerun with the same pool and options
keeps what is already encoded, and moved into place when complete; a finished ``OUT`` of other settings is
replaced only with ``force``. Unreadable or silent files are skipped and recorded with the reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soundfile as sf
from tqdm import tqdm

from cola_common.audio_files import AudioError, audio_info
from cola_hear.atomic import atomic_replace_dir, atomic_write, atomic_write_text
from cola_pretrain.audio_cache import SkippedFile, decode_file
from cola_pretrain.manifest import AudioFile, find_audio_files, manifest_hash
from cola_pretrain.opus import compression_level, encode_opus

log = logging.getLogger(__name__)

FORMAT = "cola-compact-pool-v1"
MANIFEST = "manifest.json"
PROGRESS = "progress.jsonl"  # in OUT.partial: the settings, then one line per encoded / skipped file
OGG_OVERHEAD_BYTES = 1000  # per file: Opus and Ogg headers and tags (measured: 900-1100 bytes)
RATE_FACTOR = 1.1  # bytes per second over the nominal bitrate: Ogg pages and VBR overshoot (measured: 1.07-1.10)
MB = 1_000_000

T = TypeVar("T")
R = TypeVar("R")


class CompactError(ValueError):
    """The compact pool cannot be made as asked (a different finished one is in the way, bad options)."""


@dataclass(frozen=True)
class CompactOptions:
    """What to select and how to encode it."""

    size_mb: float = 48.0  # size budget of the .opus files, in MB (10^6 bytes)
    kbps: float = 16.0  # Opus bitrate, kbit/s
    seed: int = 0
    max_seconds: float = 30.0  # crops of longer files (raised for a source with too few files for its share)
    min_seconds: float = 2.0  # a source's last crop, when shorter than this, is left out
    fill: float = 0.95  # fraction of the budget planned as estimated size (the rest is margin)
    sample_rate: int = 16000
    workers: int = 2  # threads decoding and encoding

    def __post_init__(self) -> None:
        compression_level(self.kbps)  # validates the bitrate
        if self.size_mb <= 0 or self.max_seconds <= 0 or self.min_seconds < 0 or self.workers < 1:
            raise CompactError("size_mb, max_seconds and workers must be positive, min_seconds non-negative")
        if not 0 < self.fill <= 1:
            raise CompactError(f"fill must be in (0, 1], got {self.fill}")

    def settings(self) -> dict[str, Any]:
        """What determines the output (the worker count does not), with the encoder's identity."""
        settings = {k: v for k, v in asdict(self).items() if k != "workers"}
        return {
            **settings,
            "codec": "Ogg Opus, mono",
            "compression_level": compression_level(self.kbps),
            "encoder": f"libsndfile {sf.__libsndfile_version__} (soundfile {sf.__version__})",
        }

    @property
    def bytes_per_second(self) -> float:
        """The expected size of a second of audio (the nominal bitrate with ``RATE_FACTOR``)."""
        return self.kbps * 1000 / 8 * RATE_FACTOR


@dataclass(frozen=True)
class Piece:
    """One planned output file: a crop (or the whole) of a pool file."""

    file: AudioFile
    rel: str  # path relative to the pool
    source: str
    offset_s: float
    seconds: float
    original_seconds: float
    rank: float  # position inside its source's selection, 0..1: files are encoded interleaved by it

    @property
    def out_name(self) -> str:
        return str(Path(self.rel).with_suffix(".opus"))


def make_compact_pool(
    data: str | os.PathLike, out: str | os.PathLike, options: CompactOptions, force: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Make (or resume, or find up to date) the compact pool of ``data`` in ``out``; returns its manifest."""
    data, out = Path(data), Path(out)
    files = find_audio_files([data])
    plan_sha = _plan_sha256(manifest_hash(files), options)
    finished = read_json_object(out / MANIFEST)
    if finished is not None and finished.get("plan_sha256") == plan_sha:
        log.info("%s is up to date (%d files, %.2f h, %.1f MB)", out, finished["num_files"],
                 finished["total_hours"], finished["total_mb"])  # fmt: skip
        return finished
    if out.exists() and any(out.iterdir()) and not force:
        what = "a compact pool of other settings or another pool" if finished else "not a compact pool"
        raise CompactError(f"{out} holds {what}; pass --force to replace it, or choose another --out")
    staging = out.with_name(out.name + ".partial")
    done = _resume(staging, plan_sha, options)
    durations = _durations(files, data, progress)
    unreadable = [{"original": d.name, "reason": d.reason} for _, _, d in durations if isinstance(d, SkippedFile)]
    pieces = plan_pieces(durations, options)
    records, skipped, left_out = _encode_all(pieces, staging, options, done, progress)
    manifest = _manifest(data, options, plan_sha, records, unreadable + skipped, left_out, pieces)
    atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=1))
    (staging / PROGRESS).unlink(missing_ok=True)
    atomic_replace_dir(staging, out)
    log.info("wrote %s: %d files, %.2f h, %.1f MB (%d skipped, %d left out by the size budget)", out,
             manifest["num_files"], manifest["total_hours"], manifest["total_mb"], len(manifest["skipped"]),
             len(left_out))  # fmt: skip
    return manifest


def plan_pieces(durations: list[tuple[AudioFile, str, float | SkippedFile]], options: CompactOptions) -> list[Piece]:
    """The selection (see the module docstring), in encoding order; files whose header failed are left out."""
    usable = [(f, rel, d) for f, rel, d in durations if isinstance(d, float) and d > 0]
    by_source: dict[str, list[tuple[AudioFile, str, float]]] = defaultdict(list)
    for f, rel, d in usable:
        by_source[_source_of(rel)].append((f, rel, d))
    total = sum(d for _, _, d in usable)
    budget = options.size_mb * MB * options.fill
    target = budget / options.bytes_per_second
    pieces: list[Piece] = []
    for _ in range(4):  # the per-file overhead depends on how many files the target selects
        pieces = [
            p for source, items in sorted(by_source.items()) for p in _select(source, items, target, total, options)
        ]
        estimate = sum(p.seconds * options.bytes_per_second + OGG_OVERHEAD_BYTES for p in pieces)
        target *= budget / max(estimate, 1.0)
    names = [p.out_name for p in pieces]
    if len(set(names)) != len(names):
        clashes = sorted({n for n in names if names.count(n) > 1})
        raise CompactError(f"pool files whose names differ only in their extension: {clashes[:5]}")
    return sorted(pieces, key=lambda p: (p.rank, p.source))


def crop_length(durations: list[float], share: float, max_seconds: float) -> float:
    """The crop length that fills ``share`` seconds from these files: ``max_seconds``, or the level at which
    ``sum(min(d, level))`` reaches ``share`` when that is longer (the longest file when even all of them fall
    short)."""
    if sum(min(d, max_seconds) for d in durations) >= share:
        return max_seconds
    before = 0.0
    ordered = sorted(durations)
    for k, d in enumerate(ordered):
        level = (share - before) / (len(ordered) - k)
        if level <= d:
            return level
        before += d
    return ordered[-1]


def _select(
    source: str, items: list[tuple[AudioFile, str, float]], target: float, total: float, options: CompactOptions
) -> list[Piece]:
    share = target * sum(d for _, _, d in items) / total
    cap = crop_length([d for _, _, d in items], share, options.max_seconds)
    order = np.random.default_rng([options.seed, _stable_int(source)]).permutation(len(items))
    chosen: list[tuple[AudioFile, str, float, float, float]] = []
    left = share
    for i in order.tolist():
        if left <= 0:
            break
        file, rel, d = items[i]
        take = min(d, cap, left)
        if take < d and take < options.min_seconds:
            break
        offset = 0.0
        if take < d:  # a seeded crop of this file, whatever else is selected
            offset = round(float(np.random.default_rng([options.seed, _stable_int(rel)]).uniform(0, d - take)), 3)
        chosen.append((file, rel, offset, take, d))
        left -= take
    n = len(chosen)
    return [Piece(f, rel, source, off, round(s, 3), d, (k + 0.5) / n) for k, (f, rel, off, s, d) in enumerate(chosen)]


def _durations(files: list[AudioFile], root: Path, progress: bool) -> list[tuple[AudioFile, str, float | SkippedFile]]:
    """Each file's path relative to the pool and its duration from the header (or why it cannot be read)."""
    base = root.expanduser().resolve()
    out: list[tuple[AudioFile, str, float | SkippedFile]] = []
    for f in tqdm(files, desc="reading headers", unit="file", disable=not progress):
        rel = Path(f.path).relative_to(base).as_posix()
        try:
            out.append((f, rel, float(audio_info(f.path).duration)))
        except AudioError as exc:
            out.append((f, rel, SkippedFile(rel, str(exc).removeprefix(f"{f.path}: "))))
    return out


def _encode_piece(piece: Piece, options: CompactOptions) -> bytes | SkippedFile:
    audio = decode_file(piece.file, options.sample_rate)
    if isinstance(audio, SkippedFile):
        return SkippedFile(piece.rel, audio.reason)
    if piece.seconds < piece.original_seconds:
        start = round(piece.offset_s * options.sample_rate)
        audio = audio[start : start + round(piece.seconds * options.sample_rate)]
    if not np.any(audio):
        return SkippedFile(piece.rel, "silent crop (all samples are zero)")
    return encode_opus(audio.astype(np.float32), options.sample_rate, options.kbps, _stable_int(piece.rel) & 0xFFFFFFFF)


def _encode_all(
    pieces: list[Piece], staging: Path, options: CompactOptions, done: dict[str, dict[str, Any]], progress: bool
) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[str]]:
    """Encode ``pieces`` in order into ``staging`` (reusing the journal's ``done``), within the size budget.

    Returns the file records, the skipped files and the files left out by the budget."""
    budget = options.size_mb * MB
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    total = 0
    todo = [p for p in pieces if not _still_there(done.get(p.rel), staging)]
    encoded = _in_order(lambda p: _encode_piece(p, options), todo, options.workers)
    bar = tqdm(pieces, desc="encoding Opus", unit="file", disable=not progress, dynamic_ncols=True)
    try:
        with (staging / PROGRESS).open("a") as journal:
            for index, piece in enumerate(bar):
                record = done[piece.rel] if _still_there(done.get(piece.rel), staging) else None
                if record is None:
                    result = next(encoded)
                    if isinstance(result, SkippedFile):
                        log.warning("skipping %s: %s", piece.rel, result.reason)
                        record = {"kind": "skipped", "original": piece.rel, "reason": result.reason}
                        _journal(journal, record)
                    elif total + len(result) <= budget:
                        record = _write_piece(piece, result, staging, options)
                        _journal(journal, record)
                    else:
                        record = {"kind": "file", "bytes": len(result)}  # over the budget: not written
                if record["kind"] == "skipped":
                    skipped.append({"original": record["original"], "reason": record["reason"]})
                    continue
                if total + record["bytes"] > budget:
                    log.info("size budget reached: %d planned file(s) left out", len(pieces) - index)
                    return records, skipped, [p.rel for p in pieces[index:]]
                records.append(record)
                total += record["bytes"]
                bar.set_postfix(mb=f"{total / MB:.1f}")
    finally:
        encoded.close()
        bar.close()
    return records, skipped, []


def _write_piece(piece: Piece, data: bytes, staging: Path, options: CompactOptions) -> dict[str, Any]:
    path = staging / piece.out_name
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    frames = sf.info(str(path)).frames
    return {
        "kind": "file",
        "file": piece.out_name,
        "seconds": round(frames / options.sample_rate, 3),
        "source": piece.source,
        "original": piece.rel,
        "offset_s": piece.offset_s,
        "original_seconds": round(piece.original_seconds, 3),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _still_there(record: dict[str, Any] | None, staging: Path) -> bool:
    """Whether a journal record can be reused: a skip, or a file still there with its size."""
    if record is None:
        return False
    if record.get("kind") == "skipped":
        return True
    path = staging / record["file"]
    return path.is_file() and path.stat().st_size == record["bytes"]


def _resume(staging: Path, plan_sha: str, options: CompactOptions) -> dict[str, dict[str, Any]]:
    """The journal of an interrupted run of the same plan (by original path), or a fresh staging folder."""
    lines = (staging / PROGRESS).read_text().splitlines() if (staging / PROGRESS).is_file() else []
    header = _parse(lines[0]) if lines else None
    if header is not None and header.get("plan_sha256") == plan_sha:
        done = {r["original"]: r for line in lines[1:] if (r := _parse(line)) is not None and "original" in r}
        log.info("resuming %s: %d file(s) already done", staging, len(done))
        return done
    if staging.exists():
        log.info("discarding %s (an interrupted run of other settings)", staging)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    atomic_write_text(staging / PROGRESS, json.dumps({"plan_sha256": plan_sha, "settings": options.settings()}) + "\n")
    return {}


def _journal(journal: Any, record: dict[str, Any]) -> None:
    journal.write(json.dumps(record) + "\n")
    journal.flush()


def _manifest(
    data: Path,
    options: CompactOptions,
    plan_sha: str,
    records: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    left_out: list[str],
    pieces: list[Piece],
) -> dict[str, Any]:
    files = sorted(({k: v for k, v in r.items() if k != "kind"} for r in records), key=lambda r: r["file"])
    digest = hashlib.sha256("".join(f"{r['file']} {r['sha256']}\n" for r in files).encode()).hexdigest()
    by_source: dict[str, dict[str, float]] = defaultdict(lambda: {"files": 0, "seconds": 0.0})
    for r in files:
        by_source[r["source"]]["files"] += 1
        by_source[r["source"]]["seconds"] += r["seconds"]
    seconds = sum(r["seconds"] for r in files)
    parent = read_json_object(data / MANIFEST) or {}
    return {
        "format": FORMAT,
        "name": "cola-compact-pool",
        "domain": parent.get("domain", "unknown"),
        "from_pool": {"folder": str(data), "name": parent.get("name"), "sha256": parent.get("sha256")},
        "sha256": digest,
        "plan_sha256": plan_sha,
        "settings": options.settings(),
        "num_files": len(files),
        "total_seconds": round(seconds, 3),
        "total_hours": round(seconds / 3600, 4),
        "total_mb": round(sum(r["bytes"] for r in files) / MB, 3),
        "planned_files": len(pieces),
        "by_source": {s: {"files": v["files"], "hours": round(v["seconds"] / 3600, 4)}
                      for s, v in sorted(by_source.items())},
        "files": files,
        "skipped": skipped,
        "left_out": left_out,
    }  # fmt: skip


def _plan_sha256(pool_hash: str, options: CompactOptions) -> str:
    """The identity of a selection: the pool's files (names and sizes) and the settings."""
    text = json.dumps({"format": FORMAT, "pool": pool_hash, "settings": options.settings()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _in_order(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` in threads, results in order, at most ``4 x workers`` in flight."""
    with ThreadPoolExecutor(max_workers=workers) as executor:
        it = iter(items)
        window = deque(executor.submit(fn, item) for item in itertools.islice(it, 4 * workers))
        while window:
            result = window.popleft().result()
            for item in itertools.islice(it, 1):
                window.append(executor.submit(fn, item))
            yield result


def _source_of(rel: str) -> str:
    return rel.split("/", 1)[0] if "/" in rel else "."


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None  # a line torn by a crash
    return value if isinstance(value, dict) else None


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or ``None`` where it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
