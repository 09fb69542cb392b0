"""Shared fixtures: small real weights files written by the project's own code, and the mini suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from cola_hear import ColaModel, save_weights
from cola_suite.build import build_suite
from cola_suite.sources import CACHE_ENV, SourceCache
from cola_suite.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
SUITE_CACHE = Path(os.environ.get(CACHE_ENV) or ROOT / "data" / "cache")


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory):
    """A float32 weights file of a randomly initialised default model."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_weights(ColaModel(), path)
    return path


@pytest.fixture(scope="session")
def cache() -> SourceCache:
    """The suite's source cache (``$COLA_SUITE_CACHE`` or ``data/cache``; filled on the first run only)."""
    return SourceCache(SUITE_CACHE)


@pytest.fixture(scope="session")
def mini_suite(tmp_path_factory: pytest.TempPathFactory, cache: SourceCache) -> Path:
    """The mini suite built from the real packages, once per session."""
    out = tmp_path_factory.mktemp("suite") / "tasks"
    reports = build_suite(out, cache, seed=0, mini=True)
    assert sorted(r.task for r in reports) == sorted(t.spec.name for t in TASKS)
    return out


@pytest.fixture()
def counting_reset():
    """The counts of the test module ``support.counting_hear``, zero before and after a test."""
    from support import counting_hear

    counting_hear.reset()
    yield
    counting_hear.reset()
