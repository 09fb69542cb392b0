"""Writing tasks in the HEAR 2021 task format (suite/README.md); ``cola_suite.hear_check`` checks them.

A task folder ``<name>-v<version>-<mode>/`` holds ``task_metadata.json``,
``labelvocabulary.csv``, one ``<split>.json`` per split, audio at
``16000/<split>/<stem>.wav`` (mono PCM_16, exactly ``sample_duration`` long) and
``manifest.json`` (counts, durations, groups, sources, licences, checksums).

``TaskWriter`` builds a task in a staging folder next to the tasks folder
(``<tasks>.partial/``, which heareval never reads) and moves it into place only
when complete; ``task_metadata.json`` is written last.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from cola_common.task_format import METADATA_FILE
from cola_hear.atomic import atomic_replace_dir
from cola_suite.splits import SPLITS

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
METADATA_KEYS = (
    "task_name",
    "version",
    "embedding_type",
    "prediction_type",
    "split_mode",
    "splits",
    "sample_duration",
    "evaluation",
)


class TaskFormatError(ValueError):
    """A task folder does not satisfy the HEAR task format."""


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: its HEAR metadata plus the facts its datasheet row needs."""

    name: str
    embedding_type: str  # "scene" or "event"
    sample_duration: float  # seconds; every clip is padded/trimmed to it
    evaluation: tuple[str, ...]  # first is primary
    split_factor: str  # the nuisance factor the splits are drawn by
    description: str
    sources: tuple[str, ...]  # registered source packages (cola_suite.sources.SOURCES)
    tools: tuple[str, ...] = ()  # tools whose output is in the audio (espeak-ng, fluidsynth...)
    caveats: str = ""  # known limits of the task, printed in the datasheet
    prediction_type: str = "multiclass"
    version: str = "1.0.0"

    def folder(self, mode: str) -> str:
        return f"{self.name}-v{self.version}-{mode}"

    def metadata(self, mode: str) -> dict[str, Any]:
        return {
            "task_name": self.name,
            "version": f"{self.name}-v{self.version}-{mode}",
            "embedding_type": self.embedding_type,
            "prediction_type": self.prediction_type,
            "split_mode": "trainvaltest",
            "splits": list(SPLITS),
            "sample_duration": self.sample_duration,
            "evaluation": list(self.evaluation),
        }

    @property
    def num_samples(self) -> int:
        return round(self.sample_duration * SAMPLE_RATE)


def pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as int16 samples (clipped, rounded: deterministic, no dither)."""
    return np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)


def wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono PCM_16 WAV file in memory."""
    buf = io.BytesIO()
    sf.write(buf, pcm16(audio), sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys, fixed indentation): identical bytes for identical content."""
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def event(label: str, start_s: float, end_s: float) -> dict[str, Any]:
    """One event label of an event task (times in milliseconds, as heareval expects)."""
    return {"label": label, "start": round(start_s * 1000.0, 3), "end": round(end_s * 1000.0, 3)}


@dataclass
class _Entry:
    split: str
    labels: list
    group: str
    recordings: list[str]
    sha256: str


@dataclass
class TaskWriter:
    """Writes one task folder atomically. Use as a context manager; call ``commit`` at the end.

    >>> with TaskWriter(Path("data/suite"), spec, "full") as w:
    ...     w.add("clip1", "train", ["dog"], audio, group="kit1", recordings=["pkg:file.ogg"])
    ...     w.commit({"seed": 0})
    """

    tasks_dir: Path
    spec: TaskSpec
    mode: str
    label_order: Sequence[str] | None = None
    entries: dict[str, _Entry] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.tasks_dir = Path(self.tasks_dir)
        self.final = self.tasks_dir / self.spec.folder(self.mode)
        self.staging_root = self.tasks_dir.with_name(self.tasks_dir.name + ".partial")
        self.staging = self.staging_root / self.spec.folder(self.mode)

    def __enter__(self) -> TaskWriter:
        shutil.rmtree(self.staging, ignore_errors=True)
        for split in SPLITS:
            (self.staging / str(SAMPLE_RATE) / split).mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)  # after a commit the staging folder is gone anyway
        if self.staging_root.exists() and not any(self.staging_root.iterdir()):
            self.staging_root.rmdir()

    def add(
        self,
        stem: str,
        split: str,
        labels: list,
        audio: np.ndarray,
        group: str,
        recordings: Sequence[str],
    ) -> None:
        """Write one clip (padded or trimmed to the task's duration) and remember its labels."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}")
        name = f"{stem}.wav"
        if name in self.entries:
            raise ValueError(f"{self.spec.name}: duplicate clip {name}")
        n = self.spec.num_samples
        audio = np.asarray(audio, dtype=np.float32)
        fitted = np.zeros(n, dtype=np.float32)
        fitted[: min(n, len(audio))] = audio[:n]
        data = wav_bytes(fitted)
        (self.staging / str(SAMPLE_RATE) / split / name).write_bytes(data)
        self.entries[name] = _Entry(
            split, list(labels), group, sorted(set(recordings)), hashlib.sha256(data).hexdigest()
        )

    def clips_per_split(self) -> dict[str, int]:
        counts = Counter(e.split for e in self.entries.values())
        return {s: counts[s] for s in SPLITS}

    def skip(self, reason: str) -> None:
        """Count a planned clip that could not be made (reported in the manifest)."""
        self.skipped[reason] += 1

    def commit(self, extra: dict[str, Any]) -> Path:
        """Write labels, vocabulary, manifest and metadata, then move the folder into place."""
        if not self.entries:
            raise TaskFormatError(f"{self.spec.name}: no clips were made")
        per_split: dict[str, dict[str, list]] = {s: {} for s in SPLITS}
        for name, e in sorted(self.entries.items()):
            per_split[e.split][name] = e.labels
        for split in SPLITS:
            if not per_split[split]:
                raise TaskFormatError(f"{self.spec.name}: split {split} is empty")
            (self.staging / f"{split}.json").write_text(dumps(per_split[split]))
        vocab = self._vocabulary()
        rows = "".join(f"{i},{label}\n" for i, label in enumerate(vocab))
        (self.staging / "labelvocabulary.csv").write_text("idx,label\n" + rows)
        (self.staging / "manifest.json").write_text(dumps(self._manifest(vocab, extra)))
        (self.staging / METADATA_FILE).write_text(dumps(self.spec.metadata(self.mode)))
        self.tasks_dir.mkdir(parents=True, exist_ok=True)
        atomic_replace_dir(self.staging, self.final, old=self.staging_root / (self.final.name + ".old"))
        log.info("%s: wrote %d clips to %s", self.spec.name, len(self.entries), self.final)
        return self.final

    def _labels_of(self, e: _Entry) -> list[str]:
        return [x["label"] for x in e.labels] if self.spec.embedding_type == "event" else [str(x) for x in e.labels]

    def _vocabulary(self) -> list[str]:
        used = {label for e in self.entries.values() for label in self._labels_of(e)}
        if self.label_order is None:
            return sorted(used)
        unknown = used - set(self.label_order)
        if unknown:
            raise TaskFormatError(f"{self.spec.name}: labels outside the declared order: {sorted(unknown)}")
        return [label for label in self.label_order if label in used]

    def _manifest(self, vocab: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        counts = {s: Counter() for s in SPLITS}
        groups: dict[str, set[str]] = defaultdict(set)
        for e in self.entries.values():
            counts[e.split].update(self._labels_of(e))
            groups[e.split].add(e.group)
        clips = self.clips_per_split()
        digest = hashlib.sha256()
        for name, e in sorted(self.entries.items()):
            digest.update(f"{e.split}/{name} {e.sha256}\n".encode())
        return {
            "task_name": self.spec.name,
            "version": self.spec.version,
            "mode": self.mode,
            "folder": self.final.name,
            "description": self.spec.description,
            "caveats": self.spec.caveats,
            "split_factor": self.spec.split_factor,
            "embedding_type": self.spec.embedding_type,
            "prediction_type": self.spec.prediction_type,
            "sample_duration": self.spec.sample_duration,
            "evaluation": list(self.spec.evaluation),
            "labels": vocab,
            "clips": {s: clips[s] for s in SPLITS},
            "counts": {s: dict(sorted(counts[s].items())) for s in SPLITS},
            "groups": {s: len(groups[s]) for s in SPLITS},
            "duration_s": {s: round(clips[s] * self.spec.sample_duration, 3) for s in SPLITS},
            "skipped": dict(sorted(self.skipped.items())),
            "sha256": digest.hexdigest(),
            **extra,
            "files": [
                {
                    "file": name,
                    "split": e.split,
                    "group": e.group,
                    "recordings": e.recordings,
                    "sha256": e.sha256,
                }
                for name, e in sorted(self.entries.items())
            ],
        }


# ---------------------------------------------------------------------------------------------
# checking
