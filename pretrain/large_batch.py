"""Large-batch training: a global batch independent of the world size, LR warm-up and scaling, distractors
gathered across processes, SyncBatchNorm.

- ``train.global_batch_size`` = ``batch_size`` x processes x accumulation: each optimizer step
  accumulates the gradients of ``accumulation`` micro-batches per process (DDP averages over the
  processes once, at the last one). The micro-batch is the contrastive task (``batch_size`` pairs, or
  ``batch_size`` x processes with ``gather_distractors``) and BatchNorm sees one micro-batch at a time,
  so 2 processes x 1 micro-batch and 1 process x 2 micro-batches give the same gradient.
- Scaling rule (``optim.lr_scaling``): the learning rate is ``optim.lr`` x (global batch /
  ``optim.base_batch``) ("linear") or its square root ("sqrt", the usual rule for Adam), reached by a
  linear warm-up over ``optim.warmup_steps`` optimizer steps.
- ``train.gather_distractors``: every process's positives are gathered (``all_gather`` whose backward
  sums the gradients of all processes), so 8 processes x 128 pairs is a 1,024-way task, and the
  mean of the processes' losses is the loss of one process holding the whole batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn

from cola_hear.config import ConfigError
from cola_hear.precision import autocast
from cola_pretrain.config import OptimConfig
from cola_pretrain.sampling import PairBatch


def accumulation_steps(global_batch: int | None, batch_size: int, world_size: int) -> int:
    """Micro-batches per optimizer step and process for ``global_batch`` pairs (None: 1)."""
    if global_batch is None:
        return 1
    per_step = batch_size * world_size
    if global_batch % per_step:
        raise ConfigError(
            f"train.global_batch_size={global_batch} is not a multiple of train.batch_size x processes = "
            f"{batch_size} x {world_size} = {per_step}"
        )
    return global_batch // per_step


def scaled_lr(optim: OptimConfig, global_batch: int) -> float:
    """The peak learning rate of ``optim.lr_scaling`` for ``global_batch`` pairs per optimizer step."""
    ratio = global_batch / optim.base_batch
    if optim.lr_scaling == "linear":
        return optim.lr * ratio
    if optim.lr_scaling == "sqrt":
        return optim.lr * math.sqrt(ratio)
    return optim.lr


def lr_at(step: int, peak: float, warmup_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based): linear warm-up to ``peak``, then constant."""
    if warmup_steps and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    return peak


class _GatherWithGrad(torch.autograd.Function):
    """``all_gather`` along dim 0 whose backward sums the gradient of every process (all_reduce, any backend)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        world, rank = dist.get_world_size(), dist.get_rank()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rows, ctx.rank = tensor.shape[0], rank
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_positives(positives: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Every process's positives (same batch size everywhere) and the row of this process's first one."""
    return _GatherWithGrad.apply(positives), dist.get_rank() * positives.shape[0]


def use_sync_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm (timm's BatchNormAct2d included) synchronised across processes."""
    from timm.layers import convert_sync_batchnorm

    return convert_sync_batchnorm(module)


def accumulated_step(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Sequence[PairBatch],
    device: torch.device,
    bf16: bool = False,
    lr: float | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step over ``batches`` (micro-batches): the mean of their losses; ``(loss, accuracy)`` means.

    Under DDP, gradients are synchronised at the last micro-batch only. ``seeds``: the torch seed of
    each micro-batch (dropout, random negatives).
    """
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    losses, accuracies = [], []
    for i, batch in enumerate(batches):
        if seeds is not None:
            torch.manual_seed(seeds[i])
        anchors = batch.anchors.to(device, non_blocking=True)
        positives = batch.positives.to(device, non_blocking=True)
        views = {k: v.to(device, non_blocking=True) for k, v in batch.views().items()}
        last = i == len(batches) - 1
        sync = module.no_sync() if (not last and hasattr(module, "no_sync")) else contextlib.nullcontext()
        with sync:
            with autocast(device, bf16):
                loss, accuracy = module(anchors, positives, **views)
            (loss / len(batches) if len(batches) > 1 else loss).backward()
        losses.append(loss.detach())
        accuracies.append(accuracy.detach())
    optimizer.step()
    return torch.stack(losses).mean(), torch.stack(accuracies).mean()
