"""Where the suite builder fetches Debian packages from: the system's own apt sources."""

from __future__ import annotations

import pytest

from eval.suite.sources import MIRROR_ENV, SourceError, debian_mirror


def test_mirror_from_deb822_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources_with_options(tmp_path, monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://other.example/debian bookworm main contrib\n"
    )
    assert debian_mirror(tmp_path) == "http://other.example/debian"


def test_environment_overrides_and_missing_source_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, "http://env.example/debian/")
    assert debian_mirror(tmp_path) == "http://env.example/debian"
    monkeypatch.delenv(MIRROR_ENV)
    with pytest.raises(SourceError, match=MIRROR_ENV):
        debian_mirror(tmp_path)
