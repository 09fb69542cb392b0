"""Rendering notes with sampled instruments: a minimal MIDI writer and batched fluidsynth calls.

Many short segments (single notes, excerpts of pieces) are laid end to end in one
MIDI file, each closed by an "all sound off", rendered by one fluidsynth process
(reverb and chorus off, float output: no dither, deterministic), decoded and
resampled to 16 kHz by ``cola_common.audio_files.load_audio`` and cut back apart.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cola_common.audio_files import load_audio
from cola_suite.sources import require_tool

log = logging.getLogger(__name__)

RENDER_RATE = 32000  # fluidsynth's synthesis rate; resampled to 16 kHz afterwards
TICKS_PER_SECOND = 1000  # tempo 500000 us per quarter and 500 ticks per quarter: 1 tick = 1 ms
GAP = 0.05  # seconds of silence between segments
DRUM_CHANNEL = 9
MELODIC_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


@dataclass(frozen=True)
class Note:
    start: float  # seconds from the segment start
    duration: float
    pitch: int  # MIDI note number
    velocity: int = 100


@dataclass(frozen=True)
class Part:
    program: int  # General MIDI program, 0-based
    notes: tuple[Note, ...]


@dataclass(frozen=True)
class Segment:
    length: float  # seconds rendered; everything still sounding is cut here
    parts: tuple[Part, ...]


def render_segments(soundfont: Path, segments: Sequence[Segment], max_batch_seconds: float = 900.0) -> list[np.ndarray]:
    """Each segment rendered with ``soundfont`` as float32 mono at 16 kHz (``length`` seconds long)."""
    out: list[np.ndarray] = []
    for batch in _batches(segments, max_batch_seconds):
        out.extend(_render_batch(Path(soundfont), batch))
    return out


def _batches(segments: Sequence[Segment], max_seconds: float) -> Iterator[Sequence[Segment]]:
    start, total = 0, 0.0
    for i, seg in enumerate(segments):
        if total and total + seg.length > max_seconds:
            yield segments[start:i]
            start, total = i, 0.0
        total += seg.length + GAP
    if start < len(segments):
        yield segments[start:]


def _render_batch(soundfont: Path, segments: Sequence[Segment]) -> list[np.ndarray]:
    binary = require_tool("fluidsynth")
    offsets = []
    t = GAP
    for seg in segments:
        offsets.append(t)
        t += round(seg.length, 3) + GAP
    with tempfile.TemporaryDirectory(prefix="cola-fluidsynth-") as tmp:
        mid, wav = Path(tmp) / "batch.mid", Path(tmp) / "batch.wav"
        mid.write_bytes(smf_bytes(segments, offsets))
        cmd = [binary, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(RENDER_RATE)]
        cmd += ["-O", "float", "-T", "wav", "-o", "synth.polyphony=512", "-o", "synth.dynamic-sample-loading=1"]
        cmd += ["-F", str(wav), str(soundfont), str(mid)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LANG": "C"})
        if proc.returncode != 0 or not wav.exists():
            raise RuntimeError(f"fluidsynth failed on {soundfont.name}: {proc.stderr.strip()[-500:]}")
        audio = load_audio(wav, sample_rate=16000)
    pieces = []
    for seg, t0 in zip(segments, offsets, strict=True):
        a = round(t0 * 16000)
        n = round(seg.length * 16000)
        piece = np.zeros(n, dtype=np.float32)
        chunk = audio[a : a + n]
        piece[: len(chunk)] = chunk
        pieces.append(piece)
    return pieces


def smf_bytes(segments: Sequence[Segment], offsets: Sequence[float]) -> bytes:
    """A format-0 standard MIDI file playing ``segments`` at ``offsets`` (seconds)."""
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message); order: offs, controls, programs, ons

    def at(seconds: float) -> int:
        return round(seconds * TICKS_PER_SECOND)

    for seg, t0 in zip(segments, offsets, strict=True):
        end = at(t0 + seg.length)
        channels = []
        for i, part in enumerate(seg.parts):
            ch = MELODIC_CHANNELS[i % len(MELODIC_CHANNELS)]
            if ch not in channels:
                channels.append(ch)
                start = at(t0)
                events.append((start, 1, bytes([0xB0 | ch, 121, 0])))  # reset controllers
                events.append((start, 1, bytes([0xB0 | ch, 7, 100])))  # volume
                events.append((start, 1, bytes([0xB0 | ch, 10, 64])))  # pan centre
                events.append((start, 1, bytes([0xB0 | ch, 91, 0])))  # reverb send off
                events.append((start, 1, bytes([0xB0 | ch, 93, 0])))  # chorus send off
                events.append((start, 2, bytes([0xC0 | ch, part.program & 0x7F])))
            for note in part.notes:
                on = at(t0 + note.start)
                off = min(at(t0 + note.start + note.duration), end)
                if off <= on or not 0 <= note.pitch <= 127:
                    continue
                velocity = int(np.clip(note.velocity, 1, 127))
                events.append((on, 3, bytes([0x90 | ch, note.pitch, velocity])))
                events.append((off, 0, bytes([0x80 | ch, note.pitch, 0])))
        for ch in channels:
            events.append((end, 1, bytes([0xB0 | ch, 123, 0])))  # all notes off
            events.append((end, 1, bytes([0xB0 | ch, 120, 0])))  # all sound off: cut release tails
    events.sort(key=lambda e: (e[0], e[1]))
    track = bytearray(b"\x00\xff\x51\x03\x07\xa1\x20")  # tempo 500000 us per quarter
    last = 0
    for tick, _, msg in events:
        track += _varlen(tick - last) + msg
        last = tick
    track += _varlen(TICKS_PER_SECOND // 2) + b"\xff\x2f\x00"  # end of track half a second later
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_SECOND // 2)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))
