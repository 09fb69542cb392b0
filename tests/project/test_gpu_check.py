"""The GPU check script: argument handling, and its CPU fallback end to end (the same code the GPU runs)."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks.table import cpu_bf16

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "OUT"}
    env = {**base, **(env or {})}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=900, env=env)


def test_without_an_output_folder_it_says_how_to_call_it():
    result = _run()
    assert result.returncode == 2 and "usage: scripts/gpu_check.sh OUT_DIR" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is missing")
def test_cuda_requested_without_cuda_is_refused(tmp_path):
    result = _run(str(tmp_path / "out"), "--device", "cuda")
    assert result.returncode == 2 and "CUDA is not available" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_option_is_refused(tmp_path):
    result = _run(str(tmp_path), "--devic", "cpu")  # no prefix matching
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


@pytest.mark.slow
def test_cpu_fallback_writes_every_row_into_out(tmp_path):
    out = tmp_path / "out"
    result = _run("--device", "cpu", env={"OUT": str(out), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    with (out / "gpu_check.csv").open(newline="") as f:
        rows = {(r["section"], r["item"]): r for r in csv.DictReader(f)}
    assert rows[("machine", "check")]["value"] == "CPU fallback"
    assert float(rows[("gpu step", "train step fp32, batch 4")]["value"]) > 0
    bf16 = rows[("gpu step", "train step bf16 autocast + channels_last, batch 4")]["value"]
    if cpu_bf16():
        assert float(bf16) > 0
    else:  # a CPU without bf16 kernels says so instead of failing
        assert bf16 == "not measured (no CPU bf16)"
    assert rows[("gpu step", "train step bf16 autocast + channels_last + torch.compile, batch 4")]["value"].startswith(
        "not measured"
    )
    assert rows[("gpu torchrun", "ranks end with identical weights")]["value"] == "yes"
    assert "gloo" in rows[("gpu torchrun", "ranks end with identical weights")]["notes"]
    hear = {item: r for (section, item), r in rows.items() if section == "gpu hear"}
    assert len(hear) == 3 and all(float(r["value"]) > 0 for r in hear.values())
    assert (out / "gpu_check.md").read_text().startswith("# GPU check")
