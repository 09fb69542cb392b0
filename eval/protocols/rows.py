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

from cola_common.provenance import REPO_ROOT, git_commit
from cola_hear.atomic import atomic_write_text

PROTOCOLS = ("linear_probe", "hear", "finetune")
# A row's ``commit`` is HEAD with ``+dirty`` only when tracked files under these folders differ from it: they hold
# the code that computes a score. Edits elsewhere (docs, results/, benchmarks/, pretrain/) leave rows clean.
ROW_CODE_PATHS = ("eval", "cola_hear", "common")
# Module names that rows published before the packages took the project's prefix (issue 27) record, and
# their names now: read_rows gives every row the current name, so old and new rows are one model.
RENAMED_MODULES = {"eval.baselines": "cola_eval.models.baselines"}  # old names, kept
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
    # What was measured, beside the weights: the model's read-out and inference precision as it describes them
    # (``cola_eval.models.hear_module.HearModel.description``; empty for a module that does not) and the task's checksum
    # (``cola_eval.protocols.tasks.Task.checksum``). Empty in rows measured before these columns existed.
    readout: str = ""
    precision: str = ""
    task_sha256: str = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# Columns added after the first rows were published; a file without them is migrated on the next append
# (its rows get empty values: not recorded).
LATER_COLUMNS = ("readout", "precision", "task_sha256")


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
                    old = _migrated(path, header, old)
            new = _rows_text(group, header=not old)
            atomic_write_text(path, (old if old.endswith("\n") or not old else old + "\n") + new)
        written.append(path)
    return written


def _migrated(path: Path, header: list[str], text: str) -> str:
    """``text`` (a results CSV with ``header``) with the columns added since, empty; else a clear error."""
    if header + [c for c in LATER_COLUMNS if c not in header] != ResultRow.columns():
        raise ValueError(f"{path} has columns {header}, expected {ResultRow.columns()}")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ResultRow.columns(), lineterminator="\n")
    writer.writeheader()
    for row in csv.DictReader(io.StringIO(text)):
        writer.writerow({**dict.fromkeys(LATER_COLUMNS, ""), **row})
    return buf.getvalue()


def write_rows(rows: Iterable[ResultRow], path: str | Path) -> Path:
    """Write ``rows`` as a whole results CSV (atomic; replaces the file)."""
    return atomic_write_text(Path(path), _rows_text(rows, header=True))


def _rows_text(rows: Iterable[ResultRow], header: bool) -> str:
    """CSV lines of ``rows`` (scores written with ``repr``, so they read back exactly), optionally with the header."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ResultRow.columns(), lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({**asdict(row), "score": repr(float(row.score))})
    return buf.getvalue()


def read_rows(path: str | Path) -> list[ResultRow]:
    """Rows of one results CSV, typed."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(ResultRow.columns()) - set(reader.fieldnames or []) - set(LATER_COLUMNS)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        return [
            ResultRow(
                **{
                    **{k: r.get(k, "") for k in ResultRow.columns()},
                    "module": current_module_name(r["module"]),
                    "seed": int(r["seed"]),
                    "score": float(r["score"]),
                    "primary": r["primary"] in ("True", "true", "1"),
                    "n_train": int(r["n_train"]),
                    "n_test": int(r["n_test"]),
                }
            )
            for r in reader
        ]


def current_module_name(module: str) -> str:
    """The current import name of a HEAR module a result row names (``RENAMED_MODULES``; others unchanged)."""
    for old, new in RENAMED_MODULES.items():
        if module == old or module.startswith(old + "."):
            return new + module[len(old) :]
    return module


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


# --- identity: what a model name stands for ------------------------------------------------------------------

IDENTITY_COLUMNS = ("module", "weights_sha256", "readout", "precision")  # one value per model name in a CSV
ARCHIVE_DIR = "archive"  # superseded rows, kept out of the tables: results/archive/<protocol>.csv


def identity_conflicts(rows: Iterable[ResultRow]) -> list[str]:
    """Where one model name stands for two different things in ``rows``: two modules, weights checksums,
    read-outs or precisions (empty = not recorded, never a conflict), or a task measured at two checksums."""
    seen: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        for column in IDENTITY_COLUMNS:
            seen.setdefault((r.model, column), set()).add(getattr(r, column))
        seen.setdefault((r.model, f"task_sha256 of {r.task}"), set()).add(r.task_sha256)
    conflicts = []
    for (model, what), values in sorted(seen.items()):
        if what.split()[0] in LATER_COLUMNS:  # empty: measured before the column existed
            values = values - {""}
        if len(values) > 1:
            conflicts.append(
                f"`{model}` has {len(values)} values of {what}: {', '.join(sorted(v[:12] for v in values))}"
            )
    return conflicts


def dirty_rows(rows: Iterable[ResultRow]) -> list[ResultRow]:
    """Rows measured with uncommitted changes to the code that computes scores (see ``ROW_CODE_PATHS``)."""
    return [r for r in rows if r.commit.endswith("+dirty")]


def archive_superseded(results_dir: str | Path = DEFAULT_RESULTS_DIR) -> dict[str, int]:
    """Move the rows of each model name whose weights checksum differs from that of the name's newest row
    (the last one in the file) to ``results_dir/archive/<protocol>.csv``; returns rows moved per protocol.

    A name re-used for new weights then stands for one thing in each results CSV; the older rows stay
    readable in the archive, which the report does not read.
    """
    moved = {}
    for protocol in PROTOCOLS:
        path = csv_path(protocol, results_dir)
        if not path.exists():
            continue
        with _locked(path):
            rows = read_rows(path)
            newest = {r.model: r.weights_sha256 for r in rows}
            keep = [r for r in rows if r.weights_sha256 == newest[r.model]]
            old = [r for r in rows if r.weights_sha256 != newest[r.model]]
            if old:
                archive = Path(results_dir) / ARCHIVE_DIR / f"{protocol}.csv"
                archive.parent.mkdir(parents=True, exist_ok=True)
                earlier = read_rows(archive) if archive.exists() else []
                write_rows([*earlier, *old], archive)
                write_rows(keep, path)
            moved[protocol] = len(old)
    return moved
