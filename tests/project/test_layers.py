"""The packages import one way only (ARCHITECTURE.md): cola_hear is the base; suite, pretrain and eval
use it and nothing of each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"cola_hear", "pretrain", "eval", "suite", "benchmarks", "scripts", "tests"}
ALLOWED = {
    "cola_hear": {"cola_hear"},
    "pretrain": {"cola_hear", "pretrain"},
    "eval": {"cola_hear", "eval"},
    "suite": {"cola_hear", "suite"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    wrong = {str(f.relative_to(ROOT)): sorted(_imported_packages(f) - ALLOWED[package]) for f in files}
    assert {f: w for f, w in wrong.items() if w} == {}
