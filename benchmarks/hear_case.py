"""One HEAR-throughput measurement in a fresh process, so its peak memory is its own.

``python -m benchmarks.hear_case '{"kind": "scene", "clips": 10, "seconds": 60, ...}'`` prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import torch

from cola_hear import get_scene_embeddings, get_timestamp_embeddings, load_model

REPEATS = 3  # timed calls per case; the fastest counts
WARMUP_SECONDS = 65.0  # longer than one encoder pass of the "shared" mode (hear.chunk_frames = 60 s)


def run(
    kind: str, clips: int, seconds: float, weights: str = "", mode: str = "shared", precision: str = "auto"
) -> dict:
    """Embed ``clips`` x ``seconds`` of noise and time it; returns the figures.

    A warm-up call on the first clip (at most ``WARMUP_SECONDS`` of it) comes first, so the timing
    leaves out the one-off set-up of kernels for these input shapes, as a long evaluation would;
    then ``REPEATS`` timed calls, of which the fastest counts.
    """
    model = load_model(weights).with_hear(timestamp_mode=mode, precision=precision)
    fn = get_scene_embeddings if kind == "scene" else get_timestamp_embeddings
    generator = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(clips, int(seconds * model.sample_rate), generator=generator)
    fn(audio[:1, : int(min(seconds, WARMUP_SECONDS) * model.sample_rate)], model)
    walls = []
    for _ in range(REPEATS):  # the fastest of a few calls: a shared host's hiccups only ever add time
        start = time.perf_counter()
        fn(audio, model)
        walls.append(time.perf_counter() - start)
    wall = min(walls)
    return {
        "kind": kind,
        # the path actually taken: a stage read-out has no shared-pass path (``ColaModel.shared_timestamps``)
        "mode": "shared" if kind == "timestamp" and model.shared_timestamps else "windows",
        "precision": "bf16" if model.use_bf16() else "fp32",
        "audio_s": clips * seconds,
        "wall_s": wall,
        "x_realtime": clips * seconds / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(json.dumps(run(**json.loads(sys.argv[1]))))
