"""A HEAR module for tests: the project's log-mel statistics baseline, counting the audio it is given.

``CALLS`` records every embedding call as ``(kind, n_sounds, n_samples)``; ``FAIL_AT_CALL``
makes the call with that 1-based number raise (a module failing mid-run). Tests reset both.
``$COUNTING_HEAR_DELAY`` (seconds) makes every call that much slower, so that a test can kill a
real ``cola-embed`` process midway.
"""

from __future__ import annotations

import os
import time

import torch

from cola_eval.models.baselines import logmel_stats

__version__ = "1.0"
CALLS: list[tuple[str, int, int]] = []
FAIL_AT_CALL: int | None = None
FAIL_WITH: type[BaseException] = RuntimeError  # KeyboardInterrupt: as if Ctrl-C came during that call


def reset() -> None:
    global FAIL_AT_CALL, FAIL_WITH
    CALLS.clear()
    FAIL_AT_CALL = None
    FAIL_WITH = RuntimeError


def _record(kind: str, audio: torch.Tensor) -> None:
    CALLS.append((kind, int(audio.shape[0]), int(audio.shape[1])))
    time.sleep(float(os.environ.get("COUNTING_HEAR_DELAY", "0")))
    if FAIL_AT_CALL is not None and len(CALLS) == FAIL_AT_CALL:
        raise FAIL_WITH(f"counting_hear: failing at call {FAIL_AT_CALL} as the test asked")


def sounds(kind: str) -> int:
    """How many sounds were embedded by calls of ``kind`` ("scene" or "timestamp")."""
    return sum(n for k, n, _ in CALLS if k == kind)


def load_model(model_file_path: str = "") -> torch.nn.Module:
    return logmel_stats.load_model(model_file_path)


def get_scene_embeddings(audio: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    _record("scene", audio)
    return logmel_stats.get_scene_embeddings(audio, model)


def get_timestamp_embeddings(audio: torch.Tensor, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    _record("timestamp", audio)
    return logmel_stats.get_timestamp_embeddings(audio, model)
