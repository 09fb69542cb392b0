"""cola_common.provenance: the commit and dirty state of a checkout."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from cola_common.provenance import file_sha256, git_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "a.py").write_text("a = 1\n")
    (tmp_path / "notes.md").write_text("notes\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_checkout_gives_head(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert git_commit(repo) == head
    assert git_commit(repo, abbrev=12) == head[:12]


def test_untracked_files_leave_it_clean(repo: Path) -> None:
    (repo / "eval" / "new.py").write_text("b = 2\n")
    assert not git_commit(repo).endswith("+dirty")


@pytest.mark.parametrize("staged", [False, True])
def test_changed_tracked_file_is_dirty(repo: Path, staged: bool) -> None:
    (repo / "notes.md").write_text("changed\n")
    if staged:
        _git(repo, "add", "notes.md")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_commit(repo) == head + "+dirty"
    assert git_commit(repo, abbrev=12) == head[:12] + "+dirty"
    assert git_commit(repo, paths=["eval"]) == head  # a change outside the given paths does not count
    (repo / "eval" / "a.py").write_text("a = 2\n")
    assert git_commit(repo, paths=["eval"]) == head + "+dirty"


def test_outside_a_checkout_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # git must not find a checkout above tmp_path
    assert git_commit(tmp_path) is None
    assert git_commit(tmp_path / "missing") is None


def test_default_is_this_checkout() -> None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    assert git_commit() == git_commit(root)


@pytest.mark.parametrize("size", [0, 1, 4096, 10_001])
def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_sha256(path) == file_sha256(str(path), chunk=7) == hashlib.sha256(data).hexdigest()
