"""The prepared GPU run (``scripts/device_pretrain.sh``) through its CPU fallback, on a compact pool of real
files: what comes back in OUT (at most 8 files, none over 16 MiB, weights that ``cola_hear.load_model``
reads), continuing from returned weights, and the time-budget stop that ``--resume`` continues."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cola_hear import load_model
from cola_pretrain.checkpoint import list_checkpoints
from cola_pretrain.compact import CompactOptions, make_compact_pool
from cola_pretrain.metrics_log import read_log
from cola_pretrain.train import run_training
from support.audio import write_tone_folder
from support.pretrain_runs import small_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "device_pretrain.sh"


@pytest.fixture(scope="module")
def compact(tmp_path_factory) -> Path:
    pool = tmp_path_factory.mktemp("pool")
    write_tone_folder(pool / "a", n_classes=4, seconds=3.0, noise=0.05)
    write_tone_folder(pool / "b", n_classes=4, seconds=2.0, noise=0.05, seed=1)
    out = tmp_path_factory.mktemp("compact") / "c"
    make_compact_pool(pool, out, CompactOptions(size_mb=0.5, workers=1), progress=False)
    return out


def _device_run(out: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OUT"} | {"OMP_NUM_THREADS": "1"}
    command = [str(SCRIPT), str(out), "--work", str(work), "--cpu-smoke", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def _script_module():
    spec = importlib.util.spec_from_file_location("device_pretrain", ROOT / "scripts" / "device_pretrain.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def returned(compact, tmp_path_factory) -> Path:
    out, work = tmp_path_factory.mktemp("out"), tmp_path_factory.mktemp("work")
    result = _device_run(out, work, "--data", str(compact))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_the_cpu_fallback_brings_back_log_summary_and_float16_weights(returned, compact):
    files = sorted(p.name for p in returned.iterdir())
    weights = ["final-step000004-pairs32.safetensors", "step000001-pairs8.safetensors",
               "step000002-pairs16.safetensors", "step000003-pairs24.safetensors"]  # fmt: skip
    assert files == sorted(["log.csv", "summary.json", *weights])
    assert len(files) <= 8 and all((returned / f).stat().st_size <= 16 * 2**20 for f in files)
    for name in weights:
        step = int(name.split("step")[1][:6])
        model = load_model(str(returned / name))
        assert model.config.provenance["steps"] == step and model.config.provenance["pairs_seen"] == 8 * step
        dtypes = {t.dtype for t in load_file(returned / name).values()}
        assert dtypes - {torch.int64} == {torch.float16}  # BatchNorm's counters stay int64
    summary = json.loads((returned / "summary.json").read_text())
    assert summary["error"] is None and summary["environment"]["run"] == "CPU fallback"
    assert summary["run"]["stopped_by"] == "max_steps" and summary["run"]["steps"] == 4
    assert summary["data"]["sha256"] == json.loads((compact / "manifest.json").read_text())["sha256"]
    assert [w["file"] for w in summary["weights"]] == [*weights[1:], weights[0]]
    assert {"setup_s", "audio_cache_s", "train_s", "export_s", "total_s"} <= set(summary["timings"])
    assert [row["step"] for row in read_log(returned / "log.csv")] == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_later_run_continues_from_returned_weights(returned, compact, tmp_path):
    start = returned / "final-step000004-pairs32.safetensors"
    result = _device_run(tmp_path / "out", tmp_path / "work", "--data", str(compact), "--init", str(start),
                         "--set", "train.max_steps=2")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["config"]["train"]["init_weights"] == str(start)
    final = load_model(str(tmp_path / "out" / "final-step000002-pairs16.safetensors"))
    assert final.config.provenance["init_weights"]["steps"] == 4


def test_without_an_output_folder_it_says_how_to_call_it():
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    result = subprocess.run([str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2 and "usage: scripts/device_pretrain.sh OUT_DIR" in result.stderr


def test_checkpoints_nearest_to_the_pair_milestones_are_picked():
    pick = _script_module().pick_checkpoints
    steps = list(range(100, 4001, 100))  # batch 512: 51,200 pairs per 100 steps
    assert pick(steps, 512, (250_000, 500_000, 1_000_000, 1_500_000, 2_000_000)) == [500, 1000, 2000, 2900, 3900]
    assert pick([100, 200, 300], 512, (250_000, 500_000)) == []  # not reached (the last step is exported anyway)
    assert pick([1, 2, 3, 4], 8, (8, 16, 24, 1000)) == [1, 2, 3]
    assert pick([5], 8, (8,)) == []


def test_the_time_budget_stop_writes_a_checkpoint_that_resume_continues(compact, tmp_path):
    config = small_config(compact, tmp_path, **{"train.max_steps": 100_000, "train.max_minutes": 0.02})
    stopped = run_training(config)
    assert stopped.stopped_by == "max_minutes" and stopped.steps >= 1
    assert list_checkpoints(tmp_path / "checkpoints")[-1][0] == stopped.steps and stopped.weights.is_file()
    later = config.replace({"train.max_steps": stopped.steps + 2, "train.max_minutes": None})
    resumed = run_training(later, resume=True)
    assert (resumed.start_step, resumed.steps, resumed.stopped_by) == (stopped.steps, stopped.steps + 2, "max_steps")
    assert [row["step"] for row in read_log(tmp_path / "log.csv")][-1] == stopped.steps + 2
