"""Large-batch training: accumulation, LR rules, cross-process distractors, resuming on another world size.

Run as a script (``python THIS rank world init_file out``), this file is one process of the
cross-process distractor check, joined to the other with gloo.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cola_hear.config import ConfigError
from cola_pretrain.config import ObjectiveConfig, OptimConfig, load_config
from cola_pretrain.large_batch import accumulation_steps, lr_at, scaled_lr
from cola_pretrain.objectives import build_objective
from cola_pretrain.step import train_step
from support.audio import write_tone_folder
from support.pretrain_runs import small_config

TINY = {"encoder.name": "tinynet_e", "train.batch_size": 4}


def test_accumulation_lr_scaling_and_warmup_rules():
    assert accumulation_steps(None, 64, 8) == 1
    assert accumulation_steps(1024, 64, 8) == 2 and accumulation_steps(1024, 128, 8) == 1
    with pytest.raises(ConfigError, match="not a multiple"):
        accumulation_steps(1000, 64, 8)
    assert scaled_lr(OptimConfig(lr=1e-3), 1024) == 1e-3
    assert scaled_lr(OptimConfig(lr=1e-3, lr_scaling="linear", base_batch=64), 1024) == pytest.approx(16e-3)
    assert scaled_lr(OptimConfig(lr=1e-3, lr_scaling="sqrt", base_batch=64), 1024) == pytest.approx(4e-3)
    assert [lr_at(s, 1.0, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_at(0, 1.0, 0) == 1.0
    with pytest.raises(ConfigError, match="lr_scaling"):
        load_config("smoke", {"optim.lr_scaling": "cubic"})
    with pytest.raises(ConfigError, match="not both"):
        load_config("smoke", {"data.folders": ["a"], "data.shards": ["b"]})


def test_accumulated_micro_batches_give_the_gradient_of_the_processes_that_would_share_them(tmp_path):
    """Tolerance: 1e-5 relative (float32 sums in another order)."""
    from cola_pretrain.sampling import PairSampler
    from cola_pretrain.step import build_module

    data = tmp_path / "data"
    write_tone_folder(data, n_classes=6, seconds=1.5)
    config = small_config(data, tmp_path / "out", **TINY)
    from cola_pretrain.audio_cache import build_pool

    sampler = PairSampler.for_run(build_pool([data], 16000, None, progress=False), config)
    micro = [sampler(0), sampler(1)]
    torch.manual_seed(0)
    module = build_module(config)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    optimizer = torch.optim.SGD(module.parameters(), lr=0.0)
    train_step(module, optimizer, micro, torch.device("cpu"))
    together = {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    # what two processes would compute, one micro-batch each, and DDP would average
    separate = []
    for batch in micro:
        module.load_state_dict(state)
        train_step(module, optimizer, [batch], torch.device("cpu"))
        separate.append({n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None})
    assert together.keys() == separate[0].keys()
    for name, grad in together.items():
        expected = (separate[0][name] + separate[1][name]) / 2
        scale = expected.abs().max().clamp_min(1e-12)
        assert ((grad - expected).abs().max() / scale) < 1e-5, name


def _objective() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_objective(ObjectiveConfig(name="bilinear"), 32)


def _embeddings() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 32, generator=g), torch.randn(8, 32, generator=g)


def _gather_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    from cola_pretrain.large_batch import gather_positives

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    objective = _objective()
    anchors, positives = _embeddings()
    rows = slice(rank * 8 // world, (rank + 1) * 8 // world)
    a, p = anchors[rows].clone().requires_grad_(), positives[rows].clone().requires_grad_()
    gathered, offset = gather_positives(p)
    loss, accuracy = objective(a, gathered, offset)
    loss.backward()
    grads = {n: q.grad.clone() for n, q in objective.named_parameters()}
    for g in grads.values():  # what DDP does to parameter gradients
        dist.all_reduce(g)
        g /= world
    torch.save({"loss": loss.detach(), "accuracy": accuracy, "a": a.grad / world, "p": p.grad / world,
                "params": grads}, Path(out) / f"rank{rank}.pt")  # fmt: skip
    dist.destroy_process_group()


def test_gathered_distractors_give_the_loss_and_gradients_of_one_process_with_the_whole_batch(tmp_path):
    """Two gloo processes with 4 pairs each and train.gather_distractors: an 8-way task. The mean of their
    losses is the loss of one process holding all 8 pairs, and the gradients (DDP-averaged for the
    parameters) are its gradients. Tolerance 1e-6 absolute."""
    tests = str(Path(__file__).resolve().parents[1])  # the worker imports tests/support, as pytest's pythonpath does
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, (tests, os.environ.get("PYTHONPATH")))),
    }
    init = tmp_path / "init"
    procs = [
        subprocess.Popen([sys.executable, __file__, str(r), "2", str(init), str(tmp_path)], env=env) for r in range(2)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    objective = _objective()
    anchors, positives = _embeddings()
    a, p = anchors.clone().requires_grad_(), positives.clone().requires_grad_()
    loss, accuracy = objective(a, p)
    loss.backward()
    assert torch.allclose((ranks[0]["loss"] + ranks[1]["loss"]) / 2, loss, atol=1e-6)
    assert torch.allclose((ranks[0]["accuracy"] + ranks[1]["accuracy"]) / 2, accuracy)
    assert torch.allclose(torch.cat([r["a"] for r in ranks]), a.grad, atol=1e-6)
    assert torch.allclose(torch.cat([r["p"] for r in ranks]), p.grad, atol=1e-6)
    for name, q in objective.named_parameters():
        assert torch.allclose(ranks[0]["params"][name], q.grad, atol=1e-6), name


def test_resuming_on_another_world_size_needs_the_global_batch_and_then_keeps_it(tmp_path, caplog):
    from cola_pretrain.checkpoint import list_checkpoints
    from cola_pretrain.train import run_training

    data = tmp_path / "data"
    write_tone_folder(data, n_classes=6, seconds=1.5)
    out = tmp_path / "out"
    run_training(small_config(data, out, **TINY, **{"train.max_steps": 1}))
    # pretend two processes wrote the checkpoint (4 pairs each: a global batch of 8)
    (_step, path), *_ = list_checkpoints(out / "checkpoints")
    state = torch.load(path, weights_only=True)
    state["world_size"], state["global_batch"] = 2, 8
    torch.save(state, path)
    with pytest.raises(ConfigError, match="global_batch_size=8"):
        run_training(small_config(data, out, **TINY, **{"train.max_steps": 2}), resume=True)
    with pytest.raises(ConfigError, match="global_batch_size"):  # another global batch is another recipe
        run_training(small_config(data, out, **TINY, **{"train.max_steps": 2, "train.global_batch_size": 12}), True)
    result = run_training(small_config(data, out, **TINY, **{"train.max_steps": 2, "train.global_batch_size": 8}), True)
    assert result.steps == 2
    final = torch.load(result.checkpoint, weights_only=True)
    assert final["global_batch"] == 8 and final["provenance"]["accumulation"] == 2


def test_sync_batchnorm_converts_every_batchnorm_and_keeps_the_weights_names(tmp_path):
    from cola_pretrain.large_batch import use_sync_batchnorm
    from cola_pretrain.step import build_module

    config = load_config("smoke", {"encoder.name": "tinynet_e"})
    torch.manual_seed(0)
    module = build_module(config)
    keys = set(module.state_dict())
    converted = use_sync_batchnorm(module)
    kinds = {type(m).__name__ for m in converted.modules() if "BatchNorm" in type(m).__name__}
    assert kinds and all("Sync" in k for k in kinds), kinds
    assert set(converted.state_dict()) == keys, "checkpoints and export read the same names"


if __name__ == "__main__":
    _gather_worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
