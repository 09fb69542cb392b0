"""One training step: both views through the front end and encoder in one fused batch, then the objective."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from cola_hear import ColaModel, precision
from cola_hear.precision import autocast
from cola_pretrain.augment import apply_masks, apply_spectral, apply_zoom
from cola_pretrain.config import OptimConfig, PretrainConfig
from cola_pretrain.objectives import build_objective
from cola_pretrain.sampling import PairBatch

log = logging.getLogger(__name__)


class PretrainModule(nn.Module):
    """The ``cola_hear`` model plus the objective's heads; ``forward`` returns ``(loss, accuracy)``."""

    def __init__(self, model: ColaModel, objective: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        # set by train.gather_distractors: positives -> (every process's positives, offset of this one's)
        self.gather: Callable[[torch.Tensor], tuple[torch.Tensor, int]] | None = None

    def forward(
        self,
        anchors: torch.Tensor,
        positives: torch.Tensor,
        masks: torch.Tensor | None = None,
        spectral: torch.Tensor | None = None,
        zoom: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, accuracy)`` of a batch; the log-mel augmentations apply in the order EQ, zoom, masks."""
        b = anchors.shape[0]
        logmel = self.model.frontend(torch.cat([anchors, positives]))  # (2B, frames, mels), float32
        if spectral is not None:
            logmel = apply_spectral(logmel, spectral, self.model.frontend.pad_value)
        if zoom is not None:
            logmel = apply_zoom(logmel, zoom)
        if masks is not None:
            logmel = apply_masks(logmel, masks)
        embeddings = self.model.embed_windows(logmel)
        if self.gather is not None:
            positives_all, offset = self.gather(embeddings[b:])
            return self.objective(embeddings[:b], positives_all, offset)
        return self.objective(embeddings[:b], embeddings[b:])


def build_module(config: PretrainConfig) -> PretrainModule:
    """A freshly initialised model and objective for ``config`` (seed torch first for a fixed init)."""
    model = ColaModel(config.model_config())
    return PretrainModule(model, build_objective(config.objective, model.config.embedding_size))


def compile_module(module: nn.Module) -> nn.Module:
    """``torch.compile`` of ``module`` (same parameters; save and load through the original module)."""
    log.info("compiling the training module with torch.compile (the first steps are slow)")
    return torch.compile(module)


def make_optimizer(module: nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def use_bf16(amp: str, device: torch.device) -> bool:
    """Whether to autocast to bfloat16 (``cola_hear.precision``): ``auto`` on CUDA only, ``bf16`` wherever supported."""
    return precision.use_bf16(amp, device, "train.amp", auto_on_cpu=False)


def train_step(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Sequence[PairBatch],
    device: torch.device,
    bf16: bool = False,
    lr: float | None = None,
    seeds: Sequence[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step over ``batches`` (micro-batches; one for a plain step): forward and backward of each,
    then the update. Returns the detached means of their ``(loss, accuracy)``; the gradient is that of the mean
    loss. Under DDP, gradients are synchronised at the last micro-batch only. ``lr``: set before the update
    (warm-up); ``seeds``: the torch seed of each micro-batch (dropout, random negatives).
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


def step_seed(seed: int, rank: int, step: int) -> int:
    """The torch seed of one step (dropout, random triplet negatives): a function of (seed, rank, step)."""
    return int(np.random.SeedSequence([seed, rank, step, 0x7A]).generate_state(1, dtype=np.uint64)[0] >> 1)


def to_channels_last(module: nn.Module) -> nn.Module:
    """Channels-last memory format for the convolutions (faster on CPU and GPU)."""
    return module.to(memory_format=torch.channels_last)
