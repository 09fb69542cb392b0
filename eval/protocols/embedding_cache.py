"""Scene and timestamp embeddings of every split of a task, cached on disk.

A cache entry is keyed by the module, its version and source code, the SHA-256 of the weights file
and the task (name + checksum of its metadata, labels and audio listing). Entries
are written to a temporary folder and renamed into place, and a manifest records
the key and the checksum of every file; an entry whose manifest is missing, names
another key or does not match its files is deleted and recomputed, never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from cola_common.audio_files import load_audio
from cola_common.provenance import file_sha256
from cola_eval.models.hear_module import HearModel
from cola_eval.protocols.tasks import Task
from cola_hear.atomic import atomic_replace_dir

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines a task's embeddings."""

    module: str
    module_version: str
    module_source_sha256: str
    weights_sha256: str
    task: str
    task_sha256: str
    embedding_type: str
    format: int = CACHE_FORMAT

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class SplitEmbeddings:
    """Embeddings of one split, files in the split file's order.

    Scene tasks: ``embeddings`` is ``(n_files, D)``. Event tasks: the frames of all files
    are concatenated, ``(n_frames, D)``, with ``timestamps`` (ms) per frame and
    ``offsets`` (``n_files + 1``) delimiting each file's frames.
    """

    filenames: list[str]
    embeddings: np.ndarray
    timestamps: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def frames_of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and timestamps of file ``i`` (event tasks)."""
        if self.offsets is None or self.timestamps is None:
            raise ValueError("frames_of() is only defined for timestamp (event) embeddings")
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.embeddings[a:b], self.timestamps[a:b]


@dataclass
class TaskEmbeddings:
    key: CacheKey
    splits: dict[str, SplitEmbeddings]
    from_cache: bool


class EmbeddingCache:
    """Folder of verified embedding entries: ``root/<module>/<task>/<key digest>/``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def entry_dir(self, key: CacheKey) -> Path:
        return self.root / key.module / key.task / key.digest()

    def load(self, key: CacheKey, splits: dict[str, list[str]]) -> dict[str, SplitEmbeddings] | None:
        """The cached embeddings for ``key``, or ``None`` (an invalid entry is deleted)."""
        entry = self.entry_dir(key)
        if not entry.exists():
            return None
        problem = self._verify(entry, key, splits)
        if problem is None:
            try:
                return {split: _read_split(entry / f"{split}.npz") for split in splits}
            except (OSError, ValueError, KeyError) as exc:
                problem = f"unreadable file: {exc}"
        log.warning("cache entry %s is invalid (%s); recomputing", entry, problem)
        shutil.rmtree(entry, ignore_errors=True)
        return None

    def store(self, key: CacheKey, data: dict[str, SplitEmbeddings]) -> Path:
        """Write an entry atomically: all files into a temp folder, manifest last, then rename."""
        entry = self.entry_dir(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=entry.parent))
        try:
            files = {}
            for split, emb in data.items():
                path = tmp / f"{split}.npz"
                _write_split(path, emb)
                files[split] = {"file": path.name, "sha256": file_sha256(path), "n_files": len(emb.filenames)}
            manifest = {"key": asdict(key), "splits": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            atomic_replace_dir(tmp, entry)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return entry

    @staticmethod
    def _verify(entry: Path, key: CacheKey, splits: dict[str, list[str]]) -> str | None:
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError):
            return "no readable manifest (partial entry)"
        if manifest.get("key") != asdict(key):
            return f"manifest key {manifest.get('key')} differs from {asdict(key)}"
        for split, names in splits.items():
            info = manifest.get("splits", {}).get(split)
            if info is None:
                return f"split {split!r} missing from the manifest"
            path = entry / info["file"]
            if not path.is_file():
                return f"file {path.name} missing"
            if file_sha256(path) != info["sha256"]:
                return f"file {path.name} does not match its checksum"
            if info["n_files"] != len(names):
                return f"split {split!r} has {info['n_files']} files cached, the task has {len(names)}"
        return None


def task_embeddings(
    model: HearModel, task: Task, cache: EmbeddingCache | None, batch_seconds: float = 120.0
) -> TaskEmbeddings:
    """Embeddings of every split of ``task``: from the cache when a valid entry exists, else computed."""
    key = CacheKey(
        module=model.spec.module,
        module_version=model.version,
        module_source_sha256=model.source_sha256,
        weights_sha256=model.weights_checksum,
        task=task.name,
        task_sha256=task.checksum(),
        embedding_type=task.embedding_type,
    )
    names = {split: list(task.split_labels(split)) for split in task.splits}
    if cache is not None:
        cached = cache.load(key, names)
        if cached is not None and all(cached[s].filenames == names[s] for s in names):
            log.info("%s: embeddings from cache %s", task.name, cache.entry_dir(key))
            return TaskEmbeddings(key, cached, from_cache=True)
    data = {split: embed_split(model, task, split, files, batch_seconds) for split, files in names.items()}
    if cache is not None:
        entry = cache.store(key, data)
        log.info("%s: embeddings cached in %s", task.name, entry)
    return TaskEmbeddings(key, data, from_cache=False)


def embed_split(
    model: HearModel, task: Task, split: str, filenames: list[str], batch_seconds: float = 120.0
) -> SplitEmbeddings:
    """Embed the files of one split in batches of equal-length clips (at most ``batch_seconds`` of audio)."""
    audio_dir = _audio_dir(task, split, model.sample_rate)
    rate = model.sample_rate
    scene = task.embedding_type == "scene"
    results: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    pending: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        by_length: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
        for item in pending:
            by_length[len(item[1])].append(item)
        for group in by_length.values():
            batch = np.stack([a for _, a in group])
            if scene:
                emb = model.scene_embeddings(batch)
                for (i, _), e in zip(group, emb, strict=True):
                    results[i] = (e, None)
            else:
                emb, ts = model.timestamp_embeddings(batch)
                for (i, _), e, t in zip(group, emb, ts, strict=True):
                    results[i] = (e, t)
        pending.clear()

    seconds = 0.0
    for i, name in enumerate(tqdm(filenames, desc=f"embed {task.name}/{split}", unit="clip", leave=False)):
        audio = load_audio(audio_dir / name, sample_rate=rate)
        pending.append((i, audio))
        seconds += len(audio) / rate
        if seconds >= batch_seconds:
            flush()
            seconds = 0.0
    if pending:
        flush()
    ordered = [results[i] for i in range(len(filenames))]
    if scene:
        return SplitEmbeddings(filenames, np.stack([e for e, _ in ordered]).astype(np.float32))
    lengths = [len(e) for e, _ in ordered]
    return SplitEmbeddings(
        filenames,
        np.concatenate([e for e, _ in ordered]).astype(np.float32),
        np.concatenate([t for _, t in ordered]).astype(np.float32),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
    )


def _audio_dir(task: Task, split: str, rate: int) -> Path:
    """The split's audio at the model's rate, else at the task's highest rate (resampled on load)."""
    exact = task.path / str(rate) / split
    if exact.is_dir():
        return exact
    rates = sorted(
        (int(p.name) for p in task.path.iterdir() if p.name.isdigit() and (p / split).is_dir()), reverse=True
    )
    if not rates:
        return task.audio_dir(split, rate)  # raises a TaskError naming what exists
    log.info("%s: no audio at %d Hz; resampling from %d Hz", task.name, rate, rates[0])
    return task.path / str(rates[0]) / split


def _write_split(path: Path, emb: SplitEmbeddings) -> None:
    arrays = {"filenames": np.array(emb.filenames, dtype=str), "embeddings": emb.embeddings}
    if emb.timestamps is not None and emb.offsets is not None:
        arrays.update(timestamps=emb.timestamps, offsets=emb.offsets)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _read_split(path: Path) -> SplitEmbeddings:
    with np.load(path, allow_pickle=False) as z:
        return SplitEmbeddings(
            filenames=[str(n) for n in z["filenames"]],
            embeddings=z["embeddings"],
            timestamps=z.get("timestamps"),
            offsets=z.get("offsets"),
        )
