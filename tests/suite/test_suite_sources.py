"""Where the suite builder fetches Debian packages from (the system's own apt sources), and missing tools."""

from __future__ import annotations

import pytest

from cola_suite.sources import MIRROR_ENV, SourceError, debian_mirror, require_tool


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


def test_a_missing_tool_names_the_package_and_the_command_that_installs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no tool is installed
    with pytest.raises(SourceError, match=r"'espeak-ng' is not installed: run `apt-get install espeak-ng`"):
        require_tool("espeak-ng")
    (tmp_path / "espeak-ng").write_text("#!/bin/sh\n")
    (tmp_path / "espeak-ng").chmod(0o755)
    assert require_tool("espeak-ng") == str(tmp_path / "espeak-ng")


def test_parallel_workers_unpack_one_archive_once_and_intact(tmp_path):
    """Threads (and processes) of a build that need the same archive at once all get the whole tree."""
    import zipfile
    from concurrent.futures import ThreadPoolExecutor

    from cola_suite.sources import SourceCache, source

    cache = SourceCache(tmp_path / "cache")
    version = source("pykanto").version
    with zipfile.ZipFile(cache.root / "wheels" / f"pykanto-{version}-py3-none-any.whl", "w") as zf:
        for i in range(400):
            zf.writestr(f"pykanto/data/file{i:03d}.txt", "x" * 2000)
    with ThreadPoolExecutor(max_workers=6) as pool:
        roots = list(pool.map(lambda _: SourceCache(tmp_path / "cache").wheel("pykanto"), range(12)))
    assert len(set(roots)) == 1
    assert len(list((roots[0] / "pykanto" / "data").iterdir())) == 400
    assert not list((cache.root / "unpacked").glob(".tmp-*"))
