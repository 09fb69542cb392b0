"""ARCHITECTURE.md names every package, sub-package and module, and every path it names exists.

A module ``pkg/sub/name.py`` counts as named when the section ``## `pkg/` ...`` holds
```sub/name.py``` in backticks, or the page holds ```pkg/sub/name.py```; a sub-package ``pkg/sub/``
when its section holds ```sub/```-prefixed text. A backticked path (with a ``/`` or a file extension)
is looked up in the section's folder, then at the repository root. Every installed package is in the
table of folders and installed names, as setup.cfg's ``package_dir`` pairs them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from support import package_dirs

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "ARCHITECTURE.md"
PACKAGES = ("cola_hear", "common", "pretrain", "eval", "suite", "benchmarks", "tests")
HEADING = re.compile(r"^## `([\w-]+)/`", re.MULTILINE)
PATHLIKE = re.compile(r"[\w.*-]+(/[\w.*-]*)*")
EXTENSIONS = (".py", ".md", ".toml", ".sh", ".txt", ".cfg", ".csv", ".safetensors")


def sections() -> dict[str, str]:
    """Folder -> text of its ``## `folder/` ...`` section; ``""`` -> the text outside those sections."""
    text = PAGE.read_text()
    marks = list(HEADING.finditer(text))
    out = {"": text[: marks[0].start()] if marks else text}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        out[mark.group(1)] = text[mark.start() : following.start() if following else len(text)]
    return out


def modules() -> list[str]:
    """Every ``.py`` file git sees under the packages (tracked, or untracked and not ignored)."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", *PACKAGES],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    return sorted({n for n in names if n.endswith(".py") and (ROOT / n).is_file()})


def named_modules() -> list[str]:
    """The modules the page must name: not the ``__init__.py`` files (their folders are named as
    sub-packages) and not the test files (their folders are)."""
    return [m for m in modules() if Path(m).name != "__init__.py" and not Path(m).name.startswith("test_")]


def sub_packages() -> list[str]:
    """Every folder below a package that holds ``.py`` files (``eval/protocols``, ``tests/hear``, ...)."""
    return sorted({str(Path(m).parent) for m in modules() if "/" in str(Path(m).parent)})


@pytest.mark.parametrize("module", named_modules())
def test_every_module_is_named(module: str) -> None:
    package, rel = module.split("/", 1)
    page = sections()
    assert f"`{rel}`" in page.get(package, "") or f"`{module}`" in PAGE.read_text(), (
        f"ARCHITECTURE.md does not name {module} (as `{rel}` in its `{package}/` section)"
    )


def test_every_named_path_exists() -> None:
    missing = []
    for folder, text in sections().items():
        for token in re.findall(r"`([^`\s]+)`", text):
            if not PATHLIKE.fullmatch(token) or not ("/" in token or token.endswith(EXTENSIONS)):
                continue
            if token.startswith(("data/", "runs/")):  # what the commands write, not repository files
                continue
            bases = [ROOT / folder, ROOT] if folder else [ROOT]
            if not any(list(base.glob(token.rstrip("/"))) for base in bases):
                missing.append(f"{token} (section {folder or 'top'})")
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_package_has_a_section() -> None:
    assert set(PACKAGES) <= set(sections()), sorted(sections())


@pytest.mark.parametrize("folder", sub_packages())
def test_every_sub_package_is_named(folder: str) -> None:
    package, rel = folder.split("/", 1)
    assert f"`{rel}/" in sections().get(package, ""), f"ARCHITECTURE.md's `{package}/` section does not name {rel}/"


def test_the_page_pairs_each_folder_with_its_installed_name() -> None:
    text = PAGE.read_text()
    for name, folder in package_dirs().items():
        assert f"| `{folder}/` | `{name}` |" in text, f"no table row for {folder}/ -> {name}"
