"""Small pretraining runs for tests: the smoke recipe on short crops and tiny batches."""

from __future__ import annotations

from pathlib import Path

from cola_pretrain.config import load_config

SMALL = {
    "train.max_minutes": None,  # steps, not the smoke recipe's 3 minutes, end a test run (a loaded machine is slow)
    "frontend.segment_frames": 32,
    "train.batch_size": 8,
    "train.log_every": 2,
    "train.progress": False,
    "data.cache": False,
    # the objective alone on 32-frame windows: the smoke recipe's masks would hide most of such a window
    "augment.time_masks": 0,
    "augment.freq_masks": 0,
}


def small_config(data: Path, out: Path, **overrides):
    return load_config("smoke", {**SMALL, "data.folders": [str(data)], "train.out_dir": str(out), **overrides})
