"""The disjoint pretraining pool (the default of ``cola-suite pool``): real audio from packages no suite task uses.

Music, game sound effects and ambiences, and speech in several languages (Czech,
Dutch and English voice acting, spoken words in eight languages, Mandarin
syllables), taken as shipped from Debian packages that share neither a binary nor a
source package with any suite task (``suite_packages``), and none of which is
reserved (``cola_suite.sources.RESERVED_PACKAGES``). Nothing is synthesised or
rendered, so no suite tool (speech synthesisers, soundfonts, fluidsynth, music21)
takes part. Symbolic links, byte-identical copies and a recording shipped in two formats are read once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cola_common.audio_files import AUDIO_EXTENSIONS
from cola_common.provenance import file_sha256
from cola_suite.pools.files import PoolFile, convert_files
from cola_suite.sources import SOURCES, SourceCache, is_reserved
from cola_suite.tasks import suite_packages
from cola_suite.tasks.base import recording_id, slug

log = logging.getLogger(__name__)

# (package, folder inside it whose audio files all go in, what it holds)
DISJOINT_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("fillets-ng-data", "usr/share/games/fillets-ng", "English voice acting, music, effects"),
    ("fillets-ng-data-cs", "usr/share/games/fillets-ng", "Czech voice acting"),
    ("fillets-ng-data-nl", "usr/share/games/fillets-ng", "Dutch voice acting"),
    ("qabcs-data", "usr/share/qabcs", "spoken letters and words in 8 languages, animal and object sounds"),
    ("gcin-voice", "usr/share/gcin-voice", "spoken Mandarin syllables"),
    ("kajongg", "usr/share/kajongg", "spoken tile calls, several voices"),
    ("warmux-data", "usr/share/games/warmux", "character voices, effects, music"),
    ("planetblupi-common", "usr/share/planetblupi", "voices and effects"),
    ("warzone2100-music", "usr/share/games/warzone2100", "electronic and orchestral music"),
    ("naev-data", "usr/share/naev", "music, space ambiences, effects"),
    ("wesnoth-1.16-music", "usr/share/games/wesnoth", "orchestral and folk music"),
    ("wesnoth-1.16-data", "usr/share/games/wesnoth", "ambiences and effects"),
    ("supertux-data", "usr/share/games/supertux2", "music, effects"),
    ("widelands-data", "usr/share/games/widelands", "music, animals, work and ambience sounds"),
    ("drascula-music", "usr/share/scummvm/drascula", "game soundtrack"),
    ("hyperrogue-music", "usr/share/hyperrogue", "music, effects"),
    ("colobot-common-sounds", "usr/share/games/colobot", "music, effects"),
    ("freedroidrpg-data", "usr/share/freedroidrpg", "music, effects"),
    ("flare-game", "usr/share/games/flare", "music, effects"),
    ("ardentryst", "usr/share/games/ardentryst", "music, effects"),
    ("megaglest-data", "usr/share/games/megaglest", "unit voices, battle effects, ambiences, music"),
    ("lincity-ng-data", "usr/share/games/lincity-ng", "city ambiences, music"),
    ("scorched3d-data", "usr/share/games/scorched3d", "explosions, weapons, ambiences"),
    ("boswars-data", "usr/share/games/boswars", "effects, voices"),
    ("freeorion-data", "usr/share/games/freeorion", "music, effects"),
)


def disjoint_packages(only: Sequence[str] | None = None) -> list[str]:
    """The packages of the disjoint pool (``only``: a subset of them, e.g. for a quick test pool)."""
    packages = [p for p, _, _ in DISJOINT_SOURCES]
    unknown = sorted(set(only or ()) - set(packages))
    if unknown:
        raise ValueError(f"not packages of the disjoint pool: {unknown}; its packages: {', '.join(packages)}")
    return [p for p in packages if only is None or p in only]


def check_disjoint(packages: list[str]) -> None:
    """Raise ``ValueError`` when a package is reserved, or shares its name or Debian source package with the suite."""
    suite = suite_packages()
    suite_projects = {SOURCES[p].project if p in SOURCES else p for p in suite}
    problems = []
    for name in packages:
        if is_reserved(name):
            problems.append(f"{name} is reserved")
        elif name in suite:
            problems.append(f"{name} is a suite source")
        elif SOURCES[name].project in suite_projects:
            problems.append(f"{name} comes from the Debian source package {SOURCES[name].project}, as a suite source")
    if problems:
        raise ValueError("the disjoint pool must share nothing with the suite: " + "; ".join(problems))


def disjoint_pool_records(
    cache: SourceCache, staging: Path, jobs: int, only: Sequence[str] | None = None
) -> tuple[list[dict[str, Any]], set[str]]:
    """Write the disjoint pool's files (of the ``only`` packages, default all) into ``staging``;
    returns their records and the packages used."""
    packages = disjoint_packages(only)
    check_disjoint(packages)
    roots = cache.debs(packages)
    files = _package_files(roots)
    log.info("pool: decoding %d files from %d packages that no suite task uses", len(files), len(packages))
    return convert_files(files, staging, jobs), set(packages)


def _package_files(roots: dict[str, Path]) -> list[tuple[PoolFile, Path]]:
    """Every audio file under each package's folder, skipping links, byte-identical copies and a second format
    of one recording (``x.ogg`` and ``x.wav``: the first in path order is kept)."""
    found, seen, names = [], set(), set()
    for package, folder, _ in DISJOINT_SOURCES:
        if package not in roots:
            continue
        root = roots[package]
        for path in sorted((root / folder).rglob("*")):
            if path.suffix.lower() not in AUDIO_EXTENSIONS or path.is_symlink() or not path.is_file():
                continue
            digest = file_sha256(path)
            if digest in seen:
                continue
            seen.add(digest)
            rel = path.relative_to(root / folder).with_suffix("").as_posix()
            item = PoolFile(f"{package}/{slug(rel.replace('/', '-'))}.wav", package, recording_id(package, root, path))
            if item.name not in names:
                names.add(item.name)
                found.append((item, path))
    return found
