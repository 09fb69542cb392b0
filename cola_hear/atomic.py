"""Atomic writes: a file is written as a temporary file in the same folder, then ``os.replace``d; a folder is
filled under a staging name, then renamed into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask is process-wide


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path``; a crash never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_replace_dir(
    staging: str | os.PathLike, final: str | os.PathLike, old: str | os.PathLike | None = None
) -> Path:
    """Rename the finished folder ``staging`` to ``final``, replacing the folder there, if any.

    A folder cannot be renamed over a non-empty one, so an existing ``final`` is first renamed
    aside to ``old`` (default ``<final>.old`` beside it; any leftover there is deleted first), and
    deleted once ``staging`` is in place (put back if that rename fails). ``final`` is always the complete
    old folder, the complete new one, or briefly absent, never a mix. ``staging`` must be on ``final``'s
    file system.
    """
    staging, final = Path(staging), Path(final)
    old = final.with_name(final.name + ".old") if old is None else Path(old)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old.exists() and not final.exists():
            os.replace(old, final)  # put the old folder back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final
