"""The in-domain pretraining pool (``cola-suite pool --domain suite``): the suite's own sources.

Every audio file of the suite's source packages (music, voices, words, effects, drum
samples, bird song) except the recordings any suite task holds out for valid/test
(whole sessions, kits, speakers and words, not only the clips made from them, and any
copy of them shipped under another name); synthetic sentences said by the keyword
task's TRAIN speakers only; and renders of music21 pieces the suite does not use, with
the train soundfont (FluidR3_GM) only. It measures in-domain adaptation, not
general-purpose representations: it is kept to compare with the disjoint pool.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from cola_common.audio_files import AUDIO_EXTENSIONS
from cola_suite import dsp
from cola_suite.midi import render_segments
from cola_suite.pools.files import PoolFile, convert_files, write_audio
from cola_suite.sources import SourceCache
from cola_suite.speech import Synthesizer, Utterance
from cola_suite.splits import rng_for
from cola_suite.tasks import TASKS
from cola_suite.tasks.base import BuildContext, content_id, recording_id, slug
from cola_suite.tasks.birds import BIRD_WHEELS, bird_song_files
from cola_suite.tasks.keywords import train_voices
from cola_suite.tasks.music import Excerpt, opening_segment, random_programs, read_pieces, unused_pieces
from cola_suite.tasks.notes import SOUNDFONTS

log = logging.getLogger(__name__)

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


def suite_pool_records(ctx: BuildContext, staging: Path, excluded: Counter) -> tuple[list[dict[str, Any]], set[str]]:
    """Write the in-domain pool's files into ``staging``; returns their records and the packages used."""
    ctx.cache.debs([p for p, _ in FILE_SOURCES])
    held = holdout_recordings(ctx)
    log.info("pool: %d suite recordings are held out for valid/test and stay out of the pool", len(held))
    records = convert_files(_package_files(ctx.cache, held, excluded), staging, ctx.jobs)
    speech, voice_packages = _write_speech(ctx, staging)
    records += speech
    records += _write_music(ctx, staging)
    packages = {r["source"] for r in records} | {SOUNDFONTS["train"][0]} | voice_packages
    return records, packages


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
        for path in bird_song_files(root):
            rid = recording_id(wheel, root, path)
            if rid in held or content_id(path) in held:
                excluded[wheel] += 1
                continue
            found.append((PoolFile(f"{wheel}/{slug(path.stem)}.wav", wheel, rid), path))
    return found


def _write_speech(ctx: BuildContext, staging: Path) -> tuple[list[dict[str, Any]], set[str]]:
    """Sentences said by the keyword task's train speakers (never a valid/test speaker), and the voice packages."""
    train = train_voices(ctx.seed)
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
        write_audio(staging, item, dsp.peak_normalize(audio, 0.9))
        for item, audio in zip(items, audios, strict=True)
        if audio is not None
    ]
    return records, {p for u in utts for p in u.voice.packages}


def _write_music(ctx: BuildContext, staging: Path) -> list[dict[str, Any]]:
    """Excerpts of music21 pieces the suite does not use, rendered with the train soundfont."""
    candidates = unused_pieces(ctx.seed)
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
        ex = Excerpt(ref, 0, float(rng.uniform(0.9, 1.1)), "train", bool(rng.uniform() < 0.4), random_programs(rng))
        seg = opening_segment(piece, ex, MUSIC_EXCERPT, ctx.seed, f"pool-{ref.id}")
        if seg is None:
            continue
        segments.append(seg)
        items.append(PoolFile(f"music21/{slug(ref.id.split(':', 1)[1].replace('/', '-'))}.wav", "music21", ref.id))
        total += seg.length
    package, sf = SOUNDFONTS["train"]
    audios = render_segments(ctx.cache.deb(package) / sf, segments)
    return [
        write_audio(staging, item, dsp.peak_normalize(audio, 0.9))
        for item, audio in zip(items, audios, strict=True)
        if dsp.rms(audio) > 1e-4
    ]
