"""One HEAR-throughput measurement in a fresh process, so its peak memory is its own.

``python -m benchmarks.hear_case '{"kind": "scene", "clips": 10, "seconds": 60, ...}'`` prints one JSON line.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from collections.abc import Callable

import torch
import torchaudio

from cola_hear import FrontEndConfig, get_scene_embeddings, get_timestamp_embeddings, load_model, load_weights
from cola_hear.hear import default_weights_path

REPEATS = 3  # timed calls per case; the fastest counts
WARMUP_SECONDS = 65.0  # longer than one encoder pass of the "shared" mode (hear.chunk_frames = 60 s)
KINDS = ("scene", "timestamp", "plain front end", "front end")
YARDSTICK_CLIP_SECONDS = 60.0  # the yardstick runs on the case's audio cut into clips of at most this length


def plain_front_end(config: FrontEndConfig) -> Callable[[torch.Tensor], None]:
    """The yardstick: torchaudio's log-mel of the COLA recipe on each whole clip (no chunking), as any
    log-mel model must compute it. Zero padding by half a window at both ends, magnitude, clipped log."""
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate, n_fft=config.n_fft, win_length=config.win_length,
        hop_length=config.hop_length, f_min=config.f_min, f_max=config.f_max, n_mels=config.n_mels,
        power=1.0, center=True, pad_mode="constant",
    )  # fmt: skip

    def run(audio: torch.Tensor) -> None:
        for clip in audio:
            mel(clip).clamp(config.log_floor, config.log_ceiling).log()

    return run


def embedder(
    kind: str, module: str, weights: str, mode: str, precision: str, folded: bool = True, per_sound: bool = False
) -> tuple[Callable, dict]:
    """The timed function of a case and what it reports about itself. ``folded=False``: the model as
    ``load_weights`` gives it (BatchNorm not folded); ``per_sound``: one HEAR call per clip."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if module != "cola_hear":
        hear = importlib.import_module(module)
        model = hear.load_model(weights)
        fn = hear.get_scene_embeddings if kind == "scene" else hear.get_timestamp_embeddings
        return (lambda audio: fn(audio, model)), {"mode": "module", "precision": "fp32", "sample_rate": 16000}
    if folded:
        model = load_model(weights)
    else:
        model = load_weights(weights or default_weights_path()).to(memory_format=torch.channels_last).eval()
    model = model.with_hear(timestamp_mode=mode, precision=precision)
    info = {
        # the path actually taken (``ColaModel.shared_timestamps``)
        "mode": "shared" if kind == "timestamp" and model.shared_timestamps else "windows",
        "precision": "bf16" if model.use_bf16() else "fp32",
        "sample_rate": model.sample_rate,
    }
    if kind == "plain front end":
        return plain_front_end(model.config.frontend), {**info, "mode": "-", "precision": "fp32"}
    if kind == "front end":
        return (lambda audio: [model.frontend.long(clip) for clip in audio]), {**info, "mode": "-", "precision": "fp32"}
    fn = get_scene_embeddings if kind == "scene" else get_timestamp_embeddings
    if per_sound:
        return (lambda audio: [fn(clip[None], model) for clip in audio]), info
    return (lambda audio: fn(audio, model)), info


def run(
    kind: str,
    clips: int,
    seconds: float,
    weights: str = "",
    mode: str = "shared",
    precision: str = "auto",
    module: str = "cola_hear",
    folded: bool = True,
    per_sound: bool = False,
) -> dict:
    """Embed ``clips`` x ``seconds`` of noise and time it; returns the figures.

    A warm-up call on the first clip (at most ``WARMUP_SECONDS`` of it) comes first, so the timing
    leaves out the one-off set-up of kernels for these input shapes, as a long evaluation would;
    then ``REPEATS`` timed calls, of which the fastest counts.
    """
    fn, info = embedder(kind, module, weights, mode, precision, folded, per_sound)
    rate = info.pop("sample_rate")
    generator = torch.Generator().manual_seed(0)
    audio = torch.randn(clips, int(seconds * rate), generator=generator).mul_(0.1)  # in place: no second copy
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # model and input, no call yet
    with torch.no_grad():
        wall = fastest(fn, audio, rate)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # the yardstick on the same audio, in the same process, right after: the ratio sees the same machine
        pieces = audio.reshape(-1, int(min(seconds, YARDSTICK_CLIP_SECONDS) * rate))
        yardstick = fastest(plain_front_end(FrontEndConfig()), pieces, rate)
    return {
        "kind": kind,
        **info,
        "audio_s": clips * seconds,
        "wall_s": wall,
        "x_realtime": clips * seconds / wall,
        "yardstick_x_realtime": clips * seconds / yardstick,
        "peak_rss_mb": peak_rss_mb,
        "rss_before_mb": rss_before_mb,
        "input_mb": audio.numel() * audio.element_size() / 2**20,
    }


def fastest(fn: Callable[[torch.Tensor], object], audio: torch.Tensor, rate: int) -> float:
    """Seconds of the fastest of ``REPEATS`` calls on ``audio``, after a warm-up on (part of) its first clip."""
    fn(audio[:1, : int(min(audio.shape[1] / rate, WARMUP_SECONDS) * rate)])
    walls = []
    for _ in range(REPEATS):  # the fastest of a few calls: a shared host's hiccups only ever add time
        start = time.perf_counter()
        fn(audio)
        walls.append(time.perf_counter() - start)
    return min(walls)


if __name__ == "__main__":
    print(json.dumps(run(**json.loads(sys.argv[1]))))
