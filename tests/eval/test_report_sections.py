"""The report marks event-task cells of cola_hear models measured before the shared stage path."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cola_common.provenance import commit_contains
from cola_eval.report.page import SHARED_STAGE_PATH_COMMIT, event_path_note

ROOT = Path(__file__).resolve().parents[2]


def _have_history() -> bool:
    found = subprocess.run(["git", "cat-file", "-e", f"{SHARED_STAGE_PATH_COMMIT}^"], cwd=ROOT, capture_output=True)
    return found.returncode == 0


@pytest.mark.skipif(not _have_history(), reason="needs the repository's history (not a shallow clone)")
def test_rows_before_the_shared_path_are_named_and_later_ones_are_not():
    parent = subprocess.run(["git", "rev-parse", f"{SHARED_STAGE_PATH_COMMIT}^"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()  # fmt: skip
    assert commit_contains(SHARED_STAGE_PATH_COMMIT, SHARED_STAGE_PATH_COMMIT) is True
    assert commit_contains(parent + "+dirty", SHARED_STAGE_PATH_COMMIT) is False
    assert commit_contains("0" * 40, SHARED_STAGE_PATH_COMMIT) is None
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


def test_leaderboard_section_puts_published_scores_next_to_ours(tmp_path):
    from cola_eval.report.page import LEADERBOARD_CSV, leaderboard_section

    peers = {"hearbaseline.torchcrepe": "crepe"}
    assert leaderboard_section(tmp_path, pd.DataFrame(), peers) == []  # no cited file: no section
    (tmp_path / LEADERBOARD_CSV).write_text(
        "peer,module,hear_task,metric,score,nearest_suite_task,source\n"
        "CREPE,hearbaseline.torchcrepe,NSynth Pitch 5h,pitch accuracy,0.870,pitch,board.csv @ abc\n"
        "CREPE,hearbaseline.torchcrepe,Speech Commands 5h,accuracy,0.180,keyword_spotting,board.csv @ abc\n"
    )
    summary = pd.DataFrame([
        {"task": "pitch-v1.0.0-full", "model": "crepe", "metric": "pitch_acc", "mean": 91.25, "std": 0.5, "n": 3},
        {"task": "pitch-v1.0.0-full", "model": "cola", "metric": "pitch_acc", "mean": 74.7, "std": 0.5, "n": 3},
    ])  # fmt: skip
    lines = leaderboard_section(tmp_path, summary, peers)
    pitch = next(line for line in lines if "NSynth Pitch 5h" in line)
    assert [c.strip() for c in pitch.strip("|").split("|")] == [
        "CREPE", "NSynth Pitch 5h (pitch accuracy)", "87.0", "pitch", "91.2", "74.7"]  # fmt: skip
    keyword = next(line for line in lines if "Speech Commands" in line)
    assert keyword.count("not measured yet") == 2
    assert any("board.csv @ abc" in line for line in lines)


def _summary(scores: dict[str, list[float]], std: float = 1.0) -> pd.DataFrame:
    """Per-task summary rows (points) of each model: one task per score."""
    return pd.DataFrame([
        {"task": f"t{i}", "model": model, "metric": "top1_acc", "mean": score, "std": std, "n": 3}
        for model, values in scores.items()
        for i, score in enumerate(values)
    ])  # fmt: skip


def test_learned_vs_control_table_picks_the_read_out_on_validation_and_the_strongest_control():
    from cola_eval.models.experiments import ReadoutComparison
    from cola_eval.report.page import control_average, readout_table

    summary = _summary({
        "a": [60.0, 62.0], "a-bn-s0": [59.0, 61.0], "a-bn-s1": [61.0, 63.0],  # ties: 61 vs 61
        "b": [70.0, 72.0], "b-bn-s0": [50.0, 50.0], "b-bn-s1": [52.0, 52.0],  # wins at its read-out
    })  # fmt: skip
    mean, spread, seeds = control_average(summary, ("a-bn-s0", "a-bn-s1", "missing"))
    assert (mean, seeds) == (61.0, 2) and spread == pytest.approx(((2**0.5) ** 2 + (2**0.5 / 2) ** 2) ** 0.5)
    comparisons = (
        ReadoutComparison("A", ("unmeasured", "a"), ("a-bn-s0", "a-bn-s1")),
        ReadoutComparison("B", ("b",), ("b-bn-s0", "b-bn-s1")),
        ReadoutComparison("C", ("c",), ("c-bn-s0",)),
    )
    valid = pd.DataFrame({"model": ["a", "b"], "valid": [90.0, 80.0], "n_tasks": [2, 2]})
    table, sentences = readout_table(summary, valid, comparisons)
    lines = table.splitlines()
    assert "`a` 61.0" in lines[2] and "ties within the spread" in lines[2]
    assert "`b` 71.0" in lines[3] and "+20.0" in lines[3] and "| wins |" in lines[3]
    assert "`c` not run" in lines[4] and "needs rows" in lines[4]
    # chosen on validation (a, 90 > 80) although b is ahead on test; the strongest control is A's (61 > 51)
    (sentence,) = sentences
    # a learned run measured on part of the suite is compared on the tasks it has, and says so
    partial = pd.concat([summary, _summary({"p": [65.0]})])
    table, _ = readout_table(partial, valid, (ReadoutComparison("P", ("p",), ("a-bn-s0", "a-bn-s1")),))
    assert "`p` 65.0 ± 1.0 (1 of 2 tasks)" in table and "| 60.0 ± " in table  # controls on task t0 only
    assert "(A, `a`, valid 90.0)" in sentence and "(A, 2 seeds) 61.0" in sentence and "ties" in sentence
    # a read-out the learned weights were not read out at still shows its control, which can be the strongest
    controls_only = pd.concat([summary, _summary({"d-bn-s0": [80.0, 80.0]})])
    table, (sentence,) = readout_table(
        controls_only, valid, (*comparisons, ReadoutComparison("D", ("d",), ("d-bn-s0",)))
    )
    assert "| D | `d` not run | – | 80.0 ± 0.7 (1) | – | needs rows |" in table
    assert "(D, 1 seeds) 80.0" in sentence or "(D, 1 seed) 80.0" in sentence
