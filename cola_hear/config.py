"""Configuration of a COLA model: front end, encoder and embedding sizes.

The config travels inside every weights file (as JSON in the safetensors
metadata) so a file alone says how to rebuild the model that produced it.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A config or override is malformed, names an unknown key, or has a bad value."""


@dataclass(frozen=True)
class FrontEndConfig:
    """Log-mel front end of the COLA recipe: the values of the official google-research ``cola`` code."""

    sample_rate: int = 16000
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_fft: int = 1024
    n_mels: int = 64
    f_min: float = 60.0
    f_max: float = 7800.0
    log_floor: float = 1e-5
    log_ceiling: float = 1e8
    segment_frames: int = 96  # one model input window, ~1 s
    window_norm: str = "none"  # "none" | "standardize" (per-window mean/std of the log-mel)

    def __post_init__(self) -> None:
        if self.window_norm not in ("none", "standardize"):
            raise ValueError(f"window_norm must be 'none' or 'standardize', got {self.window_norm!r}")
        if not 0 < self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 < f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}")


@dataclass(frozen=True)
class EncoderConfig:
    """EfficientNet encoder. Defaults follow the official COLA code.

    The seed article's variant is ``stem="conv3x3", pooling="avg", drop_rate=0.1``.
    """

    name: str = "efficientnet_b0"
    stem: str = "none"  # "none": 1-channel first conv | "conv3x3": 3x3 conv to 3 channels first
    pooling: str = "max"  # global pooling of the last feature map: "max" | "avg"
    drop_rate: float = 0.0  # dropout on the pooled features (training only)

    def __post_init__(self) -> None:
        if self.stem not in ("none", "conv3x3"):
            raise ValueError(f"stem must be 'none' or 'conv3x3', got {self.stem!r}")
        if self.pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {self.pooling!r}")


@dataclass(frozen=True)
class HearConfig:
    """How the HEAR API turns audio into embeddings."""

    timestamp_hop_ms: float = 50.0  # hop between timestamp embeddings (<= 50 ms for HEAR)
    # "shared": a few full-length encoder passes, each window pooled from their feature maps (fast);
    # "windows": the encoder on every centred ~1 s window (exact, ~20 passes per second of audio).
    timestamp_mode: str = "shared"
    # "shared" modes: passes shifted by S/shifts frames (at least 1), S the coarsest read-out stride
    # (32 frames for "final": a 160 ms grid for 2; 2 for "stage0": every frame, exact alignment).
    timestamp_shifts: int = 2
    scene_hop_frames: int = 96  # hop between scene windows (non-overlapping by default)
    chunk_windows: int = 256  # windows per encoder forward pass (bounds memory)
    chunk_frames: int = 6000  # "shared" mode: log-mel frames per encoder pass (bounds memory on long audio)
    precision: str = "auto"  # "fp32" | "bf16" | "auto" (bf16 autocast where the device supports it)
    # Parts of each window's embedding, concatenated: "final" is the pooled last feature map (COLA's 1280-d
    # feature); "stageN" is the output of EfficientNet stage N (0-6) averaged over the window's time steps,
    # "stageN.std" its standard deviation over them (frequency bins kept in both).
    readout: tuple[str, ...] = ("final",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "readout", tuple(self.readout))  # JSON gives a list
        bad = [p for p in self.readout if p != "final" and readout_stage(p) is None]
        if not self.readout or bad or len(set(self.readout)) != len(self.readout):
            raise ValueError(f"readout must list distinct 'final' or 'stageN' parts, got {list(self.readout)}")
        if self.timestamp_mode not in ("shared", "windows"):
            raise ValueError(f"timestamp_mode must be 'shared' or 'windows', got {self.timestamp_mode!r}")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"precision must be 'fp32', 'bf16' or 'auto', got {self.precision!r}")
        if self.timestamp_shifts < 1 or 32 % self.timestamp_shifts:
            raise ValueError(f"timestamp_shifts must divide 32, got {self.timestamp_shifts}")


def readout_stage(part: str) -> int | None:
    """The stage index of a ``hear.readout`` part ("stage3" or "stage3.std" -> 3); None for any other part."""
    name = part.removesuffix(".std")
    return int(name[5:]) if name.startswith("stage") and name[5:].isdigit() else None


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model, plus free-form provenance."""

    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    hear: HearConfig = field(default_factory=HearConfig)
    embedding_size: int = 1280
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build a config from a dict (type-checked like a pretraining config), naming any unknown key."""
        sections = {"frontend": FrontEndConfig, "encoder": EncoderConfig, "hear": HearConfig}
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in sections:
                if not isinstance(value, dict):
                    raise ConfigError(f"model config section {key!r} must be a table, got {value!r}")
                kwargs[key] = build_section(sections[key], key, value)
            elif key == "embedding_size":
                kwargs[key] = coerce(value, int, key)
            else:
                kwargs[key] = value
        return cls(**kwargs)


def build_section(section_cls: type, name: str, values: dict[str, Any]) -> Any:
    """One config section (a dataclass) from a table: unknown keys and values of the wrong type raise
    ``ConfigError`` naming them; the section's own checks (``__post_init__``) apply."""
    hints = typing.get_type_hints(section_cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise ConfigError(f"unknown key(s) {[f'{name}.{k}' for k in unknown]}; known in [{name}]: {sorted(hints)}")
    kwargs = {key: coerce(value, hints[key], f"{name}.{key}") for key, value in values.items()}
    try:
        return section_cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"[{name}]: {exc}") from exc


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a field's type hint; ints are accepted for floats, lists for tuples."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {hint}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(coerce(v, item, key) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a table, got {value!r}")
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if isinstance(value, hint):
        return value
    raise ConfigError(f"{key} must be of type {hint.__name__}, got {value!r}")


def parse_override(text: str) -> tuple[str, Any]:
    """``"section.key=value"`` -> ``("section.key", value)``: the one override grammar of every tool.

    The value is read as a TOML value (``3``, ``1e-3``, ``true``, ``["a", "b"]``, ``"x"``);
    a bare word that is not TOML is taken as a string; ``none``/``null`` mean unset.
    """
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ConfigError(f"an override must look like section.key=value, got {text!r}")
    if raw.lower() in ("none", "null"):
        return key, None
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw
