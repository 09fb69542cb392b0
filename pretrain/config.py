"""The configuration of a pretraining run: one dataclass, read from a short TOML file.

A run is fully described by a ``PretrainConfig``: data, augmentations, objective,
optimiser, training loop, and the ``cola_hear`` model sections (``frontend``,
``encoder``, ``hear``). Files are TOML with one table per section; any key may be
overridden on the command line with ``--set section.key=value``. Unknown sections
or keys are an error that names them. The typed section loader and the override
grammar are ``cola_hear.config``'s, shared with the model config of weights files.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cola_hear.config import (
    ConfigError,
    EncoderConfig,
    FrontEndConfig,
    HearConfig,
    ModelConfig,
    build_section,
)

OBJECTIVES = ("bilinear", "cosine", "triplet")


@dataclass(frozen=True)
class DataConfig:
    """Where the audio comes from and how anchor/positive crops are made."""

    folders: tuple[str, ...] = ()  # folders scanned recursively for audio files
    cache: bool = True  # keep the decoded audio in a memory-mapped cache (else decode into memory every run)
    cache_dir: str = "data/cache/pretrain"
    normalize: str = "l2"  # "l2" (official: whole clip L2-normalised before cropping) | "peak" | "none"
    clip_seconds: float | None = None  # split long files into clips of this length (None: one clip per file)
    noise_std: float = 0.001  # Gaussian noise added to the positive crop
    decode_workers: int = 2  # threads decoding files when the pool is built
    prefetch: int = 2  # batches sampled ahead of the training step (0: no background thread)
    # prepared shards (cola-pretrain prepare): shards.json manifests or folders, shard URLs / brace patterns
    shards: tuple[str, ...] = ()
    workers: int = 2  # DataLoader worker processes streaming the shards (0: in the training process)
    shuffle_buffer: int = 500  # clips in each worker's shuffle buffer (float16: 500 x 10 s clips = 160 MB)

    def __post_init__(self) -> None:
        if self.folders and self.shards:
            raise ConfigError("set data.folders (--data) or data.shards (--shards), not both")
        _non_negative("data.workers", self.workers)
        _positive("data.shuffle_buffer", self.shuffle_buffer)
        _choice("data.normalize", self.normalize, ("l2", "peak", "none"))
        if self.clip_seconds is not None and self.clip_seconds <= 0:
            raise ConfigError(f"data.clip_seconds must be positive or unset, got {self.clip_seconds}")
        _non_negative("data.noise_std", self.noise_std)
        _positive("data.decode_workers", self.decode_workers)
        _non_negative("data.prefetch", self.prefetch)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations, all off by default (the official recipe uses none).

    Each view (anchor, positive) is augmented independently. They fight shortcuts
    such as recognising a recording by its level or background.
    """

    gain_db: float = 0.0  # random gain, uniform in [-gain_db, +gain_db] dB, per view
    mix_prob: float = 0.0  # probability of mixing another clip's crop into a view
    mix_max_ratio: float = 0.5  # amplitude of the mixed-in crop relative to the view, uniform in [0, max]
    time_masks: int = 0  # number of time masks on the log-mel of each view
    time_mask_frames: int = 0  # maximum width of a time mask (frames)
    freq_masks: int = 0  # number of frequency masks on the log-mel of each view
    freq_mask_bands: int = 0  # maximum width of a frequency mask (mel bands)
    eq_db: float = 0.0  # random smooth EQ curve (tilt + ripples) over the mel bands, up to +-eq_db dB
    lowpass_prob: float = 0.0  # probability of a random band limit (a steep roll-off above a random mel band)
    zoom: float = 0.0  # random resized crop: time and frequency scaled by up to 1+zoom (or 1/(1+zoom))

    def __post_init__(self) -> None:
        for name in (
            "gain_db", "mix_max_ratio", "time_masks", "time_mask_frames", "freq_masks", "freq_mask_bands", "eq_db",
            "zoom",
        ):  # fmt: skip
            _non_negative(f"augment.{name}", getattr(self, name))
        for name in ("mix_prob", "lowpass_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def enabled(self) -> bool:
        return bool(self.gain_db or self.mix_prob or self.uses_masks or self.uses_spectral or self.zoom)

    @property
    def uses_spectral(self) -> bool:
        """Whether views get a per-band log-mel offset (EQ, band limit)."""
        return bool(self.eq_db or self.lowpass_prob)

    @property
    def uses_masks(self) -> bool:
        return bool(self.time_masks and self.time_mask_frames) or bool(self.freq_masks and self.freq_mask_bands)


@dataclass(frozen=True)
class ObjectiveConfig:
    """The contrastive objective on top of the encoder."""

    name: str = "bilinear"  # "bilinear" (COLA default) | "cosine" (with temperature) | "triplet" (baseline)
    projection_dim: int = 512  # projection head output size
    # "official": LayerNorm + tanh after the projection for bilinear only (official COLA code);
    # "squash": after it for every objective (cosine and triplet too; the recipe before v2)
    head: str = "official"
    temperature: float = 0.2  # cosine only
    margin: float = 0.5  # triplet only: margin on the cosine distance
    negative: str = "hardest"  # triplet only: "hardest" or "random" in-batch negative

    def __post_init__(self) -> None:
        _choice("objective.name", self.name, OBJECTIVES)
        _choice("objective.negative", self.negative, ("hardest", "random"))
        _choice("objective.head", self.head, ("official", "squash"))
        _positive("objective.projection_dim", self.projection_dim)
        _positive("objective.temperature", self.temperature)
        _non_negative("objective.margin", self.margin)


@dataclass(frozen=True)
class OptimConfig:
    """Adam, constant learning rate (the official COLA code)."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps to the (scaled) lr over these optimizer steps
    # "none": lr as given; "linear" / "sqrt": lr x (global batch / base_batch), or its square root
    lr_scaling: str = "none"
    base_batch: int = 64  # the global batch that optim.lr is meant for (lr_scaling)

    def __post_init__(self) -> None:
        _positive("optim.lr", self.lr)
        _non_negative("optim.weight_decay", self.weight_decay)
        _non_negative("optim.warmup_steps", self.warmup_steps)
        _choice("optim.lr_scaling", self.lr_scaling, ("none", "linear", "sqrt"))
        _positive("optim.base_batch", self.base_batch)


@dataclass(frozen=True)
class TrainConfig:
    """The loop: batch, budget, seed, logging, checkpoints, device."""

    batch_size: int = 64  # anchor/positive pairs per step and per process
    max_steps: int | None = None  # stop after this many steps in total (counting resumed ones)
    max_minutes: float | None = None  # stop after this many minutes of this invocation
    seed: int = 0
    init_weights: str | None = None  # start the model from this cola_hear weights file (objective head fresh)
    log_every: int = 10  # steps between log rows (CSV, TensorBoard)
    checkpoint_every: int = 500  # steps between checkpoints (one is always written at the end)
    keep_checkpoints: int = 2  # most recent checkpoints kept on disk
    out_dir: str = "runs/pretrain"
    device: str = "auto"  # "auto" (CUDA when available) | "cpu" | "cuda" | "cuda:N"
    amp: str = "auto"  # "auto" (bf16 autocast on CUDA only) | "bf16" (also on CPU) | "off"
    channels_last: bool = True
    compile: bool = False  # torch.compile the training module (inductor; needs a C++ compiler on the CPU)
    threads: int | None = None  # torch CPU threads (None: torch's default)
    progress: bool = True  # tqdm progress bar
    # pairs per optimizer step over all processes (None: batch_size x processes); batch_size x processes must
    # divide it, the quotient is the number of accumulated micro-batches (pretrain/large_batch.py)
    global_batch_size: int | None = None
    gather_distractors: bool = False  # the positives of every process are distractors (all_gather with gradient)
    sync_batchnorm: bool = False  # BatchNorm statistics over all processes (SyncBatchNorm; CUDA only)

    def __post_init__(self) -> None:
        if self.global_batch_size is not None:
            _positive("train.global_batch_size", self.global_batch_size)
        if self.batch_size < 2:
            raise ConfigError(
                f"train.batch_size must be at least 2, got {self.batch_size}: the other pairs of a batch are the "
                "distractors, so with one pair the loss is 0 and the accuracy 1 whatever the model"
            )
        if self.max_steps is not None:
            _positive("train.max_steps", self.max_steps)
        if self.max_minutes is not None:
            _positive("train.max_minutes", self.max_minutes)
        for name in ("log_every", "checkpoint_every", "keep_checkpoints"):
            _positive(f"train.{name}", getattr(self, name))
        _choice("train.amp", self.amp, ("auto", "bf16", "off"))
        if self.threads is not None:
            _positive("train.threads", self.threads)


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that defines a pretraining run."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    hear: HearConfig = field(default_factory=HearConfig)

    def model_config(self, provenance: dict[str, Any] | None = None) -> ModelConfig:
        """The ``cola_hear`` model this run trains."""
        return ModelConfig(frontend=self.frontend, encoder=self.encoder, hear=self.hear, provenance=provenance or {})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        """Build a config from nested dicts; unknown sections or keys raise ``ConfigError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a table of sections, got {type(data).__name__}")
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(data) - set(sections))
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}; known: {sorted(sections)}")
        kwargs = {}
        for name, values in data.items():
            if not isinstance(values, dict):
                raise ConfigError(f"config section {name!r} must be a table, got {values!r}")
            kwargs[name] = build_section(hints[name], name, values)
        return cls(**kwargs)

    def replace(self, overrides: dict[str, Any]) -> PretrainConfig:
        """A copy with ``{"section.key": value}`` overrides applied (validated like a file)."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            if not key or "." in key:
                raise ConfigError(f"an override must look like section.key=value, got {dotted!r}")
            if section not in data:
                raise ConfigError(f"unknown config section {section!r} in override {dotted!r}; known: {sorted(data)}")
            if key not in data[section]:
                raise ConfigError(f"unknown config key {dotted!r}; known in [{section}]: {sorted(data[section])}")
            data[section][key] = value
        return PretrainConfig.from_dict(data)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PretrainConfig:
    """Read a TOML config (a path, or the name of a shipped one: "default", "smoke") and apply overrides.

    Keys missing from the file keep their defaults; ``None`` loads the shipped default.
    """
    source = resolve_config_path(path)
    try:
        data = tomllib.loads(source.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config {source}: {exc}") from exc
    try:
        config = PretrainConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    try:
        return config.replace(overrides or {})
    except ConfigError as exc:  # the file alone is valid: an override (--set or a flag) is at fault
        raise ConfigError(f"--set / command-line flags: {exc}") from exc


def resolve_config_path(path: str | Path | None) -> Path:
    """A config path, or the path of a shipped config given by name (``default``, ``smoke``)."""
    if path is None:
        path = "default"
    candidate = Path(path)
    if candidate.is_file():
        return candidate
    shipped = shipped_configs()
    if str(path) in shipped:
        return shipped[str(path)]
    raise ConfigError(f"config {str(path)!r} is neither a file nor a shipped config ({', '.join(sorted(shipped))})")


def shipped_configs() -> dict[str, Path]:
    """The configs shipped in ``pretrain/configs``, by name."""
    folder = Path(str(resources.files("cola_pretrain") / "configs"))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def dump_toml(config: PretrainConfig) -> str:
    """The config as TOML text that ``load_config`` reads back to an equal config (unset keys omitted)."""
    lines = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{key} must be one of {list(options)}, got {value!r}")


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{key} must be positive, got {value}")


def _non_negative(key: str, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{key} must be non-negative, got {value}")
