"""The report marks event-task cells of cola_hear models measured before the shared stage path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from eval.report import SHARED_STAGE_PATH_COMMIT, contains_commit, event_path_note

ROOT = Path(__file__).resolve().parents[1]


def _have_history() -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{SHARED_STAGE_PATH_COMMIT}^"], cwd=ROOT, capture_output=True)
    return found.returncode == 0


@pytest.mark.skipif(not _have_history(), reason="needs the repository's history (not a shallow clone)")
def test_rows_before_the_shared_path_are_named_and_later_ones_are_not():
    parent = subprocess.run(["git", "rev-parse", f"{SHARED_STAGE_PATH_COMMIT}^"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    assert contains_commit(SHARED_STAGE_PATH_COMMIT) is True
    assert contains_commit(parent + "+dirty") is False
    assert contains_commit("0" * 40) is None
    rows = pd.DataFrame([
        {"model": "old", "module": "cola_hear", "metric": "event_onset_200ms_fms", "commit": parent},
        {"model": "new", "module": "cola_hear", "metric": "event_onset_200ms_fms", "commit": SHARED_STAGE_PATH_COMMIT},
        {"model": "peer", "module": "hearbaseline.naive", "metric": "event_onset_200ms_fms", "commit": parent},
        {"model": "scene", "module": "cola_hear", "metric": "top1_acc", "commit": parent},
        {"model": "hidden", "module": "cola_hear", "metric": "event_onset_200ms_fms", "commit": parent},
    ])  # fmt: skip
    note = " ".join(event_path_note(rows, ["old", "new", "peer", "scene"]))
    assert "`old`" in note and SHARED_STAGE_PATH_COMMIT[:7] in note
    for absent in ("`new`", "`peer`", "`scene`", "`hidden`"):
        assert absent not in note
    assert event_path_note(rows, ["new", "peer", "scene"]) == []
