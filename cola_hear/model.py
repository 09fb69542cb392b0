"""The COLA model as the HEAR API sees it: front end + encoder + windowing."""

from __future__ import annotations

import contextlib
import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from cola_hear.config import ModelConfig, readout_stage
from cola_hear.encoder import AudioEncoder, fold_batchnorm
from cola_hear.frontend import LogMelFrontEnd, normalize_windows
from cola_hear.precision import autocast, use_bf16
from cola_hear.windows import prefix_sums, window_moments

CPU_CHUNK_WINDOWS = 32  # windows per encoder pass on the CPU: activations stay cache-sized (3.5x faster than 256)
CPU_CHUNK_FRAMES = 1024  # log-mel frames per shared pass of a stage-only read-out on the CPU, for the same reason
SHARED_BLOCK_FRAMES = 6000  # timestamp windows of longer audio are pooled block by block (bounded memory)
SHARED_MARGIN_FRAMES = 256  # context on both sides of a block: more than a window plus the encoder's reach


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
        self.folded = False  # BatchNorm folded into the convolutions (inference only, ``fold_batchnorm``)
        self._set_embedding_sizes()

    def fold_batchnorm(self) -> ColaModel:
        """Fold the encoder's BatchNorm into its convolutions (``cola_hear.encoder.fold_batchnorm``), in
        place: inference is about a third faster on the CPU and equal up to float rounding, but the model can
        no longer train or be saved. ``cola_hear.load_model`` does this; ``load_weights`` does not."""
        self.eval()
        fold_batchnorm(self.encoder)
        self.folded = True
        return self

    def train(self, mode: bool = True) -> ColaModel:
        if mode and self.folded:
            raise RuntimeError(
                "this model's BatchNorm is folded into its convolutions for inference (cola_hear.load_model); "
                "load the weights with cola_hear.load_weights to train"
            )
        return super().train(mode)

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
        return use_bf16(self.config.hear.precision, self.device, "precision", auto_on_cpu=True)

    def describe(self) -> dict[str, str]:
        """What an embedding of this model is: its ``hear.readout`` parts joined by "+", and the precision
        inference runs in on its current device ("bf16" or "fp32"). Evaluation rows record both."""
        return {"readout": "+".join(self.config.hear.readout), "precision": "bf16" if self.use_bf16() else "fp32"}

    def inference_context(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to bf16 where enabled, else a no-op context."""
        return autocast(self.device, self.use_bf16())

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
        stats = {}  # stage -> (std, mean) over time, in one pass
        parts = []
        for part in readout:
            if part == "final":
                parts.append(self.encoder.pool(last).flatten(1))
                continue
            stage = readout_stage(part)
            if stage not in stats:
                stats[stage] = torch.std_mean(maps[stage].float(), dim=2)
            parts.append(stats[stage][0 if part.endswith(".std") else 1].flatten(1))
        return torch.cat([p.float() for p in parts], dim=1)

    @property
    def shared_timestamps(self) -> bool:
        """Whether ``get_timestamp_embeddings`` takes the shared-pass path (``hear.timestamp_mode``)."""
        c = self.config
        return c.hear.timestamp_mode == "shared" and c.frontend.window_norm == "none"

    def chunk_windows(self) -> int:
        """Windows per encoder pass: ``hear.chunk_windows``, and on the CPU at most a cache-sized batch."""
        limit = self.config.hear.chunk_windows
        return limit if self.device.type == "cuda" else min(limit, CPU_CHUNK_WINDOWS)

    def encode_in_chunks(self, windows: torch.Tensor) -> torch.Tensor:
        """``readout_windows`` over at most ``hear.chunk_windows`` windows at a time."""
        chunk = self.chunk_windows()
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
        """Embeddings ``(n_windows, D)`` of windows centred on every ``hop_frames``-th frame (``pooled_windows``).

        For stage-only read-outs, audio longer than ``SHARED_BLOCK_FRAMES`` is done block by block, each with
        ``SHARED_MARGIN_FRAMES`` of context on both sides and its passes on the whole-input grid, so memory
        stays bounded and the result is the whole-input one up to float rounding.
        """
        n_frames, half = logmel.shape[0], self.segment_frames // 2
        centres = torch.arange(0, n_frames, hop_frames)
        if n_frames <= SHARED_BLOCK_FRAMES + SHARED_MARGIN_FRAMES or "final" in self.config.hear.readout:
            return self.pooled_windows(logmel, centres - half)  # the final layer's columns are small already
        grid = max(self._part_stride(part) for part in self.config.hear.readout)  # passes line up on it
        outputs = []
        for first in range(0, n_frames, SHARED_BLOCK_FRAMES):
            mine = centres[(centres >= first) & (centres < first + SHARED_BLOCK_FRAMES)]
            lo = max(0, (first - SHARED_MARGIN_FRAMES + half) // grid * grid - half)  # on the whole input's grid
            hi = min(n_frames, first + SHARED_BLOCK_FRAMES + SHARED_MARGIN_FRAMES)
            starts = mine - half - lo
            if hi < n_frames:  # a last window at the block's end makes the passes cover the right margin
                starts = torch.cat([starts, torch.tensor([hi - lo - self.segment_frames])])
            pooled = self.pooled_windows(logmel[lo:hi], starts)
            outputs.append(pooled[: len(mine)])
        return torch.cat(outputs)

    def pooled_windows(self, logmel: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(n, D)`` of the windows ``logmel[a : a + segment_frames]``, ``a`` in ``starts``
        (frames outside the ``(frames, n_mels)`` log-mel are silence), from shared full-length passes.

        Instead of one encoder pass per window, the whole log-mel goes through the encoder a few
        times, pass ``k`` shifted by ``k * step`` frames: ``step`` is the coarsest stride ``S`` among the
        ``hear.readout`` parts divided by ``hear.timestamp_shifts`` (at least one frame), and there are
        ``S / step`` passes. Each part of a window is pooled from these maps:

        - "stageN" / "stageN.std": mean / std over the ``segment_frames / stride`` columns of the stage
          map that lie in the window, read from the pass whose columns line up with the window's start
          (rounded to ``step`` when the stride is coarser than ``step``); exact alignment for stage
          read-outs, where ``step`` is one frame;
        - "final": the encoder's pooling over every column of the passes' interleaved grid that lies
          in the window.

        The squeeze-excitation blocks see ``segment_frames`` around each position (as in a per-window
        pass), so long inputs are processed in chunks with context margins (``_pass_columns``).
        """
        seg, hear = self.segment_frames, self.config.hear
        strides = {p: self._part_stride(p) for p in hear.readout}
        coarsest = max(strides.values())
        step = max(1, coarsest // hear.timestamp_shifts)
        n_passes = coarsest // step
        left = max(0, -int(starts.min())) if len(starts) else 0
        starts = starts.long() + left  # in frames of the left-padded log-mel
        plans, columns = {}, 1  # per part: (pass of each window, first column of each window, columns per window)
        for part, stride in strides.items():
            if part == "final":
                first = torch.round(starts / step).long()
                per_window = (seg - stride) // step + 1
                plans[part] = (None, first, per_window)
                columns = max(columns, -(-(int(first.max()) + per_window) // n_passes))
            else:
                unit = min(stride, step)
                phases = stride // unit
                q = torch.round(starts / unit).long()
                per_window = -(-seg // stride)
                plans[part] = (q % phases, q // phases, per_window)
                columns = max(columns, -(-(int(plans[part][1].max()) + per_window) * stride // coarsest))
        frames = columns * coarsest  # frames read by each pass
        needed = sorted(
            {0, *(range(n_passes) if "final" in strides else ())}
            | {int(k) for p, (ks, _, _) in plans.items() if ks is not None for k in ks.unique()}
        )
        total = needed[-1] * step + frames
        padded = F.pad(logmel.t(), (left, max(0, total - left - logmel.shape[0])), value=self.frontend.pad_value).t()
        passes = torch.stack([padded[k * step : k * step + frames] for k in needed])
        features = self._pass_features(passes, strides, coarsest)
        row = torch.full((n_passes,), -1, dtype=torch.long)
        row[needed] = torch.arange(len(needed))  # pass number -> row of `passes`
        parts = []
        for part in hear.readout:
            ks, first, per_window = plans[part]
            if part == "final":
                cols = features["final"][0]
                grid = cols.permute(1, 2, 0).reshape(cols.shape[1], -1)  # column j * n_passes + k
                parts.append(self.encoder.pool_windows(grid, per_window)[first])
                continue
            sums, squares = features[f"stage{readout_stage(part)}"]
            k = row[ks]
            s1 = sums[k, first + per_window] - sums[k, first]  # (windows, F', C) sums over the window's columns
            s2 = squares[k, first + per_window] - squares[k, first] if part.endswith(".std") else None
            mean, std = window_moments(s1, s2, per_window, unbiased=True)
            stat = mean if std is None else std
            parts.append(stat.permute(0, 2, 1).flatten(1))  # channels x frequency, as per window
        return torch.cat(parts, dim=1)

    def _part_stride(self, part: str) -> int:
        """Time stride (frames per column) of a ``hear.readout`` part's feature map."""
        stage = readout_stage(part)
        return self.encoder.stride if stage is None else self.encoder.stage_strides[stage]

    def _pass_features(
        self, passes: torch.Tensor, strides: dict[str, int], coarsest: int
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """What ``pooled_windows`` pools, from ``(batch, frames, n_mels)`` passes.

        "final": ``(columns (batch, D, frames / 32), None)``, pooled over frequency. "stageN": running sums
        over time of the stage map and (for a ".std" part) of its square, float64 ``(batch, T' + 1, F', C)``
        starting with zeros, so the sum over any run of columns is one subtraction.

        The squeeze-excitation blocks see a window of ``segment_frames`` around each position
        (``AudioEncoder.local_context``), as they would in a per-window pass, so each column is local and
        long inputs are cut into chunks (``hear.chunk_frames``; on the CPU at most ``CPU_CHUNK_FRAMES`` for
        stage-only read-outs) that overlap by a context margin; only each chunk's centre columns are kept.
        """
        n_units = passes.shape[1] // coarsest
        chunk_frames = self.config.hear.chunk_frames
        if self.device.type != "cuda" and "final" not in strides:
            chunk_frames = min(chunk_frames, CPU_CHUNK_FRAMES)
        chunk = max(1, chunk_frames // coarsest)  # in units of `coarsest` frames
        margin = -(-min(256, 32 * coarsest) // coarsest)  # context for chunked and whole results to agree
        readout = self.config.hear.readout
        stages = {s for s in map(readout_stage, readout) if s is not None}
        with_std = {readout_stage(p) for p in readout if p.endswith(".std")}
        columns: list[torch.Tensor] = []
        sums: dict[int, list[torch.Tensor | None]] = {}
        batch = passes.shape[0]
        with self.encoder.local_context(self.segment_frames):
            for start in range(0, n_units, chunk):
                stop = min(start + chunk, n_units)
                lo, hi = max(0, start - margin), min(n_units, stop + margin)
                piece = passes[:, lo * coarsest : hi * coarsest].to(self.device)
                maps, last = self.encoder.readout_maps(piece, stages, final="final" in strides)
                if last is not None:
                    per_unit = coarsest // self.encoder.stride
                    kept = self.encoder.pool_columns(last)[:, :, (start - lo) * per_unit : (stop - lo) * per_unit]
                    columns.append(kept.float().cpu())
                for stage in stages:
                    per_unit = coarsest // self.encoder.stage_strides[stage]
                    fmap = maps[stage][:, :, (start - lo) * per_unit : (stop - lo) * per_unit]
                    x = fmap.permute(0, 2, 3, 1).double().cpu()  # (batch, T', F', C)
                    if stage not in sums:
                        shape = (batch, n_units * per_unit + 1, x.shape[2], x.shape[3])
                        sums[stage] = [torch.zeros(shape, dtype=torch.float64), None]
                        if stage in with_std:
                            sums[stage][1] = torch.zeros(shape, dtype=torch.float64)
                    at = start * per_unit
                    for moment, buffer in enumerate(sums[stage]):
                        if buffer is not None:  # continue the running sums from the previous chunk's last one
                            run = prefix_sums(x * x if moment else x, dim=1)[:, 1:]
                            buffer[:, at + 1 : at + 1 + run.shape[1]] = run + buffer[:, at : at + 1]
        features: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {
            f"stage{stage}": (s1, s2) for stage, (s1, s2) in sums.items()
        }
        if columns:
            features["final"] = (torch.cat(columns, dim=2), None)
        return features
