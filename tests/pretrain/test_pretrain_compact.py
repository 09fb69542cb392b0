"""The compact pool (``cola-pretrain compact``) on real files: selection by source, crops, the size budget,
byte-identical output for a seed, rerun and resume, refusal without --force, and the training folder
loader reading the Ogg Opus files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cola_pretrain.audio_cache import build_pool
from cola_pretrain.cli import main as cli_main
from cola_pretrain.compact import MANIFEST, PROGRESS, CompactError, CompactOptions, crop_length, make_compact_pool
from cola_pretrain.opus import encode_opus
from support.audio import write_tone_folder
from support.broken_audio import write_broken_audio

OPTIONS = CompactOptions(size_mb=0.12, max_seconds=6.0, min_seconds=1.0, workers=1)


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    """Three sources: short tone clips (several rates and formats), long noisy recordings, broken files."""
    root = tmp_path_factory.mktemp("pool")
    write_tone_folder(root / "tones", n_classes=6, seconds=3.0, noise=0.05)
    rng = np.random.default_rng(0)
    (root / "long").mkdir()
    for i in range(3):
        t = np.arange(16000 * 40) / 16000
        audio = 0.2 * np.sin(2 * np.pi * (200 + 100 * i) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(root / "long" / f"rec{i}.wav", audio.astype(np.float32), 16000)
    write_broken_audio(root / "broken")
    (root / MANIFEST).write_text(json.dumps({"name": "tiny", "sha256": "abc", "domain": "disjoint"}))
    return root


@pytest.fixture(scope="module")
def compact(pool, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("compact") / "c"
    return out, make_compact_pool(pool, out, OPTIONS, progress=False)


def test_every_source_is_represented_by_its_hours_within_the_budget(compact):
    out, manifest = compact
    files = manifest["files"]
    sizes = sum((out / f["file"]).stat().st_size for f in files)
    assert sizes == sum(f["bytes"] for f in files) <= OPTIONS.size_mb * 1e6
    assert manifest["total_mb"] == pytest.approx(sizes / 1e6, abs=1e-3)
    hours = manifest["by_source"]
    assert {"tones", "long", "broken"} <= set(hours)  # the broken source's good files count too
    assert hours["long"]["hours"] > hours["tones"]["hours"]  # 120 s of recordings against 18 s of clips
    for f in files:
        assert 0 <= f["offset_s"] <= f["original_seconds"] - f["seconds"] + 1e-3
        assert f["file"].endswith(".opus") and f["original"].startswith(f["source"] + "/")
    # three recordings cannot fill their share at 6 s: the crop length rises to the level that does
    crops = [f["seconds"] for f in files if f["source"] == "long"]
    assert len(crops) == 3 and OPTIONS.max_seconds < min(crops) and max(crops) < 40.0
    assert max(crops) - min(crops) < 0.01
    assert manifest["settings"]["kbps"] == 16 and manifest["settings"]["codec"].startswith("Ogg Opus")
    assert manifest["from_pool"]["sha256"] == "abc" and manifest["domain"] == "disjoint"
    assert manifest["num_files"] == len(files) and manifest["total_hours"] > 0


def test_unreadable_and_silent_files_are_skipped_with_a_reason(compact):
    _, manifest = compact
    skipped = {s["original"]: s["reason"] for s in manifest["skipped"]}
    chosen = {f["original"] for f in manifest["files"]}
    assert not {"broken/empty.wav", "broken/text_with_wav_extension.wav", "broken/nan.wav"} & chosen
    assert all(reason for reason in skipped.values())
    if "broken/silence.wav" in skipped:
        assert "silent" in skipped["broken/silence.wav"]
    assert "broken/empty.wav" in skipped  # its header fails: recorded, never planned


def test_same_seed_gives_the_same_bytes_and_another_seed_another_selection(pool, compact, tmp_path):
    out, manifest = compact
    again = make_compact_pool(pool, tmp_path / "again", OPTIONS, progress=False)
    assert again["sha256"] == manifest["sha256"] and again["files"] == manifest["files"]
    for f in manifest["files"]:
        assert (tmp_path / "again" / f["file"]).read_bytes() == (out / f["file"]).read_bytes()
    other = make_compact_pool(pool, tmp_path / "other", CompactOptions(**{**vars(OPTIONS), "seed": 1}), progress=False)
    assert other["sha256"] != manifest["sha256"]


def test_a_rerun_is_up_to_date_and_other_settings_need_force(pool, tmp_path):
    out = tmp_path / "c"
    first = make_compact_pool(pool, out, OPTIONS, progress=False)
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*.opus")}
    assert make_compact_pool(pool, out, OPTIONS, progress=False) == first
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.opus")} == stamp  # nothing re-encoded
    other = CompactOptions(**{**vars(OPTIONS), "kbps": 12.0})
    with pytest.raises(CompactError, match="--force"):
        make_compact_pool(pool, out, other, progress=False)
    assert json.loads((out / MANIFEST).read_text()) == first  # the finished pool is untouched
    replaced = make_compact_pool(pool, out, other, force=True, progress=False)
    assert replaced["settings"]["kbps"] == 12.0 and replaced["total_mb"] < first["total_mb"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.opus")) == sorted(
        f["file"] for f in replaced["files"]
    )


def test_an_interrupted_run_resumes_and_ends_with_the_same_pool(pool, compact, tmp_path):
    reference_dir, reference = compact
    out = tmp_path / "c"
    staging = tmp_path / "c.partial"
    shutil.copytree(reference_dir, staging)
    (staging / MANIFEST).unlink()
    half = reference["files"][: len(reference["files"]) // 2]
    header = {"plan_sha256": reference["plan_sha256"], "settings": reference["settings"]}
    lines = [json.dumps(header), *(json.dumps({"kind": "file", **f}) for f in half), '{"kind": "fi']  # a torn line
    (staging / PROGRESS).write_text("\n".join(lines) + "\n")
    (staging / half[0]["file"]).unlink()  # journaled but gone: encoded again
    kept = staging / half[1]["file"]
    stamp = kept.stat().st_mtime_ns
    manifest = make_compact_pool(pool, out, OPTIONS, progress=False)
    assert manifest["sha256"] == reference["sha256"] and manifest["files"] == reference["files"]
    assert (out / half[1]["file"]).stat().st_mtime_ns == stamp  # reused, not re-encoded
    assert not staging.exists() and not (out / PROGRESS).exists()


def test_the_training_folder_loader_reads_the_opus_files(compact):
    out, manifest = compact
    pool = build_pool([out], 16000, progress=False)
    assert not pool.skipped and len(pool.names) == manifest["num_files"]
    seconds = {n.split("/", 1)[1]: length / 16000 for n, length in zip(pool.names, pool.lengths, strict=True)}
    for f in manifest["files"]:
        assert seconds[f["file"]] == pytest.approx(f["seconds"], abs=1e-3)
    assert pool.summary()["pools"][0]["sha256"] == manifest["sha256"]  # the run's provenance names it


def test_opus_encoding_is_byte_reproducible_and_decodes_to_the_same_length():
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(24000) / 16000)).astype(np.float32)
    a, b = encode_opus(tone, 16000, 16.0, serial=7), encode_opus(tone, 16000, 16.0, serial=7)
    assert a == b and encode_opus(tone, 16000, 16.0, serial=8) != a


def test_crop_length_rises_only_when_the_files_are_too_few():
    assert crop_length([100.0, 100.0, 1.0], share=50.0, max_seconds=30.0) == 30.0
    assert crop_length([100.0, 100.0, 1.0], share=81.0, max_seconds=30.0) == pytest.approx(40.0)
    assert crop_length([10.0, 20.0], share=100.0, max_seconds=5.0) == 20.0  # all of it, still short


def test_the_command_line(pool, tmp_path, capsys):
    args = ["compact", "--data", str(pool), "--out", str(tmp_path / "c"), "--size-mb", "0.05", "--no-progress"]
    assert cli_main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["num_files"] > 0 and printed["total_mb"] <= 0.05
    assert cli_main([*args[:-1], "--seed", "3", "--no-progress"]) == 1  # a different pool there: refused
    assert "--force" in capsys.readouterr().err
    assert cli_main(["compact", "--data", str(pool), "--out", str(tmp_path / "d"), "--bitrate", "3"]) == 2  # usage
    assert cli_main(["compact", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "d")]) == 1
