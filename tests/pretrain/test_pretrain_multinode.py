"""Two torchrun "nodes" on this machine (``--nnodes 2``, c10d rendezvous on 127.0.0.1, gloo) train the real
loop from tar shards with cross-process distractors and gradient accumulation, are killed, resume, and
end with identical weights.

Run as a script, this file is the worker that each node's ``torchrun`` starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

STEPS = 4


def _config(shards: str, out: str, steps: int):
    from cola_pretrain.config import load_config

    return load_config(
        "smoke",
        {
            "data.shards": [shards],
            "data.workers": 1,
            "data.shuffle_buffer": 8,
            "train.out_dir": out,
            "train.max_steps": steps,
            "train.max_minutes": None,
            "train.batch_size": 4,
            "train.global_batch_size": 16,  # 4 pairs x 2 processes x 2 micro-batches
            "train.gather_distractors": True,
            "train.checkpoint_every": 1,
            "train.log_every": 1,
            "train.progress": False,
            "train.device": "cpu",
            "optim.warmup_steps": 2,
            "frontend.segment_frames": 32,
            "encoder.name": "tinynet_e",
        },
    )


def _worker(shards: str, out: str, steps: int, resume: bool) -> None:
    from cola_pretrain.train import run_training

    result = run_training(_config(shards, out, steps), resume=resume)
    state = {k: v.contiguous() for k, v in result.module.state_dict().items()}
    torch.save(state, Path(out) / f"rank{os.environ['RANK']}.pt")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nodes(shards: Path, out: Path, steps: int, resume: bool) -> list[subprocess.Popen]:
    port = _free_port()
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
        "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", f"cola-test-{port}",
        "--max_restarts", "0",
        __file__, str(shards), str(out), str(steps), "resume" if resume else "fresh",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return [
        subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]


@pytest.mark.slow
def test_two_nodes_train_from_shards_survive_a_kill_and_end_with_identical_weights(tmp_path):
    from cola_pretrain.checkpoint import list_checkpoints
    from cola_pretrain.metrics_log import read_log
    from cola_pretrain.prepare import PrepareOptions, prepare
    from support.audio import write_tone_folder

    data = tmp_path / "data"
    write_tone_folder(data, n_classes=12, seconds=1.5)
    shards = tmp_path / "shards"
    prepare([data], shards, PrepareOptions(workers=0, shard_clips=3), progress=False)
    out = tmp_path / "out"
    # a long run, killed (SIGKILL, both nodes) once it has written its second checkpoint
    nodes = _nodes(shards, out, 1000, resume=False)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and all(n.poll() is None for n in nodes):
        if any(step >= 2 for step, _ in list_checkpoints(out / "checkpoints")):
            break
        time.sleep(0.2)
    for node in nodes:  # the agent and its workers (torchrun starts them in their own sessions)
        for pid in [node.pid, *_descendants(node.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    logs = [n.communicate()[0].decode(errors="replace") for n in nodes]
    assert any(step >= 2 for step, _ in list_checkpoints(out / "checkpoints")), logs[0][-3000:] + logs[1][-3000:]
    killed_at = list_checkpoints(out / "checkpoints")[-1][0]
    assert killed_at < STEPS + 2
    # resume on both nodes to STEPS + killed_at
    target = killed_at + 2
    nodes = _nodes(shards, out, target, resume=True)
    logs = [n.communicate(timeout=400)[0].decode(errors="replace") for n in nodes]
    assert all(n.returncode == 0 for n in nodes), logs[0][-3000:] + logs[1][-3000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    differing = [k for k in rank0 if not torch.equal(rank0[k], rank1[k])]
    assert not differing, f"ranks differ in {differing[:5]}"
    rows = read_log(out / "log.csv")
    assert [r["step"] for r in rows] == list(range(1, target + 1)), "the resumed log continues the killed one"
    assert rows[0]["lr"] == pytest.approx(5e-4) and rows[-1]["lr"] == pytest.approx(1e-3), "warm-up, then the lr"
    final = torch.load(list_checkpoints(out / "checkpoints")[-1][1], weights_only=True)
    assert final["step"] == target and final["world_size"] == 2 and final["global_batch"] == 16
    assert final["provenance"]["gather_distractors"] and final["provenance"]["accumulation"] == 2
    assert (out / "model.safetensors").is_file()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "resume")
