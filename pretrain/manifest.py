"""Finding the audio files of a data folder and describing them (the data manifest)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cola_common.audio_files import AUDIO_EXTENSIONS


class DataError(ValueError):
    """A data folder is missing or holds no usable audio."""


@dataclass(frozen=True)
class AudioFile:
    """One audio file found under a data folder."""

    path: str  # absolute path
    name: str  # "<folder index>/<path relative to the folder>", stable when the folder moves
    size: int
    mtime_ns: int


def find_audio_files(folders: Sequence[str | os.PathLike]) -> list[AudioFile]:
    """Every audio file (by extension, case-insensitive) under ``folders``, recursively, in a stable order.

    Hidden files and folders (names starting with ".") are ignored. Raises ``DataError`` when a
    folder does not exist or when no audio file is found at all.
    """
    if not folders:
        raise DataError("no data folder given (set data.folders or pass --data DIR)")
    found: list[AudioFile] = []
    for index, folder in enumerate(folders):
        root = Path(folder).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"data folder not found: {folder}")
        for path in walk_audio(root):
            stat = path.stat()
            rel = path.relative_to(root).as_posix()
            found.append(AudioFile(str(path), f"{index}/{rel}", stat.st_size, stat.st_mtime_ns))
    if not found:
        raise DataError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {', '.join(map(str, folders))}")
    return found


def manifest_hash(files: Iterable[AudioFile]) -> str:
    """SHA-256 of the relative names and sizes: the identity of a data set, independent of where it lives."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}\0{f.size}\n".encode())
    return digest.hexdigest()


def cache_key(files: Iterable[AudioFile], sample_rate: int, version: int) -> str:
    """SHA-256 of absolute paths, sizes and modification times: changes whenever a file does."""
    digest = hashlib.sha256(f"v{version} sr{sample_rate}\n".encode())
    for f in files:
        digest.update(f"{f.path}\0{f.size}\0{f.mtime_ns}\n".encode())
    return digest.hexdigest()


def walk_audio(root: Path) -> Iterator[Path]:
    """Audio files under ``root`` (by extension; hidden names skipped), in a stable order, one folder at a time
    (a stream: memory does not grow with the number of files)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS):
                yield Path(dirpath) / name
