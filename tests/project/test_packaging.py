"""What the package declares: a small core for the HEAR module, extras for the rest, pins elsewhere.

``setup.cfg`` gives version ranges: ``install_requires`` names only what ``cola_hear`` imports, and
every third-party import of ``pretrain``, ``eval`` and ``suite`` is in some extra. The exact versions
stay in ``requirements*.txt`` (what ``scripts/bootstrap.sh`` installs), each inside its range.
Import names map to distributions through the project environment's own metadata.
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support import package_dirs

ROOT = Path(__file__).resolve().parents[2]
CORE = {"torch", "torchaudio", "timm", "safetensors", "numpy"}
FIRST_PARTY = {
    "cola_hear",
    "cola_common",
    "cola_eval",
    "cola_pretrain",
    "cola_suite",
    "benchmarks",
    "support",
    "scripts",
}
# Declared nowhere on purpose: their own numpy/numba pins cannot install on Python 3.11, so the
# bootstrap adds them with `pip install --no-deps` (setup.cfg says so above the [hear] extra).
NO_DEPS = {"heareval", "hearvalidator", "hearbaseline"}
REQUIREMENTS = sorted(ROOT.glob("requirements*.txt"))


@cache
def _setup() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _requirements(value: str) -> list[Requirement]:
    return [Requirement(line) for line in value.strip().splitlines() if line.strip()]


def core() -> list[Requirement]:
    """``install_requires`` of setup.cfg."""
    return _requirements(_setup()["options"]["install_requires"])


def extras() -> dict[str, list[Requirement]]:
    """``extras_require`` of setup.cfg, by extra."""
    return {name: _requirements(value) for name, value in _setup()["options.extras_require"].items()}


def third_party_imports(package: str) -> dict[str, list[str]]:
    """Top-level third-party names imported anywhere in ``package`` (lazy imports too) -> where."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} - set(sys.stdlib_module_names) - FIRST_PARTY:
                found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


@cache
def _providers() -> dict[str, list[str]]:
    return packages_distributions()


def distributions(module: str) -> set[str]:
    """Canonical names of the installed distributions that provide import name ``module``."""
    return {canonicalize_name(d) for d in _providers().get(module, [module])}


def pins(path: Path) -> list[str]:
    """The requirement lines of a requirements file (``#no-deps:`` lines included), comments cut."""
    lines = [re.sub(r"^#no-deps:", "", line) for line in path.read_text().splitlines()]
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_the_core_declares_ranges_of_the_hear_module_dependencies_only() -> None:
    names = {canonicalize_name(r.name) for r in core()}
    assert names <= CORE, f"not needed by cola_hear: {sorted(names - CORE)}"
    assert all(op not in str(r.specifier) for r in core() for op in ("==", "===")), [str(r) for r in core()]
    assert all(r.specifier for r in core()), "each core dependency has a range"
    for module, where in third_party_imports("cola_hear").items():
        assert distributions(module) & names, f"cola_hear imports {module} ({where}) but the core lacks it"


@pytest.mark.parametrize("package", ["common", "pretrain", "eval", "suite"])
def test_every_third_party_import_is_declared(package: str) -> None:
    declared = {canonicalize_name(r.name) for r in core()}
    declared |= {canonicalize_name(r.name) for reqs in extras().values() for r in reqs}
    missing = {
        module: where
        for module, where in third_party_imports(package).items()
        if module not in NO_DEPS and not distributions(module) & declared
    }
    assert not missing, f"{package} imports packages no extra declares: {missing}"


def test_the_extras_cover_each_command_and_all_holds_them_all() -> None:
    assert {"pretrain", "eval", "suite", "hear", "peers", "all", "dev"} <= set(extras())
    (everything,) = extras()["all"]
    assert canonicalize_name(everything.name) == "cola-hear"
    assert everything.extras == {"pretrain", "eval", "suite", "hear", "peers"}
    assert not [str(r) for reqs in extras().values() for r in reqs if "==" in str(r.specifier)]


def test_setup_cfg_lists_every_package_of_the_mapped_folders() -> None:
    """``packages`` is an explicit list (a ``package_dir`` mapping and ``find:`` do not mix): each folder with an
    ``__init__.py`` under a mapped folder is in it, under its installed name, and nothing else is."""
    mapping = package_dirs()
    listed = set(_setup()["options"]["packages"].split())
    found = {
        ".".join([name, *init.parent.relative_to(ROOT / folder).parts])
        for name, folder in mapping.items()
        for init in (ROOT / folder).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert listed == found, f"missing: {sorted(found - listed)}; not a package: {sorted(listed - found)}"


@pytest.mark.parametrize("path", REQUIREMENTS, ids=lambda p: p.name)
def test_the_requirements_files_pin_every_package(path: Path) -> None:
    lines = pins(path)
    assert lines, path
    loose = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line)]
    assert not loose, f"{path.name}: not pinned with ==: {loose}"


def test_the_pins_lie_inside_the_declared_ranges() -> None:
    pinned = {}
    for path in REQUIREMENTS:
        for line in pins(path):
            requirement = Requirement(line)
            pinned[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
    ranges = [*core(), *(r for name, reqs in extras().items() if name != "all" for r in reqs)]
    outside = [
        f"{r} (pinned {pinned[name]})"
        for r in ranges
        if (name := canonicalize_name(r.name)) in pinned and not r.specifier.contains(pinned[name])
    ]
    assert not outside, f"pinned versions outside setup.cfg's ranges: {outside}"
    assert set(pinned) >= CORE, "the bootstrap pins every core dependency"
