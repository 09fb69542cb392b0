"""Checking task folders against the HEAR 2021 task format and this project's stricter rules.

``check_task`` is the schema check used by the tests and by ``cola-suite check``: the metadata
(``cola_common.task_format``), the label vocabulary, every split's labels, the audio (mono PCM_16
at 16 kHz, exactly ``sample_duration`` long) and the manifest's counts and checksums.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import soundfile as sf

from cola_common.task_format import METADATA_FILE, metadata_problems, read_metadata
from cola_suite.hear_format import METADATA_KEYS, SAMPLE_RATE, TaskFormatError
from cola_suite.splits import SPLITS


def check_task(path: str | os.PathLike, check_audio: bool = True) -> list[str]:
    """Problems of one task folder (an empty list when it is valid).

    Checks the metadata keys and values, the label vocabulary, the split files and their labels,
    every audio file (16 kHz, mono, PCM_16, exactly ``sample_duration``), that no file name or audio
    content appears in two splits and, with a manifest, that no nuisance group or source recording
    does either.
    """
    task = Path(path)
    meta = read_metadata(task)
    if isinstance(meta, str):
        return [meta]
    problems = metadata_problems(meta, METADATA_KEYS)
    if problems and problems[0].startswith("missing keys"):
        return [f"{task / METADATA_FILE}: {problems[0]}"]
    errors = problems
    if meta["split_mode"] != "trainvaltest" or list(meta["splits"]) != list(SPLITS):
        errors.append(f"split_mode/splits {meta['split_mode']}/{meta['splits']} are not trainvaltest/{list(SPLITS)}")
    duration = meta["sample_duration"]
    if not isinstance(duration, int | float) or duration <= 0:
        return [*errors, f"sample_duration {duration!r} is not a positive number"]
    vocab = _read_vocabulary(task / "labelvocabulary.csv", errors)
    event_task = meta["embedding_type"] == "event"
    seen_names: dict[str, str] = {}
    used: set[str] = set()
    for split in meta["splits"]:
        split_path = task / f"{split}.json"
        if not split_path.is_file():
            errors.append(f"no {split}.json")
            continue
        labels = json.loads(split_path.read_text())
        if not labels:
            errors.append(f"{split}.json is empty")
        audio_dir = task / str(SAMPLE_RATE) / split
        on_disk = {p.name for p in audio_dir.glob("*")} if audio_dir.is_dir() else set()
        if on_disk != set(labels):
            errors.append(
                f"{split}: {len(set(labels) - on_disk)} labelled files missing, {len(on_disk - set(labels))} unlabelled"
            )
        for name, value in sorted(labels.items()):
            if name in seen_names:
                errors.append(f"{name} is in both {seen_names[name]} and {split}")
            seen_names[name] = split
            errors.extend(_check_labels(name, value, vocab, meta, event_task, duration, used))
            if check_audio and name in on_disk:
                errors.extend(_check_wav(audio_dir / name, duration))
    unused = set(vocab) - used
    if unused:
        errors.append(f"labelvocabulary.csv has labels no clip carries: {sorted(unused)[:5]}")
    manifest = task / "manifest.json"
    if manifest.is_file():
        errors.extend(_check_manifest(json.loads(manifest.read_text()), seen_names))
    return [f"{task.name}: {e}" for e in errors]


def check_tasks_dir(path: str | os.PathLike, check_audio: bool = True) -> dict[str, list[str]]:
    """``check_task`` for every entry of a tasks folder (which must hold task folders only)."""
    root = Path(path)
    if not root.is_dir():
        raise TaskFormatError(f"{root}: not a folder")
    entries = sorted(root.iterdir())
    if not entries:
        raise TaskFormatError(f"{root}: no task folders")
    return {
        p.name: (check_task(p, check_audio) if p.is_dir() else [f"{p.name}: not a task folder (heareval reads it)"])
        for p in entries
    }


def validate_task(path: str | os.PathLike) -> None:
    """Raise ``TaskFormatError`` listing every problem of a task folder."""
    errors = check_task(path)
    if errors:
        raise TaskFormatError("\n".join(errors[:50]))


def _read_vocabulary(path: Path, errors: list[str]) -> list[str]:
    if not path.is_file():
        errors.append("no labelvocabulary.csv")
        return []
    rows = list(csv.DictReader(path.open()))
    if not rows or set(rows[0]) != {"idx", "label"}:
        errors.append("labelvocabulary.csv must have the columns idx,label")
        return []
    if [int(r["idx"]) for r in rows] != list(range(len(rows))):
        errors.append("labelvocabulary.csv idx is not 0..n-1 in order")
    labels = [r["label"] for r in rows]
    if len(set(labels)) != len(labels):
        errors.append("labelvocabulary.csv repeats a label")
    return labels


def _check_labels(name, value, vocab, meta, event_task, duration, used) -> list[str]:
    errors: list[str] = []
    if not isinstance(value, list):
        return [f"{name}: labels are not a list"]
    if event_task:
        for ev in value:
            if not isinstance(ev, dict) or set(ev) != {"label", "start", "end"}:
                errors.append(f"{name}: event {ev} is not {{label, start, end}}")
                continue
            if not 0 <= ev["start"] < ev["end"] <= duration * 1000.0 + 1e-6:
                errors.append(f"{name}: event {ev} is outside 0..{duration * 1000:.0f} ms or empty")
            labels = [ev["label"]]
            used.update(labels)
            if labels[0] not in vocab:
                errors.append(f"{name}: label {labels[0]!r} not in the vocabulary")
        return errors
    if meta["prediction_type"] == "multiclass" and len(value) != 1:
        errors.append(f"{name}: multiclass clip with {len(value)} labels")
    for label in value:
        used.add(str(label))
        if str(label) not in vocab:
            errors.append(f"{name}: label {label!r} not in the vocabulary")
    return errors


def _check_wav(path: Path, duration: float) -> list[str]:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as exc:
        return [f"{path.name}: unreadable ({exc})"]
    errors = []
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.subtype != "PCM_16" or info.format != "WAV":
        errors.append(f"{path.name}: {info.format}/{info.subtype} {info.samplerate} Hz x{info.channels}")
    if info.frames != round(duration * SAMPLE_RATE):
        errors.append(f"{path.name}: {info.frames} frames, expected {round(duration * SAMPLE_RATE)}")
    return errors


def _check_manifest(manifest: dict[str, Any], split_of: dict[str, str]) -> list[str]:
    errors = []
    files = manifest.get("files", [])
    if {f["file"]: f["split"] for f in files} != split_of:
        errors.append("manifest.json files/splits differ from the split files")
    for what in ("group", "recordings", "sha256"):
        where: dict[str, set[str]] = defaultdict(set)
        for f in files:
            for value in f[what] if what == "recordings" else [f[what]]:
                where[value].add(f["split"])
        crossing = sorted(v for v, s in where.items() if len(s) > 1)
        if crossing:
            errors.append(f"{len(crossing)} {what} value(s) appear in two splits, e.g. {crossing[:3]}")
    return errors
