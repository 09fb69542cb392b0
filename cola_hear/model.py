"""The COLA model as the HEAR API sees it: front end + encoder + windowing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cola_hear.config import ModelConfig
from cola_hear.encoder import AudioEncoder
from cola_hear.frontend import LogMelFrontEnd, normalize_windows


class ColaModel(nn.Module):
    """Log-mel front end and EfficientNet encoder with the HEAR attributes.

    ``sample_rate``, ``scene_embedding_size`` and ``timestamp_embedding_size`` are
    the ints the HEAR API requires.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.frontend = LogMelFrontEnd(self.config.frontend)
        self.encoder = AudioEncoder(self.config.encoder)
        if self.encoder.embedding_size != self.config.embedding_size:
            raise ValueError(
                f"encoder {self.config.encoder.name!r} gives {self.encoder.embedding_size}-d features, "
                f"config says embedding_size={self.config.embedding_size}"
            )
        self.sample_rate: int = self.config.frontend.sample_rate
        self.scene_embedding_size: int = self.config.embedding_size
        self.timestamp_embedding_size: int = self.config.embedding_size

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def segment_frames(self) -> int:
        return self.config.frontend.segment_frames

    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """Encode ``(n, frames, n_mels)`` log-mel windows into ``(n, D)`` embeddings."""
        return self.encoder(normalize_windows(windows, self.config.frontend.window_norm))

    def encode_in_chunks(self, windows: torch.Tensor) -> torch.Tensor:
        """``embed_windows`` over at most ``hear.chunk_windows`` windows at a time."""
        chunk = self.config.hear.chunk_windows
        device = self.device
        outputs = [
            self.embed_windows(windows[i : i + chunk].to(device).contiguous()).float().cpu()
            for i in range(0, windows.shape[0], chunk)
        ]
        if not outputs:
            return torch.zeros(0, self.config.embedding_size)
        return torch.cat(outputs)

    def sliding_windows(self, logmel: torch.Tensor, hop_frames: int, centred: bool) -> torch.Tensor:
        """Windows of ``segment_frames`` frames over a ``(frames, n_mels)`` log-mel.

        ``centred``: one window centred on every ``hop_frames``-th frame (the log-mel is
        padded with silence by half a window on both sides). Otherwise windows start at
        frame 0 and the end is padded with silence to complete the last one.
        Returns a ``(n_windows, segment_frames, n_mels)`` view.
        """
        seg = self.segment_frames
        pad = self.frontend.pad_value
        if centred:
            half = seg // 2
            padded = F.pad(logmel.t(), (half, seg - half), value=pad).t()
            n_windows = (logmel.shape[0] - 1) // hop_frames + 1
        else:
            n_windows = max(1, -(-(logmel.shape[0] - seg) // hop_frames) + 1)
            needed = (n_windows - 1) * hop_frames + seg
            padded = F.pad(logmel.t(), (0, max(0, needed - logmel.shape[0])), value=pad).t()
        return padded.unfold(0, seg, hop_frames)[:n_windows].transpose(1, 2)
