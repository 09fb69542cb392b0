"""The COLA model as the HEAR API sees it: front end + encoder + windowing."""

from __future__ import annotations

import contextlib
import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from cola_hear.config import ModelConfig, readout_stage
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
        self._set_embedding_sizes()

    def _set_embedding_sizes(self) -> None:
        """The HEAR sizes: the sum of the sizes of the ``hear.readout`` parts."""
        size = self.config.embedding_size
        if self.config.hear.readout != ("final",):
            probe = torch.zeros(1, self.segment_frames, self.config.frontend.n_mels, device=self.device)
            was_training = self.training
            self.eval()
            with torch.no_grad():
                size = self.readout_windows(probe).shape[1]
            self.train(was_training)
        self.scene_embedding_size: int = int(size)
        self.timestamp_embedding_size: int = int(size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def segment_frames(self) -> int:
        return self.config.frontend.segment_frames

    def with_hear(self, **changes: object) -> ColaModel:
        """A model sharing these weights whose ``config.hear`` has ``changes`` (e.g. ``timestamp_mode="windows"``)."""
        clone = copy.copy(self)
        clone.config = dataclasses.replace(self.config, hear=dataclasses.replace(self.config.hear, **changes))
        clone._set_embedding_sizes()
        return clone

    def use_bf16(self) -> bool:
        """Whether inference runs under bf16 autocast (``hear.precision``, and device support)."""
        mode = self.config.hear.precision
        if mode == "fp32":
            return False
        supported = bf16_supported(self.device)
        if mode == "bf16" and not supported:
            raise ValueError(f"precision='bf16' but {self.device.type} has no bf16 support here")
        return supported

    def inference_context(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to bf16 where enabled, else a no-op context."""
        if self.use_bf16():
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """Encode ``(n, frames, n_mels)`` log-mel windows into ``(n, D)`` embeddings."""
        return self.encoder(normalize_windows(windows, self.config.frontend.window_norm))

    def readout_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """HEAR embeddings ``(n, scene_embedding_size)`` of ``(n, frames, n_mels)`` windows: the
        ``hear.readout`` parts concatenated ("final": ``embed_windows``; "stageN" / "stageN.std": that
        stage's output, mean / std over time, its channels x frequency bins flattened)."""
        readout = self.config.hear.readout
        if readout == ("final",):
            return self.embed_windows(windows)
        windows = normalize_windows(windows, self.config.frontend.window_norm)
        stages = {s for s in map(readout_stage, readout) if s is not None}
        maps, last = self.encoder.readout_maps(windows, stages, final="final" in readout)
        parts = []
        for part in readout:
            if part == "final":
                parts.append(self.encoder.pool(last).flatten(1))
            else:
                fmap = maps[readout_stage(part)].float()
                stat = fmap.std(dim=2) if part.endswith(".std") else fmap.mean(dim=2)
                parts.append(stat.flatten(1))
        return torch.cat([p.float() for p in parts], dim=1)

    @property
    def shared_timestamps(self) -> bool:
        """Whether ``get_timestamp_embeddings`` may use the shared-pass path (``hear.timestamp_mode``)."""
        c = self.config
        return c.hear.timestamp_mode == "shared" and c.frontend.window_norm == "none" and c.hear.readout == ("final",)

    def encode_in_chunks(self, windows: torch.Tensor) -> torch.Tensor:
        """``readout_windows`` over at most ``hear.chunk_windows`` windows at a time."""
        chunk = self.config.hear.chunk_windows
        device = self.device
        outputs = [
            self.readout_windows(windows[i : i + chunk].to(device).contiguous()).float().cpu()
            for i in range(0, windows.shape[0], chunk)
        ]
        if not outputs:
            return torch.zeros(0, self.scene_embedding_size)
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

    def shared_window_embeddings(self, logmel: torch.Tensor, hop_frames: int) -> torch.Tensor:
        """Embeddings of windows centred on every ``hop_frames``-th frame, from shared passes.

        Instead of one encoder pass per window, the whole ``(frames, n_mels)`` log-mel goes
        through the encoder ``hear.timestamp_shifts`` times, each pass shifted by
        ``32 / shifts`` frames. Interleaving their output columns gives a feature grid every
        ``32 / shifts`` frames; a window's embedding pools the grid columns that lie inside it
        (the same pooling the encoder applies to a single window). Long inputs are processed in
        chunks of ``hear.chunk_frames`` with context margins. Returns ``(n_windows, D)``.
        """
        seg, stride = self.segment_frames, self.encoder.stride
        shifts = self.config.hear.timestamp_shifts
        step = stride // shifts
        n_frames = logmel.shape[0]
        centres = torch.arange(0, n_frames, hop_frames)
        first = torch.round(centres / step).long()  # first grid column of each window
        per_window = (seg - stride) // step + 1  # grid columns inside one window
        grid_len = int(first[-1]) + per_window
        columns = -(-grid_len // shifts)  # encoder columns per pass
        # Pass s reads frames [s*step, s*step + columns*stride) of the log-mel padded by half a window.
        total = (shifts - 1) * step + columns * stride
        half = seg // 2
        padded = F.pad(logmel.t(), (half, max(0, total - half - n_frames)), value=self.frontend.pad_value).t()
        passes = torch.stack([padded[s * step : s * step + columns * stride] for s in range(shifts)])
        grid = self._column_features(passes)  # (shifts, D, columns)
        grid = grid.permute(1, 2, 0).reshape(grid.shape[1], -1)[:, :grid_len]  # column j*shifts+s
        pooled = self.encoder.pool_windows(grid, per_window)  # (grid_len - per_window + 1, D)
        return pooled[first]

    def _column_features(self, passes: torch.Tensor) -> torch.Tensor:
        """Frequency-pooled encoder columns ``(batch, D, columns)`` of ``(batch, frames, n_mels)``.

        The squeeze-excitation blocks see a window of ``segment_frames`` around each position
        (``AudioEncoder.local_context``), as they would in a per-window pass, so each column is
        local and long inputs can be cut into chunks of ``hear.chunk_frames`` that overlap by a
        margin; only each chunk's centre columns are kept.
        """
        stride = self.encoder.stride
        n_columns = passes.shape[1] // stride
        chunk = max(1, self.config.hear.chunk_frames // stride)
        margin = 8  # columns of context; enough for chunked and whole-input results to agree
        device = self.device
        outputs = []
        with self.encoder.local_context(self.segment_frames):
            for start in range(0, n_columns, chunk):
                stop = min(start + chunk, n_columns)
                lo, hi = max(0, start - margin), min(n_columns, stop + margin)
                piece = passes[:, lo * stride : hi * stride].to(device)
                cols = self.encoder.pool_columns(self.encoder.feature_map(piece)).float()
                outputs.append(cols[:, :, start - lo : start - lo + stop - start].cpu())
        return torch.cat(outputs, dim=2)


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 kernels natively (CUDA's check; oneDNN's AVX512-BF16/AMX check on CPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
