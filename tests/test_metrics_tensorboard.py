"""cola-pretrain writes TensorBoard event files (tensorboard is pinned); a resume purges the later steps."""

from __future__ import annotations

import sys

import pytest

from pretrain.metrics_log import MetricsLog

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard is pinned in requirements.txt"
)


def _scalars(folder, tag: str) -> list[tuple[int, float]]:
    acc = event_accumulator.EventAccumulator(str(folder))
    acc.Reload()
    return [(e.step, round(e.value, 4)) for e in acc.Scalars(tag)]


def test_metrics_log_writes_tensorboard_scalars_and_resume_replaces_later_steps(tmp_path):
    tensorflow_before = "tensorflow" in sys.modules
    log = MetricsLog(tmp_path)
    if not tensorflow_before:  # the writer uses TensorBoard's TF stub: no 600 MB TensorFlow import
        assert "tensorflow" not in sys.modules
    for step, loss in ((1, 4.0), (2, 3.5), (3, 3.25)):
        log.write({"step": step, "loss": loss, "accuracy": 0.1 * step})
    log.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert _scalars(tmp_path / "tensorboard", "pretrain/loss") == [(1, 4.0), (2, 3.5), (3, 3.25)]
    assert _scalars(tmp_path / "tensorboard", "pretrain/accuracy") == [(1, 0.1), (2, 0.2), (3, 0.3)]

    # resumed from the step-2 checkpoint: step 3 is logged again with the new run's value
    log = MetricsLog(tmp_path, resume_step=2)
    log.write({"step": 3, "loss": 3.0})
    log.close()
    assert _scalars(tmp_path / "tensorboard", "pretrain/loss") == [(1, 4.0), (2, 3.5), (3, 3.0)]


def test_a_resume_in_the_same_second_still_comes_last_after_ten_writers(tmp_path):
    """Event files sort by name: opened second, then a per-process counter compared as text (".10" < ".9")."""
    for i in range(10):  # push the process's writer counter past a digit boundary
        MetricsLog(tmp_path / f"other-{i}").close()
    test_metrics_log_writes_tensorboard_scalars_and_resume_replaces_later_steps(tmp_path / "run")
