"""Result rows: every evaluation run appends one row per (task, model, seed/fold, metric) to a CSV.

``results/<protocol>.csv`` (protocols: ``linear_probe``, ``hear``, ``finetune``).
Appends hold a file lock and rewrite the file atomically (temp file + rename), so
concurrent runs and crashes lose nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import os
import shlex
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from cola_hear.atomic import atomic_write_text
from cola_hear.provenance import git_commit

PROTOCOLS = ("linear_probe", "hear", "finetune")
REPO_ROOT = Path(__file__).resolve().parent.parent
# A row's ``commit`` is HEAD with ``+dirty`` only when tracked files under these folders differ from it: they hold
# the code that computes a score. Edits elsewhere (docs, results/, benchmarks/, pretrain/) leave rows clean.
ROW_CODE_PATHS = ("eval", "cola_hear")
# Default output folders: relative, so under the working directory, never the install folder.
DEFAULT_RESULTS_DIR = Path("results")
DEFAULT_CACHE_DIR = Path("runs/eval/cache")  # embeddings of the linear probe
DEFAULT_HEAR_DIR = Path("runs/eval/hear")  # heareval's embeddings and logs


@dataclass(frozen=True)
class ResultRow:
    """One score. ``primary`` marks the task's primary metric (the one the tables show)."""

    protocol: str
    task: str
    model: str
    module: str
    weights_sha256: str
    seed: int
    fold: str
    metric: str
    score: float
    primary: bool
    n_train: int
    n_test: int
    details: str  # free-form choices, e.g. "l2=0.001 epoch=12"
    commit: str
    command: str
    date: str

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def csv_path(protocol: str, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    return Path(results_dir) / f"{protocol}.csv"


def append_rows(rows: Iterable[ResultRow], results_dir: str | Path = DEFAULT_RESULTS_DIR) -> list[Path]:
    """Append rows to their protocol's CSV (created with a header when missing)."""
    by_protocol: dict[str, list[ResultRow]] = {}
    for row in rows:
        by_protocol.setdefault(row.protocol, []).append(row)
    written = []
    for protocol, group in by_protocol.items():
        path = csv_path(protocol, results_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            old = path.read_text() if path.exists() else ""
            if old:
                header = next(csv.reader(io.StringIO(old)))
                if header != ResultRow.columns():
                    raise ValueError(f"{path} has columns {header}, expected {ResultRow.columns()}")
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=ResultRow.columns(), lineterminator="\n")
            if not old:
                writer.writeheader()
            for row in group:
                writer.writerow({**asdict(row), "score": repr(float(row.score))})
            atomic_write_text(path, (old if old.endswith("\n") or not old else old + "\n") + buf.getvalue())
        written.append(path)
    return written


def read_rows(path: str | Path) -> list[ResultRow]:
    """Rows of one results CSV, typed."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(ResultRow.columns()) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        return [
            ResultRow(
                **{
                    **{k: r[k] for k in ResultRow.columns()},
                    "seed": int(r["seed"]),
                    "score": float(r["score"]),
                    "primary": r["primary"] in ("True", "true", "1"),
                    "n_train": int(r["n_train"]),
                    "n_test": int(r["n_test"]),
                }
            )
            for r in reader
        ]


def run_context() -> dict[str, str]:
    """``commit`` (see ``ROW_CODE_PATHS``), ``command`` and ``date`` of the current run."""
    date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    commit = git_commit(REPO_ROOT, paths=ROW_CODE_PATHS) or "unknown"
    return {"commit": commit, "command": current_command(), "date": date}


def current_command() -> str:
    prog = Path(sys.argv[0]).name if sys.argv else "python"
    if prog in ("__main__.py", "cli.py"):
        prog = "cola-eval"
    return shlex.join([prog, *sys.argv[1:]])


@contextmanager
def _locked(path: Path):
    """Exclusive lock on the CSV's folder (no lock file is left behind)."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
