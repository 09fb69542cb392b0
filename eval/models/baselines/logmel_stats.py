"""HEAR module: mean and standard deviation of the 64 log-mel bands (the HEAR "naive" baseline idea).

Scene embedding: statistics over the whole clip. Timestamp embedding: statistics
over ~1 s windows (96 frames, as the COLA encoder sees) centred every 50 ms;
windows at the edges use only the frames inside the audio.
"""

from __future__ import annotations

import torch
from torch import nn

from cola_hear.audio_input import as_audio_batch
from cola_hear.config import FrontEndConfig
from cola_hear.frontend import LogMelFrontEnd
from cola_hear.windows import prefix_sums, timestamp_hop_frames, timestamps_ms, window_moments

__version__ = "1.1"  # part of the embedding-cache key: bump when the embeddings change
TIMESTAMP_HOP_MS = 50.0


class LogMelStats(nn.Module):
    """Log-mel front end of the COLA recipe with the HEAR attributes; no trained weights."""

    def __init__(self) -> None:
        super().__init__()
        self.config = FrontEndConfig()
        self.frontend = LogMelFrontEnd(self.config)
        self.sample_rate: int = self.config.sample_rate
        self.scene_embedding_size: int = 2 * self.config.n_mels
        self.timestamp_embedding_size: int = 2 * self.config.n_mels

    @property
    def device(self) -> torch.device:
        return next(self.frontend.buffers()).device


def load_model(model_file_path: str = "") -> LogMelStats:
    """The baseline has no weights; ``model_file_path`` is accepted and ignored."""
    return LogMelStats()


@torch.no_grad()
def get_scene_embeddings(audio: torch.Tensor, model: LogMelStats) -> torch.Tensor:
    """``(n_sounds, 128)``: per-band mean then per-band std of the clip's log-mel."""
    audio = as_audio_batch(audio)
    out = torch.zeros(audio.shape[0], model.scene_embedding_size)
    for i, waveform in enumerate(audio):
        logmel = model.frontend.long(waveform.to(model.device)).cpu()
        out[i] = torch.cat([logmel.mean(dim=0), logmel.std(dim=0, unbiased=False)])
    return out


@torch.no_grad()
def get_timestamp_embeddings(audio: torch.Tensor, model: LogMelStats) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n_sounds, n_t, 128)`` window statistics and ``(n_sounds, n_t)`` window centres in ms."""
    audio = as_audio_batch(audio)
    cfg = model.config
    hop = timestamp_hop_frames(cfg, TIMESTAMP_HOP_MS)
    n_frames = model.frontend.num_frames(audio.shape[1])  # every clip of the batch has this many
    timestamps = timestamps_ms(n_frames, hop, cfg)
    half = cfg.segment_frames // 2
    centres = torch.arange(len(timestamps)) * hop
    lo, hi = (centres - half).clamp_min(0), (centres + half).clamp_max(n_frames)  # frames inside the audio
    count = (hi - lo).unsqueeze(1)
    stats = []
    for waveform in audio:
        x = model.frontend.long(waveform.to(model.device)).cpu()  # (frames, n_mels)
        sums, squares = prefix_sums(x, dim=0), prefix_sums(x * x, dim=0)
        mean, std = window_moments(sums[hi] - sums[lo], squares[hi] - squares[lo], count, unbiased=False)
        stats.append(torch.cat([mean, std], dim=1))
    emb = torch.stack(stats) if stats else torch.zeros(0, len(timestamps), model.timestamp_embedding_size)
    return emb, timestamps.expand(emb.shape[0], -1).contiguous()
