"""The repository's text stands on its own: it cites no document and no path outside the checkout."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([re.escape("DESIGN" + ".md"), re.escape(".." + "/shared")]))
LINK = re.compile(r"\]\(([^)\s]+)\)")


@cache
def text_files() -> dict[str, str]:
    """Path -> text of every file git sees (tracked, or untracked and not ignored) that is UTF-8 text."""
    names = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")  # fmt: skip
    out = {}
    for name in filter(None, names):
        path = ROOT / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            out[name] = data.decode()
        except UnicodeDecodeError:
            continue
    return out


def test_no_file_cites_a_document_or_folder_outside_the_repository() -> None:
    found = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
        for name, text in text_files().items()
        for m in OUTSIDE.finditer(text)
    ]
    assert not found, found
    assert len(text_files()) > 100  # the scan saw the repository


@pytest.mark.parametrize("name", sorted(n for n in text_files() if n.endswith(".md")))
def test_markdown_links_point_at_files_in_the_repository(name: str) -> None:
    for target in LINK.findall(text_files()[name]):
        if re.match(r"[a-z]+:|#", target):  # a web address or an anchor
            continue
        path = (ROOT / name).parent / target.split("#")[0]
        assert path.resolve().is_relative_to(ROOT), f"{name} links outside the repository: {target}"
        assert path.exists(), f"{name} links to a missing file: {target}"


MACHINE_PATH = re.compile(r"(?<![\w.~-])/(work|root|home|tmp|Users|mnt|var|opt|srv)/")


def test_published_results_hold_no_absolute_machine_path() -> None:
    published = {name: text for name, text in text_files().items() if name.startswith("results/")}
    assert published, "no results/ files seen"
    found = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {text[m.start() : m.start() + 60]}"
        for name, text in published.items()
        for m in [*MACHINE_PATH.finditer(text), *re.finditer(re.escape(str(ROOT)), text)]
    ]
    assert not found, found


def test_benchmark_tables_show_paths_relative_to_the_repository(tmp_path: Path, monkeypatch) -> None:
    from benchmarks.table import shown_path

    assert shown_path(ROOT / "cola_hear" / "assets" / "default.safetensors") == "cola_hear/assets/default.safetensors"
    monkeypatch.chdir(ROOT)
    assert shown_path("data/pool") == "data/pool"
    assert shown_path(tmp_path / "w.safetensors") == "w.safetensors (outside the repository)"
