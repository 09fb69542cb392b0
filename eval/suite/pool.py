"""The unlabelled pretraining pool: real recordings and renders from the suite's sources, minus its held-out side.

What goes in: every audio file of the source packages (music, voices, words, effects,
drum samples, bird song) except the recordings any suite task holds out for
valid/test (whole sessions, kits, speakers and words, not only the clips made from
them, and any copy of them shipped under another name); synthetic sentences said by
the keyword task's TRAIN speakers only; and renders of music21 pieces the suite does not use, with the train soundfont
(FluidR3_GM) only. Files are 16 kHz mono PCM_16 WAV under ``<pool>/<source>/``;
``<pool>/manifest.json`` lists every file (duration, source, licence, origin,
SHA-256) and its ``sha256`` identifies the whole pool (pretraining records it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cola_hear.audio_io import AUDIO_EXTENSIONS, AudioError, load_audio
from eval.suite import dsp
from eval.suite.build import single_threaded_worker, torch_threads
from eval.suite.hear_format import SAMPLE_RATE, dumps, wav_bytes
from eval.suite.midi import render_segments
from eval.suite.sources import SOURCES, TOOL_LICENCES, SourceCache
from eval.suite.speech import Synthesizer, Utterance
from eval.suite.splits import rng_for
from eval.suite.tasks import TASKS
from eval.suite.tasks.base import BuildContext, content_id, recording_id, slug
from eval.suite.tasks.birds import BIRD_WHEELS, NOT_BIRDS
from eval.suite.tasks.keywords import speaker_splits, voices
from eval.suite.tasks.music import INSTRUMENTS, Excerpt, MusicStyle, all_pieces, piece_span, read_pieces, segment_of
from eval.suite.tasks.notes import SOUNDFONTS

log = logging.getLogger(__name__)

POOL_VERSION = "1.0.0"
FILE_SOURCES = (  # package -> folder inside it whose audio files all go in (minus held-out recordings)
    ("wesnoth-1.16-music", "usr/share/games/wesnoth"),
    ("hedgewars-data", "usr/share/games/hedgewars/Data"),
    ("tuxpaint-stamps-default", "usr/share/tuxpaint/stamps"),
    ("ktuberling-data", "usr/share/ktuberling"),
    ("klettres-data", "usr/share/klettres"),
    ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits"),
)
SPEECH_MINUTES = 30.0
MUSIC_MINUTES = 60.0
MUSIC_EXCERPT = 45.0  # seconds rendered per piece

SUBJECTS = (
    "the old man", "a small dog", "my sister", "the teacher", "every child", "the farmer", "our neighbour",
    "the captain", "a tired student", "the baker", "her brother", "the pilot", "a quiet girl", "the doctor",
    "his uncle", "the driver", "a young painter", "the king", "my friend", "the gardener",
)  # fmt: skip
VERBS = (
    "found", "painted", "carried", "opened", "watched", "cooked", "followed", "lost", "fixed", "sold",
    "borrowed", "cleaned", "hid", "bought", "wrapped", "dropped", "counted", "measured", "repaired", "described",
)  # fmt: skip
OBJECTS = (
    "a wooden box", "the blue door", "an old map", "the heavy bag", "a silver spoon", "the broken clock",
    "a basket of apples", "the long letter", "a warm coat", "the paper boat", "a green bottle", "the garden gate",
    "a pair of boots", "the brass lamp", "a loaf of bread", "the small window", "a stack of books", "the kettle",
)  # fmt: skip
PLACES = (
    "in the morning", "near the river", "after dinner", "at the market", "before the storm", "in the kitchen",
    "by the station", "during the summer", "under the bridge", "at midnight", "behind the barn", "on the hill",
    "in the old town", "last winter", "at the harbour", "beside the school",
)  # fmt: skip


@dataclass(frozen=True)
class PoolFile:
    name: str  # path inside the pool
    source: str  # package or tool
    origin: str  # recording id, or what was synthesised/rendered


def sentence(rng: np.random.Generator) -> str:
    words = [s[rng.integers(len(s))] for s in (SUBJECTS, VERBS, OBJECTS, PLACES)]
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def holdout_recordings(ctx: BuildContext) -> set[str]:
    """Union of every suite task's held-out (valid/test) recordings in the FULL suite."""
    full = BuildContext(ctx.cache, seed=ctx.seed, mini=False, jobs=ctx.jobs)
    held: set[str] = set()
    for task in TASKS:
        held |= task.holdout(full)
    return held


def build_pool(out: Path, cache: SourceCache, seed: int = 0, jobs: int = 2) -> dict[str, Any]:
    """Build the pool into ``out`` (atomically replacing an older one); returns its manifest."""
    start = time.perf_counter()
    out = Path(out)
    ctx = BuildContext(cache, seed=seed, jobs=jobs)
    cache.debs([p for p, _ in FILE_SOURCES])
    held = holdout_recordings(ctx)
    log.info("pool: %d suite recordings are held out for valid/test and stay out of the pool", len(held))
    with torch_threads(1):
        return _build_pool(out, cache, ctx, held, start)


def _build_pool(out: Path, cache: SourceCache, ctx: BuildContext, held: set[str], start: float) -> dict[str, Any]:
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    records: list[dict[str, Any]] = []
    excluded: Counter = Counter()
    try:
        files = _package_files(cache, held, excluded)
        records += _write_files(files, staging, ctx.jobs)
        speech, voice_packages = _write_speech(ctx, staging)
        records += speech
        records += _write_music(ctx, staging)
        manifest = _manifest(records, cache, ctx.seed, excluded, voice_packages)
        (staging / "manifest.json").write_text(dumps(manifest))
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "pool: %d files, %.2f hours in %s (%.0f s)",
        manifest["num_files"],
        manifest["total_hours"],
        out,
        time.perf_counter() - start,
    )
    return manifest


def _package_files(cache: SourceCache, held: set[str], excluded: Counter) -> list[tuple[PoolFile, Path]]:
    """Audio files of the source packages and bird wheels that no suite task holds out."""
    found = []
    for package, folder in FILE_SOURCES:
        root = cache.deb(package)
        for path in sorted((root / folder).rglob("*")):
            if path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file():
                continue
            rid = recording_id(package, root, path)
            if rid in held or content_id(path) in held:
                excluded[package] += 1
                continue
            rel = path.relative_to(root / folder).with_suffix("").as_posix()
            found.append((PoolFile(f"{package}/{slug(rel.replace('/', '-'))}.wav", package, rid), path))
    for wheel in BIRD_WHEELS:
        root = cache.wheel(wheel)
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav"):
            rid = recording_id(wheel, root, path)
            if any(tag in path.name for tag in NOT_BIRDS):
                continue
            if rid in held or content_id(path) in held:
                excluded[wheel] += 1
                continue
            found.append((PoolFile(f"{wheel}/{slug(path.stem)}.wav", wheel, rid), path))
    return found


def _convert(job: tuple[PoolFile, Path, Path]) -> dict[str, Any] | None:
    item, path, staging = job
    try:
        audio = load_audio(path, sample_rate=SAMPLE_RATE)
    except AudioError as exc:
        log.warning("pool: skipping %s (%s)", path, exc)
        return None
    return _write(staging, item, audio)


def _write(staging: Path, item: PoolFile, audio: np.ndarray) -> dict[str, Any]:
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


def _write_files(files: Sequence[tuple[PoolFile, Path]], staging: Path, jobs: int) -> list[dict[str, Any]]:
    names = [f.name for f, _ in files]
    if len(set(names)) != len(names):
        raise RuntimeError("pool: two source files map to one pool file name")
    jobs_in = [(f, p, staging) for f, p in files]
    bar = tqdm(total=len(jobs_in), desc="pool files", unit="file", mininterval=1.0)
    out = []
    if jobs <= 1:
        for job in jobs_in:
            out.append(_convert(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=jobs, initializer=single_threaded_worker) as pool:
            for rec in pool.map(_convert, jobs_in, chunksize=16):
                out.append(rec)
                bar.update()
    bar.close()
    return [r for r in out if r is not None]


def _write_speech(ctx: BuildContext, staging: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """Sentences said by the keyword task's train speakers (never a valid/test speaker), and the voice packages."""
    all_voices = voices(ctx.seed)
    split = speaker_splits(all_voices, ctx.seed)
    train = [v for v in all_voices if split[v.speaker] == "train"]
    count = int(SPEECH_MINUTES * 60 / 2.5)  # sentences last about 2.5 s
    utts, items = [], []
    for i in range(count):
        rng = rng_for(ctx.seed, "pool-speech", i)
        voice = train[rng.integers(len(train))]
        text = sentence(rng)
        utts.append(Utterance(voice, text, float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.85, 1.2))))
        items.append(PoolFile(f"speech/{i:05d}-{slug(voice.id)}.wav", voice.tool, f"tts:{voice.id}: {text}"))
    log.info("pool: synthesising %d sentences with %d train voices", count, len(train))
    audios = Synthesizer(ctx.cache, jobs=ctx.jobs).synthesize(utts)
    records = [
        _write(staging, item, dsp.peak_normalize(audio, 0.9))
        for item, audio in zip(items, audios, strict=True)
        if audio is not None
    ]
    return records, {p for u in utts for p in u.voice.packages}


def _write_music(ctx: BuildContext, staging: Path) -> list[dict[str, Any]]:
    """Excerpts of music21 pieces the suite does not use, rendered with the train soundfont."""
    used = {r for c in MusicStyle().plan(BuildContext(ctx.cache, seed=ctx.seed)) for r in c.recordings}
    candidates = [p for p in all_pieces() if p.id not in used]
    order = rng_for(ctx.seed, "pool-music").permutation(len(candidates))
    wanted = int(MUSIC_MINUTES * 60 / MUSIC_EXCERPT * 1.3)  # some pieces are short or unreadable
    chosen = [candidates[i] for i in order[:wanted]]
    log.info("pool: reading %d unused music21 pieces", len(chosen))
    notes = read_pieces(chosen, ctx.jobs)
    segments, items, total = [], [], 0.0
    for ref in chosen:
        piece = notes[ref]
        if piece is None or total >= MUSIC_MINUTES * 60:
            continue
        rng = rng_for(ctx.seed, "pool-music", ref.id)
        ex = Excerpt(ref, 0, float(rng.uniform(0.9, 1.1)), "train", bool(rng.uniform() < 0.4), tuple(
            int(INSTRUMENTS[i]) for i in rng.integers(len(INSTRUMENTS), size=16)
        ))  # fmt: skip
        first, last = piece_span(piece, ex.tempo)
        length = round(min(MUSIC_EXCERPT, last - first + 1.0), 3)
        seg = segment_of(piece, first, length, ex, ctx.seed, f"pool-{ref.id}")
        if seg is None:
            continue
        segments.append(seg)
        items.append(PoolFile(f"music21/{slug(ref.id.split(':', 1)[1].replace('/', '-'))}.wav", "music21", ref.id))
        total += length
    package, sf = SOUNDFONTS["train"]
    audios = render_segments(ctx.cache.deb(package) / sf, segments)
    return [
        _write(staging, item, dsp.peak_normalize(audio, 0.9))
        for item, audio in zip(items, audios, strict=True)
        if dsp.rms(audio) > 1e-4
    ]


def _manifest(
    records: list[dict[str, Any]], cache: SourceCache, seed: int, excluded: Counter, extra_packages: set[str]
) -> dict[str, Any]:
    records = sorted(records, key=lambda r: r["file"])
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r['file']} {r['sha256']}\n".encode())
    by_source: dict[str, dict[str, Any]] = defaultdict(lambda: {"files": 0, "seconds": 0.0})
    for r in records:
        by_source[r["source"]]["files"] += 1
        by_source[r["source"]]["seconds"] += r["seconds"]
    for name, entry in by_source.items():
        entry["seconds"] = round(entry["seconds"], 3)
        entry["licence"] = SOURCES[name].licence if name in SOURCES else TOOL_LICENCES.get(name, "")
    packages = {r["source"] for r in records if r["source"] in SOURCES} | {SOUNDFONTS["train"][0]} | extra_packages
    total = sum(r["seconds"] for r in records)
    return {
        "name": "cola-suite-pool",
        "version": POOL_VERSION,
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "num_files": len(records),
        "total_seconds": round(total, 3),
        "total_hours": round(total / 3600, 3),
        "sha256": digest.hexdigest(),
        "by_source": dict(sorted(by_source.items())),
        "held_out_files_left_out": dict(sorted(excluded.items())),
        "sources": [cache.describe(p) for p in sorted(packages)],
        "notes": "mbrola voices are licensed for non-commercial, non-military use only",
        "files": records,
    }
