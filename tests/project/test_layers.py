"""The packages import one way only (ARCHITECTURE.md), always by their installed names.

``cola_hear`` is the base and imports nothing of the project but itself; ``cola_common`` imports only the
standard library and third-party packages; ``cola_pretrain``, ``cola_eval`` and ``cola_suite`` use those
two and nothing of each other. Inside ``cola_eval`` the sub-packages import one way too. No file imports
a folder name (``eval``, ``pretrain``, ``suite``, ``common``): with the checkout on ``sys.path`` such an
import would load a second copy of a package beside the installed one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, package_dirs

FOLDERS = package_dirs()
FOLDER_NAMES = {folder for name, folder in FOLDERS.items() if folder != name}
PROJECT = set(FOLDERS) | FOLDER_NAMES | {"benchmarks", "scripts", "tests", "support"}
ALLOWED = {
    "cola_hear": {"cola_hear"},
    "cola_common": {"cola_common"},
    "cola_pretrain": {"cola_hear", "cola_common", "cola_pretrain"},
    "cola_eval": {"cola_hear", "cola_common", "cola_eval"},
    "cola_suite": {"cola_hear", "cola_common", "cola_suite"},
}
# cola_eval's sub-packages: what each may import of the others (its cli.py, on top, may import them all)
EVAL_ALLOWED = {
    "models": {"models"},
    "protocols": {"models", "protocols"},
    "embed": {"models", "embed"},
    "report": {"models", "protocols", "report"},
}


def _imports(path: Path) -> set[str]:
    """Dotted names of the modules ``path`` imports absolutely (``from a.b import c`` gives ``a.b``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _python_files() -> list[Path]:
    """Every ``.py`` file git sees (tracked, or untracked and not ignored)."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def test_the_mapping_names_every_package_and_each_takes_the_prefix() -> None:
    assert set(ALLOWED) == set(FOLDERS), FOLDERS
    assert all(name.startswith("cola_") for name in FOLDERS)
    assert all((ROOT / folder / "__init__.py").is_file() for folder in FOLDERS.values())


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    files = sorted((ROOT / FOLDERS[package]).rglob("*.py"))
    assert files
    wrong = {}
    for f in files:
        tops = {name.split(".")[0] for name in _imports(f)} & PROJECT
        if tops - ALLOWED[package]:
            wrong[str(f.relative_to(ROOT))] = sorted(tops - ALLOWED[package])
    assert wrong == {}


def test_the_sub_packages_of_cola_eval_import_one_way() -> None:
    folder = ROOT / FOLDERS["cola_eval"]
    assert {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()} == set(EVAL_ALLOWED)
    wrong = {}
    for sub, allowed in EVAL_ALLOWED.items():
        for f in sorted((folder / sub).rglob("*.py")):
            used = {n.split(".")[1] for n in _imports(f) if n.startswith("cola_eval.") and n.count(".") >= 1}
            if used - allowed:
                wrong[str(f.relative_to(ROOT))] = sorted(used - allowed)
    assert wrong == {}


def test_no_file_imports_a_folder_name() -> None:
    wrong = {}
    for f in _python_files():
        tops = {name.split(".")[0] for name in _imports(f)} & FOLDER_NAMES
        if tops:
            wrong[str(f.relative_to(ROOT))] = sorted(tops)
    assert wrong == {}, f"import the installed names ({FOLDERS}), not the folders: {wrong}"


def test_the_folder_names_do_not_import_in_the_test_session() -> None:
    """Nothing the tests loaded so far came in under a folder name (a second copy of a package)."""
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FOLDER_NAMES)
    assert loaded == [], loaded


def test_cola_hear_holds_the_hear_core_only() -> None:
    """Every module of ``cola_hear`` is reached from its public API (``cola_hear/__init__.py``): no tool code
    rides along, so the embedding cache key (all of ``cola_hear``'s source) covers the code that embeds."""
    folder = ROOT / "cola_hear"
    todo, reached = ["cola_hear"], set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        path = folder / "__init__.py" if name == "cola_hear" else folder / f"{name.split('.', 1)[1]}.py"
        todo += [n for n in _imports(path) if n.startswith("cola_hear.")]
        tree = ast.parse(path.read_text())
        todo += [
            f"cola_hear.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "cola_hear"
            for alias in node.names
            if (folder / f"{alias.name}.py").is_file()
        ]
    modules = {f"cola_hear.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"} | {"cola_hear"}
    assert modules == reached, f"not used by the HEAR API: {sorted(modules - reached)}"
