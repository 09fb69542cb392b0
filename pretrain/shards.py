"""The prepared pool: WebDataset tar shards of 16 kHz mono clips and the small manifest that lists them.

A prepared folder (written by ``cola-pretrain prepare``, ``pretrain/prepare.py``) holds::

    shards.json            the manifest: format, sample rate, one entry per shard (url, clips, seconds),
                           totals and the files that were skipped (name and reason)
    shard-NNNNNN.tar       WebDataset shards: per clip ``KEY.flac`` (or ``KEY.wav``, 16-bit PCM) and
                           ``KEY.json`` (duration, source path, offset, licence, normalisation scales)
    shard-NNNNNN.json      what preparing that shard read: its sources (path, size, mtime) and skips;
                           the marker that the shard is complete (written after the tar)

Training reads only ``shards.json``: start-up is proportional to the number of shards, not of
files or hours. Shard URLs are local paths (relative to the manifest) or anything WebDataset
opens (``pipe:CMD``, ``s3://...`` through fsspec, ``https://...``); a brace pattern
(``shard-{000000..000099}.tar``) names several.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cola_pretrain.manifest import DataError

FORMAT = "cola-pretrain-shards-v1"
MANIFEST_FILE = "shards.json"
MEMBER_FORMATS = ("flac", "wav")  # how a clip is stored in a shard (16-bit PCM either way)


@dataclass(frozen=True)
class ShardInfo:
    """One shard: where it is, how many clips and seconds of audio it holds."""

    url: str
    clips: int
    seconds: float


@dataclass
class ShardPool:
    """The shards a run reads, from manifests or shard URLs; enough to start training without reading audio."""

    shards: list[ShardInfo]
    sources: list[str]  # the manifests / URLs as given
    sample_rate: int = 16000
    skipped: list[Any] = field(default_factory=list)  # SkippedFile entries recorded by prepare

    @property
    def clips(self) -> int:
        return sum(s.clips for s in self.shards)

    @property
    def total_seconds(self) -> float:
        return float(sum(s.seconds for s in self.shards))

    @property
    def names(self) -> list[str]:
        """The shard URLs (what a run's log calls its files)."""
        return [s.url for s in self.shards]

    @property
    def manifest_hash(self) -> str:
        """SHA-256 of the shards' file names and clip counts: the data's identity, independent of location."""
        digest = hashlib.sha256(b"shards\n")
        for s in self.shards:
            digest.update(f"{s.url.rsplit('/', 1)[-1]}\0{s.clips}\n".encode())
        return digest.hexdigest()

    def summary(self) -> dict[str, Any]:
        """What the provenance of a weights file records about the data."""
        counted = all(s.clips >= 0 for s in self.shards)
        return {
            "shards": self.sources,
            "shard_files": len(self.shards),
            "clips": self.clips if counted else None,
            "skipped_files": len(self.skipped),
            "hours": round(self.total_seconds / 3600, 4),
            "sample_rate": self.sample_rate,
            "manifest_sha256": self.manifest_hash,
        }

    def manifest(self) -> dict[str, Any]:
        """The data manifest of a run: summary, every shard, every skipped file."""
        return {
            **self.summary(),
            "shard_list": [{"url": s.url, "clips": s.clips, "seconds": s.seconds} for s in self.shards],
            "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped],
        }


def write_manifest(
    folder: str | os.PathLike, shards: Sequence[ShardInfo], sample_rate: int, skipped: Sequence[Any]
) -> Path:
    """Write ``folder/shards.json`` atomically (shard URLs relative to the folder)."""
    from cola_hear.atomic import atomic_write_text

    data = {
        "format": FORMAT,
        "sample_rate": sample_rate,
        "clips": sum(s.clips for s in shards),
        "seconds": round(sum(s.seconds for s in shards), 3),
        "shards": [{"url": s.url, "clips": s.clips, "seconds": round(s.seconds, 3)} for s in shards],
        "skipped": [{"name": s.name, "reason": s.reason} for s in skipped],
    }
    return atomic_write_text(Path(folder) / MANIFEST_FILE, json.dumps(data, indent=0))


def is_manifest(source: str) -> bool:
    """Whether ``source`` names a manifest (a ``.json`` file, or a folder holding ``shards.json``)."""
    return source.endswith(".json") or (not _is_url(source) and (Path(source) / MANIFEST_FILE).is_file())


def open_shard_pool(sources: Sequence[str]) -> ShardPool:
    """The shards of ``sources``: manifests (``shards.json`` or a folder holding one) and shard URLs or patterns.

    Reads the manifests only (never a shard); a shard given by URL counts as ``-1`` clips (unknown).
    """
    if not sources:
        raise DataError("no shards given (set data.shards or pass --shards)")
    shards: list[ShardInfo] = []
    skipped: list[Any] = []
    rates = set()
    for source in sources:
        if is_manifest(source):
            found, rate, bad = read_manifest(source)
            shards += found
            skipped += bad
            rates.add(rate)
        else:
            from webdataset.shardlists import expand_urls

            shards += [ShardInfo(url, -1, 0.0) for url in expand_urls(source)]
    if not shards:
        raise DataError(f"no shards in {', '.join(sources)}")
    if len(rates) > 1:
        raise DataError(f"the manifests have different sample rates {sorted(rates)}")
    return ShardPool(shards, list(sources), rates.pop() if rates else 16000, skipped)


def read_manifest(source: str) -> tuple[list[ShardInfo], int, list[Any]]:
    """The shards, sample rate and skipped files of one manifest (local path, folder or fsspec URL)."""
    from cola_pretrain.audio_cache import SkippedFile

    if not _is_url(source) and Path(source).is_dir():
        source = str(Path(source) / MANIFEST_FILE)
    try:
        data = json.loads(_read_text(source))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the shard manifest {source}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{source} is not a shard manifest (format {FORMAT!r} expected)")
    base = "" if source.startswith("pipe:") else (source.rsplit("/", 1)[0] if "/" in source else ".")
    shards = [ShardInfo(_join(base, s["url"]), int(s["clips"]), float(s["seconds"])) for s in data["shards"]]
    skipped = [SkippedFile(s["name"], s["reason"]) for s in data.get("skipped", [])]
    return shards, int(data["sample_rate"]), skipped


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """16-bit FLAC or WAV bytes of float samples in [-1, 1]."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format=fmt.upper(), subtype="PCM_16")
    return buffer.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """float32 samples and the sample rate of a FLAC or WAV member."""
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if samples.ndim > 1:
        samples = samples.mean(axis=1, dtype=np.float32)
    return samples, int(rate)


def _is_url(source: str) -> bool:
    return source.startswith("pipe:") or "://" in source


def _join(base: str, url: str) -> str:
    if not base or _is_url(url) or url.startswith("/"):
        return url
    if _is_url(base):
        return f"{base}/{url}"
    return str(Path(base) / url)


def _read_text(source: str) -> str:
    """A manifest's text: a local path, or a URL as WebDataset opens it (``pipe:``, fsspec schemes, ``https``)."""
    if not _is_url(source):
        return Path(source).read_text()
    from webdataset.gopen import gopen

    with gopen(source, "rb") as f:
        return f.read().decode()
