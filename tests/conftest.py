"""Shared fixtures: small real weights files written by the project's own code."""

from __future__ import annotations

import pytest
import torch

from cola_hear import ColaModel, save_weights


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory):
    """A float32 weights file of a randomly initialised default model."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_weights(ColaModel(), path)
    return path
