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

ROOT = Path(__file__).resolve().parents[1]
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
        capture_output=True, text=True, timeout=600,
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


def test_bootstrap_runs_the_peers_step_after_the_pinned_stack():
    text = (ROOT / "scripts" / "bootstrap.sh").read_text()
    main_stamp = text.index('echo "$want" > "$STAMP"')
    peers = text.index("scripts/install_peers.sh --python")
    assert main_stamp < peers
    # the early "up to date" exit of the pinned stack no longer skips the peers step
    assert "exit 0" not in text[text.index("is up to date"):peers]
    assert "COLA_PEERS" in text[:peers + 200]
