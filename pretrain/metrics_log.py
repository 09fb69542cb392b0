"""The run's metrics log: a CSV file (one row per logging step) and TensorBoard when it is installed."""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any

from cola_hear.atomic import atomic_write_text

log = logging.getLogger(__name__)

COLUMNS = ("step", "loss", "accuracy", "lr", "pairs_per_s", "elapsed_s")


class MetricsLog:
    """Appends rows to ``out_dir/log.csv`` (and ``out_dir/tensorboard``).

    ``resume_step``: continue an existing log, dropping rows past that step (they were
    logged after the checkpoint the run resumes from), so no step appears twice.
    """

    def __init__(self, out_dir: str | os.PathLike, resume_step: int | None = None) -> None:
        self.path = Path(out_dir) / "log.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            kept = [r for r in read_log(self.path) if int(r["step"]) <= resume_step]
            atomic_write_text(self.path, _csv_text(kept))
        else:
            atomic_write_text(self.path, _csv_text([]))
        self._file = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._tb = _tensorboard(Path(out_dir) / "tensorboard", resume_step)

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _format(row[k]) for k in COLUMNS})
        self._file.flush()
        if self._tb is not None:
            for key in COLUMNS[1:]:
                self._tb.add_scalar(f"pretrain/{key}", row[key], global_step=row["step"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_log(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a metrics CSV as dicts of numbers."""
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(row[k]) for k in COLUMNS})
    return buffer.getvalue()


def _format(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _tensorboard(folder: Path, resume_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder), purge_step=resume_step)
