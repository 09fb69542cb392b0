"""How far the encoder has moved from its starting weights, per stage: a cheap early signal that a recipe learns.

``drift_<group>`` is ``||W - W0|| / ||W0||`` over the convolution and linear weights of
a group of layers: ``stem`` (the first convolution), ``s0`` ... ``s6`` (EfficientNet's
stages) and ``head`` (the last 1x1 convolution). A run that barely moves from its
initialisation (a few percent) has not learned much, whatever its loss says.
"""

from __future__ import annotations

import os
import re

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cola_hear.atomic import atomic_write

REFERENCE_FILE = "init_encoder.safetensors"


def layer_group(name: str) -> str | None:
    """The drift group of an encoder parameter name (None for parameters outside every group)."""
    match = re.match(r"backbone\.blocks\.(\d+)\.", name)
    if match:
        return f"s{match.group(1)}"
    if name.startswith(("backbone.conv_stem.", "stem.")):
        return "stem"
    if name.startswith("backbone.conv_head."):
        return "head"
    return None


def drift_columns(encoder: nn.Module) -> list[str]:
    """The log columns of ``encoder``'s groups, in network order."""
    groups = []
    for name, p in encoder.named_parameters():
        group = layer_group(name)
        if group is not None and p.dim() > 1 and group not in groups:
            groups.append(group)
    return [f"drift_{g}" for g in groups]


class DriftMeter:
    """Measures the relative distance of an encoder's weights from a reference copy."""

    def __init__(self, reference: dict[str, torch.Tensor]) -> None:
        self.reference = {k: v.detach().float().cpu() for k, v in reference.items()}

    @classmethod
    def of(cls, encoder: nn.Module) -> DriftMeter:
        """A meter whose reference is ``encoder``'s weights now."""
        return cls({n: p for n, p in encoder.named_parameters() if layer_group(n) is not None and p.dim() > 1})

    @classmethod
    def load(cls, path: str | os.PathLike) -> DriftMeter:
        return cls(load_file(str(path)))

    def save(self, path: str | os.PathLike) -> None:
        tensors = {k: v.contiguous() for k, v in self.reference.items()}
        atomic_write(path, lambda tmp: save_file(tensors, tmp))

    @torch.no_grad()
    def __call__(self, encoder: nn.Module) -> dict[str, float]:
        """``{"drift_<group>": relative distance}`` for every group of the reference."""
        moved: dict[str, float] = {}
        size: dict[str, float] = {}
        for name, p in encoder.named_parameters():
            ref = self.reference.get(name)
            if ref is None:
                continue
            group = f"drift_{layer_group(name)}"
            moved[group] = moved.get(group, 0.0) + float((p.detach().float().cpu() - ref).pow(2).sum())
            size[group] = size.get(group, 0.0) + float(ref.pow(2).sum())
        return {g: (moved[g] / size[g]) ** 0.5 if size[g] > 0 else 0.0 for g in moved}
