"""The run's metrics log: a CSV file (one row per logging step) and TensorBoard when it is installed, and
the running sums of loss and accuracy between two rows (``MetricWindow``)."""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch

from cola_hear.atomic import atomic_write_text

log = logging.getLogger(__name__)

COLUMNS = ("step", "loss", "accuracy", "lr", "pairs_per_s", "elapsed_s")


class MetricsLog:
    """Appends rows to ``out_dir/log.csv`` (and ``out_dir/tensorboard``).

    ``resume_step``: continue an existing log, dropping rows past that step (they were
    logged after the checkpoint the run resumes from), so no step appears twice.
    ``extra``: columns after the standard ones (e.g. the encoder's drift per stage); a
    value a row lacks is left empty.
    """

    def __init__(self, out_dir: str | os.PathLike, resume_step: int | None = None, extra: tuple[str, ...] = ()) -> None:
        self.columns = COLUMNS + tuple(c for c in extra if c not in COLUMNS)
        self.path = Path(out_dir) / "log.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            kept = [r for r in read_log(self.path) if int(r["step"]) <= resume_step]
            atomic_write_text(self.path, _csv_text(kept, self.columns))
        else:
            atomic_write_text(self.path, _csv_text([], self.columns))
        self._file = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns)
        self._tb = _tensorboard(Path(out_dir) / "tensorboard", resume_step)

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _format(row.get(k)) for k in self.columns})
        self._file.flush()
        if self._tb is not None:
            for key in self.columns[1:]:
                if row.get(key) is not None:
                    self._tb.add_scalar(f"pretrain/{key}", row[key], global_step=row["step"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a metrics CSV as dicts of numbers (empty cells are left out)."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def _csv_text(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(row.get(k)) for k in columns})
    return buffer.getvalue()


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _wait_for_a_new_second(folder: Path) -> None:
    """Sleep until the clock's second is past that in the name of the newest event file in ``folder``."""
    fields = (p.name.split(".")[3] for p in folder.glob("events.out.tfevents.*"))
    stamps = [int(f) for f in fields if f.isdigit()]
    while stamps and int(time.time()) <= max(stamps):
        time.sleep(0.05)


def _tensorboard(folder: Path, resume_step: int | None) -> Any:
    """A TensorBoard writer, or ``None`` without tensorboard.

    TensorBoard writes event files with its own stub of the TensorFlow API unless TensorFlow
    imports; tensorflow-cpu is in the venv for the HEAR tools, and importing it would cost every
    pretraining process about 600 MB and seconds (measured: 1.18 GB vs 0.57 GB peak RSS). The
    empty ``tensorboard.compat.notf`` module is TensorBoard's own switch to the stub.
    When resuming from ``resume_step``, events after that step (logged past the checkpoint) are
    purged, as the CSV's rows are; ``resume_step`` itself stays. TensorBoard reads a folder's event files
    in name order, and a name starts with the second it was opened, then a per-process counter that
    sorts as text (".10" before ".9"): a file opened in the same second as an earlier one is opened a
    second later, so the resumed events always come last.
    """
    _wait_for_a_new_second(folder)
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder), purge_step=None if resume_step is None else resume_step + 1)


class MetricWindow:
    """Sums of loss and accuracy since the last log row, kept on the device (no sync per step)."""

    def __init__(self, device: torch.device, t0: float) -> None:
        self.device = device
        self.reset(t0)

    def reset(self, t0: float) -> None:
        self.loss = torch.zeros((), device=self.device)
        self.accuracy = torch.zeros((), device=self.device)
        self.steps = 0
        self.t0 = t0

    def add(self, loss: torch.Tensor, accuracy: torch.Tensor) -> None:
        self.loss += loss.float()
        self.accuracy += accuracy.float()
        self.steps += 1

    def sums(self) -> torch.Tensor:
        return torch.stack([self.loss, self.accuracy]) / max(self.steps, 1)
