"""ARCHITECTURE.md names every module of the packages, and every path it names exists.

A module ``pkg/sub/name.py`` counts as named when the section ``## `pkg/` ...`` holds
```sub/name.py``` in backticks, or the page holds ```pkg/sub/name.py```. A backticked path (with a
``/`` or a file extension) is looked up in the section's folder, then at the repository root.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "ARCHITECTURE.md"
PACKAGES = ("cola_hear", "pretrain", "eval", "suite", "benchmarks")
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
    """Every ``.py`` file git sees under the packages (tracked, or untracked and not ignored), but the
    packages' own ``__init__.py``."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", *PACKAGES],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    top = {f"{p}/__init__.py" for p in PACKAGES}
    return sorted({n for n in names if n.endswith(".py") and n not in top and (ROOT / n).is_file()})


@pytest.mark.parametrize("module", modules())
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
