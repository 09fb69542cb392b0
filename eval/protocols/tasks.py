"""Downstream tasks in HEAR 2021 format: reading, validating and splitting them.

A task folder holds ``task_metadata.json``, ``labelvocabulary.csv``, one
``<split>.json`` of labels per split and audio at ``<sample_rate>/<split>/*.wav``
(the format in full: suite/README.md). A tasks folder holds task folders.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cola_common.task_format import METADATA_FILE, metadata_problems, read_metadata


class TaskError(ValueError):
    """A task folder is missing a file or holds inconsistent metadata."""


@dataclass(frozen=True)
class Split:
    """Which splits train, select (valid) and score (test) one model."""

    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]

    @property
    def name(self) -> str:
        """The test split(s), the name a result row carries in its ``fold`` column."""
        return "|".join(self.test)


@dataclass(frozen=True)
class Task:
    """One HEAR task folder and the metadata the evaluation reads."""

    path: Path
    name: str
    embedding_type: str
    prediction_type: str
    split_mode: str
    splits: tuple[str, ...]
    evaluation: tuple[str, ...]
    labels: tuple[str, ...]
    sample_duration: float | None
    metadata: dict[str, Any]

    @property
    def primary_metric(self) -> str:
        return self.evaluation[0]

    @property
    def is_kfold(self) -> bool:
        return self.split_mode != "trainvaltest"

    def label_index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def split_labels(self, split: str) -> dict[str, Any]:
        """``{filename: labels}`` of one split, in file order (scene: label list; event: event dicts)."""
        path = self.path / f"{split}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TaskError(f"{self.name}: cannot read split file {path}: {exc}") from exc
        if not isinstance(data, dict) or not data:
            raise TaskError(f"{self.name}: split file {path} must be a non-empty JSON object {{file: labels}}")
        return data

    def audio_dir(self, split: str, sample_rate: int) -> Path:
        """Folder of one split's audio at ``sample_rate`` (error if the task has no audio at that rate)."""
        folder = self.path / str(sample_rate) / split
        if not folder.is_dir():
            rates = sorted(p.name for p in self.path.iterdir() if p.is_dir() and p.name.isdigit())
            raise TaskError(f"{self.name}: no audio folder {folder} (the task has audio at rates {rates})")
        return folder

    def data_splits(self) -> list[Split]:
        """The train/valid/test assignments heareval uses.

        ``trainvaltest``: one split. k-fold modes: every fold is the test set once, the
        next fold (sorted, cyclically) is the validation set, the rest is training data.
        """
        if not self.is_kfold:
            return [Split(("train",), ("valid",), ("test",))]
        folds = sorted(self.splits)
        out = []
        for i, test in enumerate(folds):
            valid = folds[(i + 1) % len(folds)]
            out.append(Split(tuple(f for f in folds if f not in (test, valid)), (valid,), (test,)))
        return out

    def checksum(self) -> str:
        """SHA-256 over the metadata, label files and the audio file names and sizes.

        It changes when labels, splits or audio files change, so cached embeddings of
        an edited task are never reused.
        """
        h = hashlib.sha256()
        for name in [METADATA_FILE, "labelvocabulary.csv", *(f"{s}.json" for s in self.splits)]:
            h.update(name.encode())
            h.update((self.path / name).read_bytes())
        for audio in sorted(self.path.glob("*/*/*")):
            if audio.is_file():
                h.update(f"{audio.relative_to(self.path)}:{audio.stat().st_size}".encode())
        return h.hexdigest()


def load_task(path: str | Path) -> Task:
    """Read and validate a HEAR task folder."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    meta = read_metadata(path)
    if isinstance(meta, str):
        raise TaskError(meta)
    problems = metadata_problems(meta)
    if problems:
        raise TaskError(f"{meta_path}: {'; '.join(problems)}")
    splits = tuple(meta.get("splits") or ())
    if meta["split_mode"] == "trainvaltest":
        if set(splits or ("train", "valid", "test")) != {"train", "valid", "test"}:
            raise TaskError(f"{meta_path}: split_mode trainvaltest needs splits train, valid, test; got {list(splits)}")
        splits = ("train", "valid", "test")
    elif len(splits) < 3:
        raise TaskError(f"{meta_path}: k-fold tasks need at least 3 folds in 'splits', got {list(splits)}")
    evaluation = tuple(meta["evaluation"])
    for split in splits:
        if not (path / f"{split}.json").is_file():
            raise TaskError(f"{path}: split {split!r} has no {split}.json")
    return Task(
        path=path,
        name=path.name,
        embedding_type=meta["embedding_type"],
        prediction_type=meta["prediction_type"],
        split_mode=meta["split_mode"],
        splits=splits,
        evaluation=evaluation,
        labels=_read_vocabulary(path / "labelvocabulary.csv"),
        sample_duration=meta.get("sample_duration"),
        metadata=meta,
    )


def find_tasks(tasks_dir: str | Path, names: list[str] | None = None) -> list[Task]:
    """All task folders in ``tasks_dir`` (sorted by name), or only those named in ``names``."""
    return [load_task(p) for p in task_folders(tasks_dir, names)]


def task_folders(tasks_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """The task folders (with a metadata file) in ``tasks_dir``, sorted by name, or those named in ``names``."""
    tasks_dir = Path(tasks_dir)
    if not tasks_dir.is_dir():
        raise TaskError(f"tasks folder not found: {tasks_dir}")
    folders = sorted(p for p in tasks_dir.iterdir() if (p / METADATA_FILE).is_file())
    if names:
        by_name = {p.name: p for p in folders}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise TaskError(f"no task folder named {unknown} in {tasks_dir} (found {sorted(by_name)})")
        folders = [by_name[n] for n in names]
    if not folders:
        raise TaskError(f"{tasks_dir} holds no task folder (a folder with task_metadata.json)")
    return folders


def _read_vocabulary(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise TaskError(f"{path.parent}: no labelvocabulary.csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"idx", "label"} <= set(rows[0]):
        raise TaskError(f"{path}: expected a CSV with columns idx,label and at least one row")
    by_idx = {int(r["idx"]): str(r["label"]) for r in rows}
    if sorted(by_idx) != list(range(len(rows))):
        raise TaskError(f"{path}: idx must run 0..{len(rows) - 1} without gaps or repeats")
    return tuple(by_idx[i] for i in range(len(rows)))
