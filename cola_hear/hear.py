"""The HEAR 2021 API: ``load_model``, ``get_scene_embeddings``, ``get_timestamp_embeddings``.

Audio is ``(n_sounds, n_samples)`` (or one 1-D sound) at ``model.sample_rate``, a torch tensor or
numpy array. Float audio is taken as it is (float64 is cast to float32). Integer audio is PCM,
scaled by its own full scale: int16 / 2**15, int32 / 2**31, int8 / 2**7, uint8 (x - 128) / 2**7.
int64 is refused with a ``ValueError``: it has no PCM scale, and it is what
``torch.tensor(list_of_ints)`` makes, so guessing would silently misread int16-range values
(as int32 they would be near-silence). Pass ``x.to(torch.int16)`` or floats in [-1, 1].
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F

from cola_hear.audio_input import as_audio_batch
from cola_hear.model import ColaModel
from cola_hear.weights import load_weights
from cola_hear.windows import timestamp_hop_frames, timestamps_ms

DEFAULT_WEIGHTS = "default.safetensors"
FRONTEND_CHUNK_FRAMES = 512  # log-mel frames per front-end call (``LogMelFrontEnd.long``)
SCENE_BLOCK_FRAMES = 6000  # scene embeddings of longer sounds are done block by block (bounded memory)


def default_weights_path() -> Path:
    """Path of the weights shipped inside the package."""
    return Path(str(resources.files("cola_hear") / "assets" / DEFAULT_WEIGHTS))


def load_model(model_file_path: str = "") -> ColaModel:
    """Load a COLA model; an empty path loads the shipped default weights.

    The model goes to CUDA when it is available, else stays on the CPU. It is for inference: its
    BatchNorm is folded into the convolutions (``ColaModel.fold_batchnorm``: the same embeddings up to
    float rounding, about a third faster on the CPU). ``load_weights`` gives a model that can train.
    """
    path = model_file_path or default_weights_path()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_weights(path, device=device).fold_batchnorm().to(memory_format=torch.channels_last)


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
    window are padded with silence. The windows of several short sounds share encoder passes (up to a
    block, ``scene_block_windows``): a sound of a few seconds alone would leave the CPU's batches
    mostly empty. Longer sounds are done one by one in blocks of windows (``long_scene_embedding``), so
    memory does not grow with the length of a sound.
    """
    audio = as_audio_batch(audio)
    model.eval()
    out = torch.zeros(audio.shape[0], model.scene_embedding_size)
    per_sound = scene_window_count(model, audio.shape[1])
    block = scene_block_windows(model)
    with model.inference_context():
        if per_sound > block:
            for i, waveform in enumerate(audio):
                out[i] = long_scene_embedding(waveform, model)
            return out
        group = block // per_sound  # sounds per batch of windows
        for first in range(0, audio.shape[0], group):
            sounds = audio[first : first + group]
            windows = torch.cat([_scene_windows(waveform, model) for waveform in sounds])
            out[first : first + len(sounds)] = model.encode_in_chunks(windows).view(len(sounds), per_sound, -1).mean(1)
    return out


def scene_window_count(model: ColaModel, n_samples: int) -> int:
    """Scene windows of a sound of ``n_samples`` samples (at least one)."""
    n_frames = model.frontend.num_frames(n_samples)
    return max(1, -(-(n_frames - model.segment_frames) // model.config.hear.scene_hop_frames) + 1)


def _scene_windows(waveform: torch.Tensor, model: ColaModel) -> torch.Tensor:
    """The scene windows ``(n, frames, n_mels)`` of one sound of at most a block."""
    logmel = model.frontend.long(waveform.to(model.device), FRONTEND_CHUNK_FRAMES)
    return model.sliding_windows(logmel, model.config.hear.scene_hop_frames, centred=False)


def scene_block_windows(model: ColaModel) -> int:
    """Windows per block of a long sound's scene embedding: at least ``SCENE_BLOCK_FRAMES`` frames, a multiple of
    the encoder's batch (``chunk_windows``) and starting on the front end's chunk grid, so that every window's
    embedding is bit-identical to a whole-sound pass."""
    hop = model.config.hear.scene_hop_frames
    unit = math.lcm(model.chunk_windows(), FRONTEND_CHUNK_FRAMES // math.gcd(FRONTEND_CHUNK_FRAMES, hop))
    return unit * max(1, -(-SCENE_BLOCK_FRAMES // (unit * hop)))


def long_scene_embedding(waveform: torch.Tensor, model: ColaModel) -> torch.Tensor:
    """Scene embedding ``(D,)`` of one ``(samples,)`` sound longer than a block (``scene_block_windows``, about
    a minute; call under ``model.inference_context()``), block by block: its log-mel frames are computed
    from the samples each block covers, and the windows' embeddings are summed in float64, so memory beyond
    the input stays a block's worth (equal to a one-go mean up to float rounding).
    """
    hop, seg = model.config.hear.scene_hop_frames, model.segment_frames
    n_frames = model.frontend.num_frames(waveform.shape[0])
    n_windows = scene_window_count(model, waveform.shape[0])
    block = scene_block_windows(model)
    total = torch.zeros(model.scene_embedding_size, dtype=torch.float64)
    for w0 in range(0, n_windows, block):
        w1 = min(w0 + block, n_windows)
        f0, f1 = w0 * hop, (w1 - 1) * hop + seg  # the frames these windows read
        logmel = model.frontend.frames(waveform, f0, min(f1, n_frames), FRONTEND_CHUNK_FRAMES)
        logmel = F.pad(logmel.t(), (0, f1 - f0 - logmel.shape[0]), value=model.frontend.pad_value).t()
        windows = logmel.unfold(0, seg, hop)[: w1 - w0].transpose(1, 2)
        total += model.encode_in_chunks(windows).double().sum(dim=0)
    return (total / n_windows).float()
