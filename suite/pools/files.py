"""Writing pool files: decode or take audio, store it as 16 kHz mono PCM_16 WAV, and describe it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cola_common.audio_files import AudioError, load_audio
from cola_suite.build import single_threaded_worker
from cola_suite.hear_format import SAMPLE_RATE, wav_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolFile:
    name: str  # path inside the pool
    source: str  # package or tool
    origin: str  # recording id, or what was synthesised/rendered


def write_audio(staging: Path, item: PoolFile, audio: np.ndarray) -> dict[str, Any]:
    """Write ``audio`` (float32, 16 kHz) as ``staging/item.name``; returns its manifest record."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 1.0:
        audio = audio / np.float32(peak)
    data = wav_bytes(audio)
    target = staging / item.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {
        "file": item.name,
        "source": item.source,
        "origin": item.origin,
        "seconds": round(len(audio) / SAMPLE_RATE, 3),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _convert(job: tuple[PoolFile, Path, Path]) -> dict[str, Any] | None:
    item, path, staging = job
    try:
        audio = load_audio(path, sample_rate=SAMPLE_RATE)
    except AudioError as exc:
        log.warning("pool: skipping %s (%s)", path, exc)
        return None
    return write_audio(staging, item, audio)


def convert_files(files: Sequence[tuple[PoolFile, Path]], staging: Path, jobs: int) -> list[dict[str, Any]]:
    """Decode every ``(item, source path)`` to 16 kHz into ``staging``; unreadable files are skipped (logged)."""
    names = [f.name for f, _ in files]
    if len(set(names)) != len(names):
        raise RuntimeError("pool: two source files map to one pool file name")
    # Largest files first, so long recordings do not end up last on one worker.
    jobs_in = sorted(((f, p, staging) for f, p in files), key=lambda j: (-j[1].stat().st_size, j[0].name))
    bar = tqdm(total=len(jobs_in), desc="pool files", unit="file", mininterval=1.0)
    out = []
    if jobs <= 1:
        for job in jobs_in:
            out.append(_convert(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=single_threaded_worker) as pool:
            for rec in pool.map(_convert, jobs_in, chunksize=max(1, min(16, len(jobs_in) // (64 * jobs)))):
                out.append(rec)
                bar.update()
    bar.close()
    return [r for r in out if r is not None]
