"""The bootstrap's peers step (scripts/install_peers.sh) is idempotent and reinstalls only when its inputs change.

It runs for real against this environment's Python, whose peers are already installed, so pip
only confirms the pins (nothing is downloaded and torch is never reinstalled). The Python it
is given is a wrapper that logs each call before running the real interpreter, so the test
sees exactly when pip runs.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "install_peers.sh"

pytestmark = pytest.mark.skipif(os.environ.get("COLA_PEERS") == "0", reason="COLA_PEERS=0: peers not installed")


@pytest.fixture()
def logged_python(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def _run(python: Path, requirements: Path, stamp: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--python", str(python), "--requirements", str(requirements), "--stamp", str(stamp)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_peers_step_installs_once_then_only_when_its_pins_change(tmp_path, logged_python):
    python, log = logged_python
    requirements = tmp_path / "requirements-peers.txt"
    shutil.copy(ROOT / "requirements-peers.txt", requirements)
    stamp = tmp_path / "peers-stamp"

    first = _run(python, requirements, stamp)
    calls = _calls(log)
    # one pip call for the pinned lines (with dependencies), one for the --no-deps lines
    assert len(calls) == 2, calls
    assert "install -r" in calls[0] and str(requirements) in calls[0]
    assert calls[1].endswith("install --no-deps hearbaseline==2021.1.1")
    assert "torch" not in " ".join(calls).replace("torchcrepe", "")  # the torch stack is not this step's
    assert stamp.is_file() and "done" in first.stdout

    again = _run(python, requirements, stamp)
    assert _calls(log) == calls  # nothing ran
    assert "up to date" in again.stdout

    requirements.write_text(requirements.read_text() + "# a changed pin file\n")
    _run(python, requirements, stamp)
    assert len(_calls(log)) == 4  # a changed file installs again


def test_no_deps_marker_lines_are_comments_to_pip(tmp_path, logged_python):
    """``pip install -r requirements-peers.txt`` alone never sees hearbaseline's impossible pins."""
    python, log = logged_python
    requirements = tmp_path / "only-no-deps.txt"
    requirements.write_text("#no-deps: hearbaseline==2021.1.1  # comment\n")
    _run(python, requirements, tmp_path / "stamp")
    assert _calls(log) == ["-m pip --disable-pip-version-check -q install --no-deps hearbaseline==2021.1.1"]


def _sha256_of(*paths: Path) -> str:
    import hashlib

    return hashlib.sha256(b"".join(p.read_bytes() for p in paths)).hexdigest()


def test_bootstrap_with_an_up_to_date_stack_runs_only_the_peers_step(tmp_path, logged_python):
    """The real bootstrap.sh in a copy of the repository whose .venv is stamped up to date.

    Its Python is the logging wrapper around this interpreter, so any pip or uv run shows.
    """
    python, log = logged_python
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("bootstrap.sh", "install_peers.sh", "debian-packages.txt"):
        shutil.copy(ROOT / "scripts" / name, repo / "scripts" / name)
    for name in (
        "requirements.txt",
        "requirements-hear.txt",
        "requirements-dev.txt",
        "requirements-peers.txt",
        "setup.cfg",
    ):
        shutil.copy(ROOT / name, repo / name)
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(python)
    stack = [
        repo / n
        for n in (
            "requirements.txt",
            "requirements-hear.txt",
            "requirements-dev.txt",
            "setup.cfg",
            "scripts/bootstrap.sh",
        )
    ]
    (repo / ".venv" / ".bootstrap-stamp").write_text(_sha256_of(*stack) + "\n")
    (repo / ".venv" / ".peers-stamp").write_text(
        _sha256_of(repo / "requirements-peers.txt", repo / "scripts" / "install_peers.sh") + "\n"
    )

    def bootstrap(**env: str) -> str:
        proc = subprocess.run(
            ["bash", str(repo / "scripts" / "bootstrap.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **env},
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    out = bootstrap()
    assert "virtual environment .venv is up to date" in out and "peers: up to date" in out
    assert _calls(log) == []  # nothing installed, nothing even started

    # a changed peer pin file: the peers step installs, the torch stack is left alone
    peers = repo / "requirements-peers.txt"
    peers.write_text(peers.read_text() + "# changed\n")
    out = bootstrap()
    assert "virtual environment .venv is up to date" in out and "peers: done" in out
    calls = _calls(log)
    assert len(calls) == 2 and all(c.startswith("-m pip") for c in calls), calls  # no uv, no -e ., no torch
    assert bootstrap().count("up to date") == 2 and len(_calls(log)) == 2  # and idempotent again

    peers.write_text(peers.read_text() + "# changed again\n")
    assert "peers skipped (COLA_PEERS=0)" in bootstrap(COLA_PEERS="0")
    assert len(_calls(log)) == 2
