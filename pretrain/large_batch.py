"""Large-batch training: a global batch independent of the world size, LR warm-up and scaling, distractors
gathered across processes, SyncBatchNorm.

- ``train.global_batch_size`` = ``batch_size`` x processes x accumulation: each optimizer step
  (``cola_pretrain.step.train_step``) accumulates the gradients of ``accumulation`` micro-batches per
  process (DDP averages over the
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

import math

import torch
import torch.distributed as dist
from torch import nn

from cola_hear.config import ConfigError
from cola_pretrain.config import OptimConfig


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
