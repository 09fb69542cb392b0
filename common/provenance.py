"""Where a result came from: the git state of the checkout and the checksums of files.

The one place that asks git which commit produced a result row, a benchmark table or a set of
pretrained weights; the one SHA-256 of a file's bytes (cached embeddings, source archives, audio
files, shipped weights); and ``weights_sha256``, the identity of a weights file in result rows.
Imports nothing but the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout that holds this package
GIT_TIMEOUT_S = 30


def git_commit(
    repo: str | os.PathLike | None = None, paths: Sequence[str] | None = None, abbrev: int | None = None
) -> str | None:
    """HEAD of the git checkout at ``repo`` (default: the one holding this package), ``+dirty`` when it is dirty.

    *Dirty* has one meaning: a tracked file differs from HEAD, staged or not (what
    ``git status --porcelain --untracked-files=no`` lists); untracked files never count.
    ``paths`` (relative to ``repo``) limits that check to changes under those paths.
    ``abbrev`` shortens the hash to that many hex digits (git may print more to stay unique).
    ``None`` outside a git checkout, without git, or when git fails.
    """
    root = str(REPO_ROOT if repo is None else repo)
    head_cmd = ["git", "-C", root, "rev-parse", *([f"--short={abbrev}"] if abbrev else []), "HEAD"]
    status_cmd = ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"]
    if paths:
        status_cmd += ["--", *paths]
    try:
        head = _git(head_cmd)
        dirty = _git(status_cmd)
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) if head else None


def commit_contains(commit: str, ancestor: str, repo: str | os.PathLike | None = None) -> bool | None:
    """Whether ``commit`` (possibly ``+dirty``) descends from ``ancestor`` in the checkout at ``repo``
    (default: the one holding this package); ``None`` when git cannot tell (no git, unknown commit)."""
    root = str(REPO_ROOT if repo is None else repo)
    cmd = ["git", "-C", root, "merge-base", "--is-ancestor", ancestor, commit.split("+")[0]]
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(result.returncode)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of the file's bytes, read ``chunk`` bytes at a time.

    Not the identity of a weights file in result rows: that is ``cola_common.provenance.weights_sha256``,
    which canonicalises the safetensors header first.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _git(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=GIT_TIMEOUT_S).stdout.strip()


def weights_sha256(path: str | Path) -> str:
    """SHA-256 of a weights file; a safetensors header is canonicalised (sorted JSON keys) first.

    safetensors writes its metadata map in arbitrary order, so two saves of the same tensors
    and metadata can differ in bytes; this checksum is the same for both. Other files: plain SHA-256.
    """
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = f.read(size) if 0 < size < 100_000_000 else b""
        try:
            parsed = json.loads(header) if header else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        if not isinstance(parsed, dict):
            return file_sha256(path)
        h = hashlib.sha256(b"safetensors-canonical\0" + json.dumps(parsed, sort_keys=True).encode())
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
