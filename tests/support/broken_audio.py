"""Write a folder of deliberately broken and awkward audio files.

Used by the tests (and runnable by hand: ``python tests/support/broken_audio.py DIR``). Returns
which files a reader must reject and which it must accept.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def write_broken_audio(folder: str | Path, seed: int = 0) -> dict[str, list[Path]]:
    """Create the files; ``{"bad": [...], "good": [...]}`` says what a reader must do with each."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.float32)
    bad: list[Path] = []
    good: list[Path] = []

    def add(name: str, kind: list[Path]) -> Path:
        path = folder / name
        kind.append(path)
        return path

    add("empty.wav", bad).write_bytes(b"")
    add("text_with_wav_extension.wav", bad).write_text("this is not audio\n")
    add("random_bytes.flac", bad).write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    whole = folder / "_whole.wav"
    sf.write(whole, tone, 16000, subtype="PCM_16")
    add("truncated_header.wav", bad).write_bytes(whole.read_bytes()[:30])
    sf.write(add("zero_frames.wav", bad), np.zeros(0, np.float32), 16000)
    nan = tone.copy()
    nan[100:200] = np.nan
    sf.write(add("nan.wav", bad), nan, 16000, subtype="FLOAT")
    inf = tone.copy()
    inf[5] = np.inf
    sf.write(add("inf.wav", bad), inf, 16000, subtype="FLOAT")
    whole.unlink()

    sf.write(add("silence.wav", good), np.zeros(16000, np.float32), 16000)
    sf.write(add("short_0.1s.wav", good), tone[:1600], 16000)
    sf.write(add("stereo_44k.flac", good), np.stack([tone, 0.5 * tone], 1).repeat(3, 0)[:88200], 44100)
    sf.write(add("six_channels_48k.wav", good), np.tile(tone[:, None], (1, 6))[:48000] * 0.5, 48000)
    sf.write(add("rate_8k.wav", good), tone[:8000], 8000)
    sf.write(add("rate_192k.wav", good), rng.standard_normal(192000).astype(np.float32) * 0.1, 192000, subtype="FLOAT")
    sf.write(add("loud_float.wav", good), tone * 40.0, 16000, subtype="FLOAT")
    sf.write(add("pcm24.wav", good), tone, 16000, subtype="PCM_24")
    sf.write(add("vorbis.ogg", good), tone, 16000, format="OGG", subtype="VORBIS")
    # Truncated data section: the header promises more samples than the file holds.
    full = folder / "_full.wav"
    sf.write(full, np.tile(tone, 4), 16000, subtype="PCM_16")
    add("truncated_data.wav", good).write_bytes(full.read_bytes()[: 44 + 2 * 20000])
    full.unlink()
    return {"bad": bad, "good": good}


if __name__ == "__main__":
    out = write_broken_audio(sys.argv[1] if len(sys.argv) > 1 else "broken_audio")
    for kind, paths in out.items():
        print(kind, *(p.name for p in paths))
