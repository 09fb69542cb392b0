"""The real hear-validator (hearvalidator 2021.0.2), run on a module in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_hear_validator(
    module: str, weights: str | Path | None = None, *, bridge: bool = False, timeout: int = 600
) -> str:
    """Validate ``module`` (loading ``weights`` with ``--model`` when given), assert it passes, return its stdout.

    Runs ``python -m hearvalidator.validate`` from the repository root, so the checkout's code is what
    is validated; ``bridge`` runs it through ``python -m cola_eval.protocols.hear_bridge validate``, which applies the
    project's fixes for peer modules first. Passing means exit status 0 and the validator's "Looks good!".
    """
    tool = ["cola_eval.protocols.hear_bridge", "validate"] if bridge else ["hearvalidator.validate"]
    command = [sys.executable, "-m", *tool, module, *(["--model", str(weights)] if weights is not None else [])]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0 and "Looks good!" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout
