"""Tiny real-audio tasks in HEAR format for the evaluation tests.

Sounds are synthesised (tones, sweeps, noise bursts) and written as 16 kHz mono
PCM_16 WAV files, with the metadata, label vocabulary and split files heareval
reads (the format: suite/README.md). Everything is deterministic given the seed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
SCENE_CLASSES = ("low_tone", "high_tone", "noise")
EVENT_CLASSES = ("beep", "buzz")


def sound(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A short synthetic sound of one class, with random level and small variations."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    if kind == "low_tone":
        x = np.sin(2 * np.pi * rng.uniform(250, 350) * t)
    elif kind == "high_tone":
        x = np.sin(2 * np.pi * rng.uniform(2200, 2800) * t)
    elif kind == "noise":
        x = rng.standard_normal(n)
    elif kind == "sweep":
        f0, f1 = rng.uniform(400, 600), rng.uniform(3000, 4000)
        x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
    elif kind == "beep":
        x = np.sin(2 * np.pi * rng.uniform(900, 1100) * t)
    elif kind == "buzz":
        x = np.sign(np.sin(2 * np.pi * rng.uniform(110, 130) * t))
    else:
        raise ValueError(f"unknown sound kind {kind!r}")
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.01 * RATE))
    x = x * ramp / (np.abs(x).max() + 1e-9)
    return (x * rng.uniform(0.2, 0.6)).astype(np.float32)


def make_scene_task(
    root: str | Path,
    name: str = "tiny-scene",
    classes: tuple[str, ...] = SCENE_CLASSES,
    per_class: int = 4,
    split_mode: str = "trainvaltest",
    prediction_type: str = "multiclass",
    duration: float = 1.0,
    seed: int = 0,
    extra_metadata: dict | None = None,
) -> Path:
    """A scene task; ``per_class`` clips of each class in every split (train gets twice as many).

    ``split_mode="new_split_kfold"`` writes folds fold00..fold02. ``prediction_type="multilabel"``
    mixes one or two classes per clip.
    """
    rng = np.random.default_rng(seed)
    kfold = split_mode != "trainvaltest"
    splits = ["fold00", "fold01", "fold02"] if kfold else ["train", "valid", "test"]
    evaluation = ["top1_acc"] if prediction_type == "multiclass" else ["mAP", "aucroc"]
    task = _start_task(
        root, name, "scene", prediction_type, split_mode, splits, evaluation, duration, classes, extra_metadata
    )
    for split in splits:
        count = per_class * (2 if split == "train" else 1)
        labels = {}
        for i in range(count * len(classes)):
            present = [classes[i % len(classes)]]
            if prediction_type == "multilabel" and rng.random() < 0.5:
                present.append(classes[(i + 1 + rng.integers(len(classes) - 1)) % len(classes)])
            clip = 0.003 * rng.standard_normal(int(duration * RATE)).astype(np.float32)
            for kind in present:
                clip += sound(kind, duration, rng)
            filename = f"{split}-{i:03d}.wav"
            _write(task / str(RATE) / split / filename, clip)
            labels[filename] = sorted(set(present))
        (task / f"{split}.json").write_text(json.dumps(labels, indent=1))
    return task


def make_event_task(
    root: str | Path,
    name: str = "tiny-event",
    classes: tuple[str, ...] = EVENT_CLASSES,
    files: dict[str, int] | None = None,
    duration: float = 2.0,
    seed: int = 0,
    extra_metadata: dict | None = None,
) -> Path:
    """An event task: each clip holds one or two non-overlapping events (onsets/offsets in ms)."""
    rng = np.random.default_rng(seed)
    files = files or {"train": 8, "valid": 3, "test": 3}
    task = _start_task(
        root,
        name,
        "event",
        "multilabel",
        "trainvaltest",
        list(files),
        ["event_onset_200ms_fms"],
        duration,
        classes,
        extra_metadata,
    )
    for split, count in files.items():
        labels = {}
        for i in range(count):
            clip = 0.003 * rng.standard_normal(int(duration * RATE)).astype(np.float32)
            events = []
            starts = [rng.uniform(0.1, 0.4)] if rng.random() < 0.5 else [rng.uniform(0.1, 0.3), rng.uniform(1.1, 1.3)]
            for start in starts:
                length = rng.uniform(0.4, 0.6)
                kind = classes[rng.integers(len(classes))]
                a = int(start * RATE)
                piece = sound(kind, length, rng)
                clip[a : a + len(piece)] += piece
                end = start + length
                events.append({"label": kind, "start": round(1000 * start, 3), "end": round(1000 * end, 3)})
            filename = f"{split}-{i:03d}.wav"
            _write(task / str(RATE) / split / filename, clip)
            labels[filename] = events
        (task / f"{split}.json").write_text(json.dumps(labels, indent=1))
    return task


def _start_task(
    root: str | Path,
    name: str,
    embedding_type: str,
    prediction_type: str,
    split_mode: str,
    splits: list[str],
    evaluation: list[str],
    duration: float,
    classes: tuple[str, ...],
    extra_metadata: dict | None = None,
) -> Path:
    task = Path(root) / name
    task.mkdir(parents=True)
    metadata = {
        "task_name": name,
        "version": "test",
        "embedding_type": embedding_type,
        "prediction_type": prediction_type,
        "split_mode": split_mode,
        "splits": splits,
        "sample_duration": duration,
        "evaluation": evaluation,
        **(extra_metadata or {}),
    }
    (task / "task_metadata.json").write_text(json.dumps(metadata, indent=1))
    with (task / "labelvocabulary.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["idx", "label"])
        writer.writerows(enumerate(classes))
    return task


def _write(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio, -1, 1), RATE, subtype="PCM_16")
