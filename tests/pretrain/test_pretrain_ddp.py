"""Two CPU processes under ``torchrun`` (gloo) train together and end with identical weights.

Run as a script, this file is the worker that ``torchrun`` starts: it trains with
``run_training`` and saves its own rank's weights, so the test can compare the ranks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

WORKER_STEPS = 3


def _config(data: str, out: str):
    from cola_pretrain.config import load_config

    return load_config(
        "smoke",
        {
            "data.folders": [data],
            "data.cache_dir": str(Path(out) / "cache"),
            "train.out_dir": out,
            "train.max_steps": WORKER_STEPS,
            "train.batch_size": 4,
            "train.log_every": 1,
            "train.progress": False,
            "train.device": "cpu",
            "frontend.segment_frames": 32,
        },
    )


def _worker(data: str, out: str) -> None:
    from cola_pretrain.train import run_training

    result = run_training(_config(data, out))
    torch.save(_flat_state(result.module), Path(out) / f"rank{os.environ['RANK']}.pt")


def _flat_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in module.state_dict().items()}


def test_two_processes_under_torchrun_end_with_identical_weights(tmp_path):
    from cola_pretrain.metrics_log import read_log
    from support.audio import write_tone_folder

    data = tmp_path / "data"
    write_tone_folder(data, n_classes=6, seconds=1.5)
    out = tmp_path / "out"
    torchrun = Path(sys.executable).parent / "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", __file__, str(data), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    differing = [k for k in rank0 if not torch.equal(rank0[k], rank1[k])]
    assert not differing, f"ranks differ in {differing[:5]}"
    # the weights moved away from their (seeded) initial values
    from cola_pretrain.step import build_module

    torch.manual_seed(0)
    initial = _flat_state(build_module(_config(str(data), str(out))))
    assert initial.keys() == rank0.keys()
    assert not torch.equal(
        rank0["model.encoder.backbone.conv_stem.weight"], initial["model.encoder.backbone.conv_stem.weight"]
    )
    # rank 0 alone wrote the log and the exported weights
    rows = read_log(out / "log.csv")
    assert [r["step"] for r in rows] == list(range(1, WORKER_STEPS + 1))
    assert (out / "model.safetensors").is_file()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
