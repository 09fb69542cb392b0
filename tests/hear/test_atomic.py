"""cola_hear.atomic: files and folders are replaced whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from cola_hear.atomic import atomic_replace_dir, atomic_write_text


def _folder(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _contents(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in path.iterdir()}


def test_atomic_write_text_leaves_no_temp_file(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "sub" / "a.txt", "one")
    atomic_write_text(tmp_path / "sub" / "a.txt", "two")
    assert _contents(tmp_path / "sub") == {"a.txt": "two"}


def test_replace_dir_puts_a_new_folder_in_place(tmp_path: Path) -> None:
    staging = _folder(tmp_path / "out.partial", {"a": "new"})
    assert atomic_replace_dir(staging, tmp_path / "out") == tmp_path / "out"
    assert _contents(tmp_path / "out") == {"a": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_dir_replaces_the_old_folder_whole(tmp_path: Path) -> None:
    _folder(tmp_path / "out", {"a": "old", "only-old": "x"})
    _folder(tmp_path / "out.old", {"leftover": "of a crash"})
    staging = _folder(tmp_path / "out.partial", {"a": "new"})
    atomic_replace_dir(staging, tmp_path / "out")
    assert _contents(tmp_path / "out") == {"a": "new"}  # nothing of the old folder is left in it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_dir_moves_the_old_folder_where_it_is_told(tmp_path: Path) -> None:
    _folder(tmp_path / "tasks" / "t", {"a": "old"})
    staging = _folder(tmp_path / ".staging" / "t", {"a": "new"})
    atomic_replace_dir(staging, tmp_path / "tasks" / "t", old=tmp_path / ".staging" / "t.old")
    assert _contents(tmp_path / "tasks" / "t") == {"a": "new"}
    assert list((tmp_path / ".staging").iterdir()) == [] and [p.name for p in (tmp_path / "tasks").iterdir()] == ["t"]


def test_replace_dir_without_staging_keeps_the_old_folder(tmp_path: Path) -> None:
    _folder(tmp_path / "out", {"a": "old"})
    with pytest.raises(FileNotFoundError):
        atomic_replace_dir(tmp_path / "missing", tmp_path / "out")
    assert _contents(tmp_path / "out") == {"a": "old"} and not (tmp_path / "out.old").exists()
