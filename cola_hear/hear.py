"""The HEAR 2021 API: ``load_model``, ``get_scene_embeddings``, ``get_timestamp_embeddings``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from cola_hear.audio_input import as_audio_batch
from cola_hear.model import ColaModel
from cola_hear.weights import load_weights
from cola_hear.windows import timestamp_hop_frames, timestamps_ms

DEFAULT_WEIGHTS = "default.safetensors"


def default_weights_path() -> Path:
    """Path of the weights shipped inside the package."""
    return Path(str(resources.files("cola_hear") / "assets" / DEFAULT_WEIGHTS))


def load_model(model_file_path: str = "") -> ColaModel:
    """Load a COLA model; an empty path loads the shipped default weights.

    The model goes to CUDA when it is available, else stays on the CPU.
    """
    path = model_file_path or default_weights_path()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_weights(path, device=device).to(memory_format=torch.channels_last)


@torch.no_grad()
def get_timestamp_embeddings(audio: torch.Tensor, model: ColaModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of ~1 s windows centred every ``hear.timestamp_hop_ms`` ms.

    ``hear.timestamp_mode`` picks the computation: "shared" pools windows from a few
    full-length encoder passes (fast; used unless the model normalises each window),
    "windows" runs the encoder on every window.

    Returns ``(embeddings, timestamps)``: float32 ``(n_sounds, n_t, D)`` and float32
    ``(n_sounds, n_t)`` window centres in milliseconds, starting at 0.
    """
    audio = as_audio_batch(audio)
    model.eval()
    hop_frames = timestamp_hop_frames(model.config.frontend, model.config.hear.timestamp_hop_ms)
    shared = model.shared_timestamps
    per_sound = []
    with model.inference_context():
        for waveform in audio:
            logmel = model.frontend.long(waveform.to(model.device))
            if shared:
                per_sound.append(model.shared_window_embeddings(logmel, hop_frames))
            else:
                windows = model.sliding_windows(logmel, hop_frames, centred=True)
                per_sound.append(model.encode_in_chunks(windows))
    timestamps = timestamps_ms(model.frontend.num_frames(audio.shape[1]), hop_frames, model.config.frontend)
    size = model.timestamp_embedding_size
    embeddings = torch.stack(per_sound) if per_sound else torch.zeros(0, len(timestamps), size)
    return embeddings, timestamps.expand(embeddings.shape[0], -1).contiguous()


@torch.no_grad()
def get_scene_embeddings(audio: torch.Tensor, model: ColaModel) -> torch.Tensor:
    """Mean of the embeddings of ~1 s windows (``hear.scene_hop_frames`` apart) over each sound.

    Every window goes through the encoder: with non-overlapping windows each frame is encoded once,
    so shared passes would gain nothing. Returns float32 ``(n_sounds, D)``. Sounds shorter than one
    window are padded with silence.
    """
    audio = as_audio_batch(audio)
    model.eval()
    hop = model.config.hear.scene_hop_frames
    out = torch.zeros(audio.shape[0], model.scene_embedding_size)
    with model.inference_context():
        for i, waveform in enumerate(audio):
            logmel = model.frontend.long(waveform.to(model.device))
            windows = model.sliding_windows(logmel, hop, centred=False)
            out[i] = model.encode_in_chunks(windows).mean(dim=0)
    return out
