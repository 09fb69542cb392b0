"""The worker of the GPU check's torchrun run: the real training loop, then this rank's weights digest.

``torchrun --standalone --nproc_per_node N -m benchmarks.ddp_check DATA OUT STEPS BATCH DEVICE`` trains
``STEPS`` steps with ``cola_pretrain.train.run_training`` (NCCL on GPUs, gloo on the CPU) and writes
``OUT/rank<R>.json``: the SHA-256 of the rank's state dict, so the ranks can be compared.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch


def state_digest(module: torch.nn.Module) -> str:
    """SHA-256 over the state dict's names and float32 bytes, in key order."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(data: str, out: str, steps: str, batch: str, device: str) -> None:
    from cola_pretrain.config import load_config
    from cola_pretrain.train import run_training

    config = load_config(
        "default",
        {
            "data.folders": [data],
            "data.cache_dir": str(Path(out) / "cache"),
            "train.out_dir": out,
            "train.max_steps": int(steps),
            "train.batch_size": int(batch),
            "train.log_every": 1,
            "train.progress": False,
            "train.device": device,
        },
    )
    result = run_training(config)
    rank = os.environ.get("RANK", "0")
    record = {"rank": int(rank), "world_size": int(os.environ.get("WORLD_SIZE", "1")),
              "digest": state_digest(result.module)}  # fmt: skip
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(*sys.argv[1:6])
