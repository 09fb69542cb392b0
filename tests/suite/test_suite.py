"""The offline downstream suite: the mini build is valid HEAR format, leak-free, reproducible and
consumed by the real heareval embeddings runner.

The mini suite is built once per session (``mini_suite`` in conftest.py).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cola_suite.build import build_suite
from cola_suite.datasheet import read_manifests, write_datasheet
from cola_suite.hear_check import check_task, check_tasks_dir
from cola_suite.hear_format import METADATA_KEYS, TaskSpec, TaskWriter
from cola_suite.sources import SourceCache
from cola_suite.splits import SPLITS
from cola_suite.tasks import TASKS
from cola_suite.tasks.base import BuildContext

ROOT = Path(__file__).resolve().parents[2]
TASK_NAMES = sorted(t.spec.name for t in TASKS)


def _manifests(tasks_dir: Path) -> dict[str, dict]:
    return {m["task_name"]: m for m in read_manifests(tasks_dir)}


def test_every_task_passes_the_schema_check(mini_suite: Path) -> None:
    results = check_tasks_dir(mini_suite)
    assert sorted(results) == sorted(f"{n}-v1.0.0-mini" for n in TASK_NAMES)
    assert {name: errors for name, errors in results.items() if errors} == {}


def test_metadata_vocabulary_and_audio_format(mini_suite: Path) -> None:
    for task in sorted(mini_suite.iterdir()):
        meta = json.loads((task / "task_metadata.json").read_text())
        assert set(METADATA_KEYS) <= set(meta)
        assert meta["split_mode"] == "trainvaltest" and meta["splits"] == list(SPLITS)
        vocab = list(csv.DictReader((task / "labelvocabulary.csv").open()))
        assert [int(r["idx"]) for r in vocab] == list(range(len(vocab)))
        labels = {r["label"] for r in vocab}
        for split in SPLITS:
            entries = json.loads((task / f"{split}.json").read_text())
            assert entries, f"{task.name}: {split} is empty"
            for name, value in entries.items():
                found = [e["label"] for e in value] if meta["embedding_type"] == "event" else value
                assert set(found) <= labels
                info = sf.info(str(task / "16000" / split / name))
                assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
                assert info.frames == round(meta["sample_duration"] * 16000)
    pitch = mini_suite / "pitch-v1.0.0-mini"
    vocab = [r["label"] for r in csv.DictReader((pitch / "labelvocabulary.csv").open())]
    assert all(int(label) % 12 == i % 12 for i, label in enumerate(vocab)), "chroma_acc needs idx % 12 == pitch % 12"
    events = json.loads((mini_suite / "drum_events-v1.0.0-mini" / "test.json").read_text())
    assert all(0 <= e["start"] < e["end"] <= 6000 for value in events.values() for e in value)


def test_no_audio_file_nor_nuisance_group_in_two_splits(mini_suite: Path) -> None:
    for name, m in _manifests(mini_suite).items():
        where: dict[tuple[str, str], set[str]] = defaultdict(set)
        for f in m["files"]:
            where[("file", f["file"])].add(f["split"])
            where[("audio", f["sha256"])].add(f["split"])
            where[("group", f["group"])].add(f["split"])
            for r in f["recordings"]:
                where[("recording", r)].add(f["split"])
        crossing = sorted(k for k, v in where.items() if len(v) > 1)
        assert crossing == [], f"{name}: {crossing[:5]}"
        assert all(m["groups"][s] > 0 for s in SPLITS)


@pytest.mark.slow
def test_held_out_recordings_never_train_the_same_task(cache: SourceCache) -> None:
    """Within each full task, what the pool must leave out (valid/test) is never in train, and the
    mini suite is a subset of the full plan with the same splits."""
    full = BuildContext(cache, seed=0)
    mini = BuildContext(cache, seed=0, mini=True)
    for task in TASKS:
        plan = task.plan(full)
        train = {r for c in plan if c.split == "train" for r in c.recordings}
        held = task.holdout(full)
        assert held and not (held & train), task.spec.name
        split_of = {c.stem: c.split for c in plan}
        assert all(split_of[c.stem] == c.split for c in task.select(plan, mini)), task.spec.name


@pytest.mark.slow
def test_heareval_embeddings_runner_consumes_the_mini_suite(
    mini_suite: Path, random_weights: Path, tmp_path: Path
) -> None:
    cmd = [sys.executable, "-m", "heareval.embeddings.runner", "cola_hear", "--model", str(random_weights)]
    cmd += ["--tasks-dir", str(mini_suite), "--embeddings-dir", str(tmp_path)]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    manifests = _manifests(mini_suite)
    for task in sorted(mini_suite.iterdir()):
        out = tmp_path / "cola_hear" / task.name
        assert (out / ".done.embeddings").exists(), task.name
        m = manifests[task.name.split("-v")[0]]
        for split in SPLITS:
            n, dim = json.loads((out / f"{split}.embedding-dimensions.json").read_text())
            assert dim == 1280
            if m["embedding_type"] == "scene":
                assert n == m["clips"][split]
            else:  # one embedding every 50 ms
                assert n >= m["clips"][split] * m["sample_duration"] * 1000 / 50
            emb = np.memmap(out / f"{split}.embeddings.npy", dtype=np.float32, mode="r", shape=(n, dim))
            assert np.isfinite(emb).all()


def test_a_rebuild_is_byte_identical(mini_suite: Path, cache: SourceCache, tmp_path: Path) -> None:
    names = ["keyword_spotting", "drum_events", "percussion"]
    build_suite(tmp_path, cache, seed=0, mini=True, names=names)
    for name in names:
        a, b = mini_suite / f"{name}-v1.0.0-mini", tmp_path / f"{name}-v1.0.0-mini"
        files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        for rel in files_a:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), f"{name}: {rel} differs"


def test_an_interrupted_build_leaves_no_task_folder(tmp_path: Path) -> None:
    spec = TaskSpec("broken", "scene", 1.0, ("top1_acc",), "none", "a task whose build fails", ())
    tasks = tmp_path / "tasks"
    with pytest.raises(RuntimeError, match="interrupted"), TaskWriter(tasks, spec, "mini") as writer:
        writer.add("a", "train", ["x"], np.zeros(16000, np.float32), "g1", ["pkg:a"])
        raise RuntimeError("interrupted")
    assert not tasks.exists() or not any(tasks.iterdir())
    assert not (tmp_path / "tasks.partial").exists()


def test_the_schema_check_finds_broken_tasks(mini_suite: Path, tmp_path: Path) -> None:
    task = shutil.copytree(mini_suite / "percussion-v1.0.0-mini", tmp_path / "percussion")
    labels = {s: json.loads((task / f"{s}.json").read_text()) for s in SPLITS}
    copied, moved = sorted(labels["test"])[:2]
    shutil.copy(task / "16000" / "test" / copied, task / "16000" / "train" / copied)  # now in two splits
    labels["train"][copied] = labels["test"][copied]
    shutil.move(task / "16000" / "test" / moved, task / "16000" / "valid" / moved)  # now disagrees with the manifest
    labels["valid"][moved] = labels["test"].pop(moved)
    for split, value in labels.items():
        (task / f"{split}.json").write_text(json.dumps(value))
    victim = task / "16000" / "valid" / sorted(labels["valid"])[0]
    sf.write(victim, np.zeros(8000, np.float32), 22050, subtype="FLOAT")
    errors = "\n".join(check_task(task))
    assert f"{copied} is in both train and test" in errors
    assert "22050 Hz" in errors and "frames, expected 16000" in errors
    assert "manifest.json files/splits differ" in errors
    (task / "task_metadata.json").unlink()
    assert "incomplete task folder" in check_task(task)[0]


def test_datasheet_has_one_row_per_task(mini_suite: Path, tmp_path: Path) -> None:
    md, csv_path = write_datasheet(mini_suite, tmp_path / "datasheet.md", "cola-suite datasheet")
    rows = list(csv.DictReader(csv_path.open()))
    assert sorted(r["task"] for r in rows) == TASK_NAMES
    text = md.read_text()
    assert "non-commercial" in text and all(f"### {n}" in text for n in TASK_NAMES)
