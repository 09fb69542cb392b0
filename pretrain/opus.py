"""Ogg Opus encoding with reproducible bytes: libsndfile's encoder, then a stream serial chosen by the caller.

libsndfile draws the Ogg stream serial number at random, so two encodings of the same samples differ in
those four bytes of every page (and in each page's checksum). ``encode_opus`` sets the serial to a
value the caller derives from the file's identity and recomputes the page checksums: the same samples
and settings then give the same bytes, and the file's SHA-256 identifies it.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

MIN_KBPS, MAX_KBPS = 6.0, 256.0  # libsndfile maps compression_level 1..0 linearly onto this bitrate range
_PAGE_HEADER = 27  # bytes of an Ogg page header before its segment table


def compression_level(kbps: float) -> float:
    """libsndfile's ``compression_level`` for a target Opus bitrate in kbit/s."""
    if not MIN_KBPS <= kbps <= MAX_KBPS:
        raise ValueError(f"Opus bitrate must be in [{MIN_KBPS:g}, {MAX_KBPS:g}] kbit/s, got {kbps:g}")
    return 1.0 - (kbps - MIN_KBPS) / (MAX_KBPS - MIN_KBPS)


def encode_opus(samples: np.ndarray, sample_rate: int, kbps: float, serial: int) -> bytes:
    """Mono float samples as an Ogg Opus file (bytes), with stream serial ``serial`` (0 .. 2**32-1)."""
    buffer = io.BytesIO()
    sf.write(
        buffer,
        np.asarray(samples, dtype=np.float32),
        sample_rate,
        format="OGG",
        subtype="OPUS",
        compression_level=compression_level(kbps),
    )
    return set_stream_serial(buffer.getvalue(), serial)


def set_stream_serial(data: bytes, serial: int) -> bytes:
    """``data`` (one logical Ogg stream) with every page's serial set to ``serial`` and its checksum redone."""
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos : pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        segments = out[pos + 26]
        end = pos + _PAGE_HEADER + segments + sum(out[pos + _PAGE_HEADER : pos + _PAGE_HEADER + segments])
        out[pos + 14 : pos + 18] = struct.pack("<I", serial)
        out[pos + 22 : pos + 26] = bytes(4)
        out[pos + 22 : pos + 26] = struct.pack("<I", ogg_crc(out[pos:end]))
        pos = end
    return bytes(out)


def ogg_crc(data: bytes | bytearray) -> int:
    """The Ogg page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, initial value 0, no final XOR."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()
