"""End-to-end pretraining on small real audio folders: learning, export, resume, bad files, CLI.

The model is the real EfficientNet-B0; runs stay fast with short crops (32 frames), tiny
batches and a few dozen steps.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cola_hear import get_scene_embeddings, get_timestamp_embeddings, load_model, load_weights
from cola_hear.config import ConfigError
from cola_hear.weights import read_config
from cola_pretrain.checkpoint import list_checkpoints, load_checkpoint
from cola_pretrain.cli import main as cli_main
from cola_pretrain.config import load_config
from cola_pretrain.metrics_log import read_log
from cola_pretrain.train import run_training
from support.audio import write_tone_folder
from support.broken_audio import write_broken_audio
from support.pretrain_runs import small_config


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tones")
    write_tone_folder(folder, n_classes=8, seconds=2.0)
    return folder


@pytest.fixture(scope="module")
def trained(tones, tmp_path_factory):
    """A 40-step run of the default (bilinear) objective on 8 distinct tone mixtures, batch 8 (chance: 1/8)."""
    out = tmp_path_factory.mktemp("run")
    config = small_config(tones, out, **{"train.max_steps": 40, "train.log_every": 10, "train.checkpoint_every": 20})
    return run_training(config)


def test_contrastive_accuracy_rises_well_above_chance(trained):
    history = trained.history
    assert trained.steps == 40 and trained.stopped_by == "max_steps"
    first, last = history[0], history[-1]
    chance = 1 / 8
    assert last["accuracy"] >= 3 * chance, history
    assert last["accuracy"] >= first["accuracy"] + 0.15 and last["loss"] < first["loss"] / 2, history
    rows = read_log(trained.out_dir / "log.csv")
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    assert rows[-1]["accuracy"] == pytest.approx(last["accuracy"], rel=1e-5)
    assert all(r["pairs_per_s"] > 0 and r["lr"] == 1e-3 for r in rows)


def test_exported_weights_load_with_hear_api_and_carry_provenance(trained):
    model = load_model(str(trained.weights))
    assert model.config.frontend.segment_frames == 32
    audio = 0.1 * torch.randn(2, 16000)
    scene = get_scene_embeddings(audio, model)
    emb, ts = get_timestamp_embeddings(audio, model)
    assert scene.shape == (2, model.scene_embedding_size) == (2, 1280)
    assert emb.shape[0] == 2 and emb.shape[2] == model.timestamp_embedding_size
    assert ts.shape == emb.shape[:2]
    # encoder + front end only: the projection head and bilinear matrix are dropped (the trainable model's
    # tensors: load_model folds BatchNorm into the convolutions for inference)
    names = set(load_file(str(trained.weights)))
    trainable = load_weights(trained.weights)
    assert names == set(trainable.state_dict()) and not any(n.startswith(("objective.", "model.")) for n in names)
    trained_state = trained.module.model.state_dict()
    assert all(torch.equal(t, trained_state[k].contiguous()) for k, t in load_file(str(trained.weights)).items())
    provenance = read_config(trained.weights).provenance
    assert provenance["steps"] == 40 and provenance["seed"] == 0 and provenance["objective"] == "bilinear"
    assert provenance["data"]["decoded_files"] == 8 and len(provenance["data"]["manifest_sha256"]) == 64
    assert provenance["final_accuracy"] == pytest.approx(trained.final_accuracy)
    assert provenance["config"]["frontend"]["segment_frames"] == 32


def test_cli_export_writes_fp16_weights(trained, tmp_path):
    checkpoint = list_checkpoints(trained.out_dir / "checkpoints")[-1][1]
    target = tmp_path / "half.safetensors"
    assert cli_main(["export", str(checkpoint), str(target), "--fp16"]) == 0
    half, full = load_file(str(target)), load_file(str(trained.weights))
    assert half.keys() == full.keys()
    assert all(torch.equal(half[k], full[k].half() if full[k].is_floating_point() else full[k]) for k in full)
    scene = get_scene_embeddings(0.1 * torch.randn(1, 16000), load_model(str(target)))
    assert scene.shape == (1, 1280) and torch.isfinite(scene).all()


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tones, tmp_path):
    overrides = {"train.checkpoint_every": 2, "train.log_every": 2}
    straight = run_training(small_config(tones, tmp_path / "straight", **{**overrides, "train.max_steps": 6}))

    out = tmp_path / "resumed"
    first = run_training(small_config(tones, out, **{**overrides, "train.max_steps": 5}))
    assert first.steps == 5
    # Simulate a crash after step 5: its checkpoint is lost (a damaged file in its place),
    # while log.csv already holds the row of step 5.
    (out / "checkpoints" / "step-00000005.pt").write_bytes(b"truncated")
    assert [r["step"] for r in read_log(out / "log.csv")] == [2, 4, 5]
    resumed = run_training(small_config(tones, out, **{**overrides, "train.max_steps": 6}), resume=True)
    assert resumed.start_step == 4 and resumed.steps == 6

    a, b = load_file(str(straight.weights)), load_file(str(resumed.weights))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    sa = load_checkpoint(straight.checkpoint)
    sb = load_checkpoint(resumed.checkpoint)
    assert all(torch.equal(sa["objective"][k], sb["objective"][k]) for k in sa["objective"])
    rows_a, rows_b = read_log(straight.out_dir / "log.csv"), read_log(out / "log.csv")
    assert [r["step"] for r in rows_b] == [2, 4, 6]  # the row of the lost step 5 is gone, none is duplicated
    assert [(r["loss"], r["accuracy"]) for r in rows_a] == [(r["loss"], r["accuracy"]) for r in rows_b]
    # the drift from the starting weights continues across the resume (its reference is saved with the run)
    drift = [c for c in rows_a[0] if c.startswith("drift_")]
    assert drift == ["drift_stem", *(f"drift_s{i}" for i in range(7)), "drift_head"]
    assert [[r[c] for c in drift] for r in rows_a] == [[r[c] for c in drift] for r in rows_b]


def test_drift_measures_the_distance_from_the_starting_encoder(trained):
    from cola_pretrain.drift import REFERENCE_FILE, DriftMeter

    rows = read_log(trained.out_dir / "log.csv")
    assert all(rows[0][c] > 0 for c in rows[0] if c.startswith("drift_"))
    assert rows[-1]["drift_s0"] > rows[0]["drift_s0"]  # moves further as training goes on
    meter = DriftMeter.load(trained.out_dir / REFERENCE_FILE)
    encoder = trained.module.model.encoder
    assert meter(encoder)["drift_s0"] == pytest.approx(rows[-1]["drift_s0"], rel=1e-5)
    assert set(DriftMeter.of(encoder)(encoder).values()) == {0.0}


def test_resume_refuses_a_changed_recipe_and_a_fresh_run_refuses_an_used_folder(tones, tmp_path):
    run_training(small_config(tones, tmp_path, **{"train.max_steps": 1}))
    with pytest.raises(ConfigError, match="--resume"):
        run_training(small_config(tones, tmp_path, **{"train.max_steps": 2}))
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        run_training(small_config(tones, tmp_path, **{"train.max_steps": 2, "optim.lr": 1e-4}), resume=True)


def test_bad_files_are_skipped_reported_and_the_run_finishes(tmp_path, caplog):
    """(Also runs the triplet objective end to end.)"""
    data = tmp_path / "data"
    write_tone_folder(data / "good", n_classes=4, seconds=1.5)
    broken = write_broken_audio(data / "broken")  # the project's folder of broken and awkward files
    caplog.set_level(logging.WARNING)
    config = small_config(
        data,
        tmp_path / "out",
        **{
            "train.max_steps": 2,
            "train.batch_size": 4,
            "data.cache_dir": str(tmp_path / "cache"),
            "objective.name": "triplet",
        },
    )
    result = run_training(config)
    assert result.steps == 2 and result.weights.is_file()
    skipped = {s.name.rsplit("/", 1)[-1]: s.reason for s in result.skipped}
    unusable = {p.name for p in broken["bad"]} | {"silence.wav"}  # training also drops all-zero audio
    assert set(skipped) == unusable
    assert "empty" in skipped["zero_frames.wav"] and "NaN" in skipped["nan.wav"] and "silent" in skipped["silence.wav"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    decoded = 4 + len(broken["good"]) - 1
    assert summary["data"]["skipped_files"] == len(unusable) and summary["data"]["decoded_files"] == decoded
    total = decoded + len(unusable)
    assert any(f"skipped {len(unusable)} of {total} files" in r.getMessage() for r in caplog.records)
    manifest = json.loads((tmp_path / "out" / "data_manifest.json").read_text())
    assert {s["name"].rsplit("/", 1)[-1] for s in manifest["skipped"]} == set(skipped)


def test_cli_trains_with_flags_and_overrides(tones, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(
        [
            "--config",
            "smoke",
            "--data",
            str(tones),
            "--out",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
            "--no-cache",
            "--no-progress",
            "--set",
            "frontend.segment_frames=32",
            "--set",
            "objective.name=cosine",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and Path(summary["weights"]).is_file()
    saved = load_config(out / "config.toml")
    assert saved.objective.name == "cosine" and saved.train.batch_size == 4 and saved.data.cache is False
    assert cli_main(["--config", "smoke", "--data", str(tones), "--out", str(out), "--set", "train.nope=1"]) == 2


def test_time_budget_stops_the_run_and_still_exports(tones, tmp_path):
    config = small_config(tones, tmp_path, **{"train.max_steps": 100000, "train.max_minutes": 0.05})
    result = run_training(config)
    assert result.stopped_by == "max_minutes" and 0 < result.steps < 100000
    assert result.weights.is_file() and load_checkpoint(result.checkpoint)["step"] == result.steps


def test_sigterm_stops_after_the_current_step_with_a_checkpoint(tones, tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "cola_pretrain", "--config", "smoke", "--data", str(tones), "--out", str(out),
        "--max-steps", "100000", "--batch-size", "2", "--no-cache", "--no-progress",
        "--set", "frontend.segment_frames=32", "--set", "train.log_every=1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ((out / "log.csv").is_file() and read_log(out / "log.csv")):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]  # stopped early: not 0 (issue 28)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_by"] == "signal" and summary["steps"] >= 1
    assert "SIGTERM received" in stderr
    assert load_checkpoint(summary["checkpoint"])["step"] == summary["steps"]
    assert load_model(summary["weights"]).scene_embedding_size == 1280


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_loses_nothing(tones, tmp_path):
    """Kill -9 a run three times at random moments (mid-step or mid-checkpoint), resume each time, then finish."""
    out = tmp_path / "run"
    total = 12
    base = [
        sys.executable, "-m", "cola_pretrain", "--config", "smoke", "--data", str(tones), "--out", str(out),
        "--max-steps", str(total), "--batch-size", "2", "--no-cache", "--no-progress",
        "--set", "frontend.segment_frames=32", "--set", "train.log_every=1", "--set", "train.checkpoint_every=2",
    ]  # fmt: skip
    rng = random.Random(7)
    kills = 0
    for attempt in range(3):
        rows_before = len(read_log(out / "log.csv")) if (out / "log.csv").is_file() else 0
        wanted = rows_before + rng.randint(1, 3)
        command = [*base, "--resume"] if attempt else base
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 300
            while process.poll() is None and not (
                (out / "log.csv").is_file() and len(read_log(out / "log.csv")) >= wanted
            ):
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.5))  # land anywhere in the next step or checkpoint write
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=60)
        finally:
            process.kill()
    assert kills >= 2
    final = subprocess.run([*base, "--resume"], capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    steps = [int(row["step"]) for row in read_log(out / "log.csv")]
    assert steps == list(range(1, total + 1)), steps  # continuous: no gap, no duplicate
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == total
    assert load_checkpoint(summary["checkpoint"])["step"] == total
    assert load_model(summary["weights"]).scene_embedding_size == 1280


def test_ship_script_publishes_a_runs_log_up_to_the_chosen_step(trained, tmp_path):
    import importlib.util

    script = Path(__file__).parents[2] / "scripts" / "ship_default_weights.py"
    spec = importlib.util.spec_from_file_location("ship", script)
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    assert ship.main([str(trained.out_dir), "--step", "20", "--log-only", "--results", str(tmp_path)]) == 0
    rows = read_log(tmp_path / "pretrain" / "bilinear.csv")
    assert [r["step"] for r in rows] == [10, 20]


def test_init_weights_starts_from_a_weights_file_and_records_it(trained, tones, tmp_path):
    """train.init_weights: the model starts as the file's (head fresh); provenance names the file; a file of
    another architecture is refused."""
    config = small_config(
        tones,
        tmp_path / "cont",
        **{
            "train.max_steps": 1,
            "train.init_weights": str(trained.weights),
            "optim.lr": 1e-12,
        },
    )
    result = run_training(config)
    source, continued = load_file(str(trained.weights)), load_file(str(result.weights))
    assert set(source) == set(continued)
    learned = [k for k in source if source[k].is_floating_point() and "running" not in k]  # BN statistics move
    assert learned and all(torch.allclose(source[k], continued[k], atol=1e-6) for k in learned)
    init = read_config(result.weights).provenance["init_weights"]
    assert init["path"] == str(trained.weights) and init["steps"] == 40 and len(init["sha256"]) == 64

    other = small_config(
        tones,
        tmp_path / "bad",
        **{
            "train.max_steps": 1,
            "train.init_weights": str(trained.weights),
            "encoder.pooling": "avg",
        },
    )
    with pytest.raises(ConfigError, match="encoder config"):
        run_training(other)


def test_bad_values_name_where_they_came_from_and_a_degenerate_batch_is_refused_or_warned(tones, tmp_path, capsys):
    """Issue 28: every error said "smoke.toml:" even for a --set value; batch size 1 trained to loss 0 and
    accuracy 1; a pool with fewer clips than the batch trained without a word."""
    base = ["--config", "smoke", "--data", str(tones), "--out", str(tmp_path / "r"), "--no-cache", "--no-progress"]
    # cli_main logs through its own handler on stderr
    assert cli_main([*base, "--set", "optim.lr=-1"]) == 2
    message = capsys.readouterr().err
    assert "ERROR --set / command-line flags: optim.lr must be positive" in message and "smoke.toml" not in message
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[optim]\nlr = -1.0\n")
    assert cli_main([*base[:1], str(bad_file), *base[2:]]) == 2
    assert f"ERROR {bad_file}: optim.lr must be positive" in capsys.readouterr().err
    assert cli_main([*base, "--batch-size", "1"]) == 2
    assert "train.batch_size must be at least 2" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()

    run_training(small_config(tones, tmp_path / "few", **{"train.max_steps": 1, "train.batch_size": 12}))
    assert "the pool has 8 clips, fewer than the batch of 12 pairs" in capsys.readouterr().err
