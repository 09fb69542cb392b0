"""cola-pretrain writes TensorBoard event files (tensorboard is pinned); a resume purges the later steps."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from cola_pretrain.metrics_log import MetricsLog

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard is pinned in requirements.txt"
)
from tensorboard.summary.writer.event_file_writer import _global_uid  # noqa: E402 (after the skip)


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


def _counter(path: Path) -> int:
    """The per-process writer counter that ends an event file's name."""
    return int(path.name.rsplit(".", 1)[1])


def test_a_resume_comes_last_even_where_the_writer_counter_gains_a_digit(tmp_path):
    """Event files sort by name: opened second, then a per-process counter compared as text (".10" < ".9").

    Writers are opened until the next counter is 9, 99, ... so that the run's first file and its resumed
    file straddle a digit boundary: only a later second in the resumed file's name keeps it last.
    """
    others = 0
    while not re.fullmatch("9+", str(_global_uid._value)):  # the counter the next writer gets
        MetricsLog(tmp_path / f"other-{others}").close()
        others += 1
    run = tmp_path / "run"
    log = MetricsLog(run)
    for step, loss in ((1, 4.0), (2, 3.5), (3, 3.25)):
        log.write({"step": step, "loss": loss})
    log.close()
    log = MetricsLog(run, resume_step=2)
    log.write({"step": 3, "loss": 3.0})
    log.close()

    first, resumed = sorted((run / "tensorboard").glob("events.out.tfevents.*"), key=_counter)
    assert len(str(_counter(resumed))) == len(str(_counter(first))) + 1, (first.name, resumed.name)
    assert sorted([first.name, resumed.name]) == [first.name, resumed.name], "the resumed file must sort last"
    assert _scalars(run / "tensorboard", "pretrain/loss") == [(1, 4.0), (2, 3.5), (3, 3.0)]
