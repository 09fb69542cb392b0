"""Music style (the genre task): 5 s excerpts of music21 corpus pieces rendered with sampled instruments.

Seven styles: Bach chorales, Palestrina masses, Monteverdi madrigals, Trecento
pieces, Irish fiddle tunes (O'Neill's 1850), German and Chinese folk songs (Essen).
Every part of every piece gets an instrument drawn from ONE shared pool and a
random soundfont, so timbre does not give the style away. The split is by piece.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cola_suite import dsp
from cola_suite.hear_format import TaskSpec
from cola_suite.midi import Note, Part, Segment, render_segments
from cola_suite.splits import SPLITS, assign_groups, rng_for
from cola_suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask
from cola_suite.tasks.notes import SOUNDFONTS

log = logging.getLogger(__name__)

GERMAN_FOLK = ("altdeu", "ballad", "boehme", "dva", "erk", "fink", "kinder", "zuccal")
STYLES = {  # label -> (corpus folder, file-name test)
    "bach": ("bach", lambda n: n.startswith("bwv") and n.endswith(".mxl")),
    "palestrina": ("palestrina", lambda n: n.endswith(".krn")),
    "monteverdi": ("monteverdi", lambda n: n.startswith("madrigal") and n.endswith(".mxl")),
    "trecento": ("trecento", lambda n: n.endswith(".xml")),
    "irish_fiddle": ("oneills1850", lambda n: n.endswith(".abc")),
    "german_folk": ("essenFolksong", lambda n: n.endswith(".abc") and n.startswith(GERMAN_FOLK)),
    "chinese_folk": ("essenFolksong", lambda n: n.startswith("han") and n.endswith(".abc")),
}
INSTRUMENTS = (0, 4, 6, 11, 19, 21, 24, 40, 42, 46, 48, 52, 56, 60, 65, 68, 70, 71, 73, 74)  # the shared pool
CLIP_SECONDS = 5.0
DEFAULT_QPM = 100.0


@dataclass(frozen=True)
class PieceRef:
    """One piece of the music21 corpus (a score file, or one tune of an ABC collection)."""

    path: str  # relative to the music21 corpus folder
    number: int | None = None  # tune number inside an ABC collection

    @property
    def id(self) -> str:
        return f"music21:{self.path}" + (f"#{self.number}" if self.number is not None else "")


@dataclass(frozen=True)
class PieceNotes:
    """The notes of a piece as ``piece_notes`` reads them."""

    seconds_per_quarter: float
    parts: tuple[tuple[tuple[float, float, int], ...], ...]  # per part: (onset ql, duration ql, midi pitch)


@dataclass(frozen=True)
class Excerpt:
    """How one excerpt of a piece is rendered: where it starts, its tempo, soundfont and instruments."""

    piece: PieceRef
    index: int  # 0: from the first note, 1: from the middle
    tempo: float  # factor on the score's tempo
    soundfont: str  # split key of notes.SOUNDFONTS whose soundfont renders it
    unison: bool  # all parts on one instrument
    programs: tuple[int, ...]


def corpus_root() -> Path:
    try:
        from music21 import corpus
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("music21 is not installed: pip install music21==10.5.1") from exc
    return Path(corpus.__file__).parent


@lru_cache(maxsize=1)
def all_pieces() -> tuple[PieceRef, ...]:
    """Every piece of the music21 corpus: score files and the tunes of ABC collections (ids are unique)."""
    root = corpus_root()
    refs: list[PieceRef] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.suffix in (".abc",):
            numbers = sorted({int(m) for m in re.findall(r"^X:\s*(\d+)", path.read_text(errors="replace"), re.M)})
            refs.extend(PieceRef(rel, n) for n in numbers)
        elif path.suffix in (".mxl", ".xml", ".krn", ".musicxml", ".mid"):
            refs.append(PieceRef(rel))
    return tuple(refs)


def style_pieces() -> dict[str, list[PieceRef]]:
    """Candidate pieces of every style (O'Neill tunes printed in two files are kept once)."""
    out: dict[str, list[PieceRef]] = {}
    for label, (folder, accept) in STYLES.items():
        refs = [r for r in all_pieces() if r.path.startswith(folder + "/") and accept(Path(r.path).name)]
        if label == "irish_fiddle":
            first: dict[int | None, PieceRef] = {}
            for r in refs:
                first.setdefault(r.number, r)
            refs = sorted(first.values(), key=lambda r: r.id)
        out[label] = refs
    return out


def piece_notes(ref: PieceRef) -> PieceNotes | None:
    """Notes of every part of a piece (ties merged, tempo from its first metronome mark); None if unreadable."""
    from music21 import converter, stream, tempo

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(corpus_root() / ref.path, number=ref.number, forceSource=True)
            if isinstance(score, stream.Opus):
                score = score.scores[0]
            marks = list(score.flatten().getElementsByClass(tempo.MetronomeMark))
            qpm = next((m.getQuarterBPM() for m in marks if m.getQuarterBPM()), None) or DEFAULT_QPM
            parts = list(score.parts) if score.hasPartLikeStreams() else [score]
            notes = []
            for part in parts:
                events = _tied_notes(part.flatten().notes)
                if events:
                    notes.append(tuple(sorted(events)))
    except Exception as exc:  # music21 raises many exception types on malformed scores
        log.debug("cannot read %s: %s", ref.id, exc)
        return None
    return PieceNotes(60.0 / qpm, tuple(notes)) if notes else None


def _tied_notes(elements) -> list[tuple[float, float, int]]:
    """(onset, duration, pitch) in quarter lengths; a tied continuation extends its note (music21's
    ``stripTies`` does the same but is slow on long polyphonic scores)."""
    events: list[list] = []
    sounding: dict[int, int] = {}  # pitch -> index of the note it may continue
    for el in elements:
        ql = float(el.duration.quarterLength)
        if ql <= 0:  # grace notes
            continue
        onset = float(el.offset)
        for n in getattr(el, "notes", None) or [el]:
            pitch = getattr(n, "pitch", None)
            if pitch is None:
                continue
            tie = (n.tie or el.tie).type if (n.tie or el.tie) else None
            i = sounding.get(pitch.midi)
            if tie in ("stop", "continue") and i is not None and abs(events[i][0] + events[i][1] - onset) < 1e-6:
                events[i][1] += ql
            else:
                sounding[pitch.midi] = len(events)
                events.append([onset, ql, int(pitch.midi)])
    return [(o, d, p) for o, d, p in events]


def segment_of(notes: PieceNotes, start: float, length: float, ex: Excerpt, seed: int, key: str) -> Segment | None:
    """Notes starting within [start, start + length) seconds, on the excerpt's instruments; None if < 3 notes."""
    rng = rng_for(seed, key, "velocity")
    spq = notes.seconds_per_quarter / ex.tempo
    parts = []
    count = 0
    for i, events in enumerate(notes.parts):
        base = int(rng.integers(70, 111))
        chosen = []
        for onset, ql, pitch in events:
            t = onset * spq - start
            if 0 <= t < length:
                chosen.append(Note(round(t, 3), ql * spq, pitch, base + int(rng.integers(-8, 9))))
        count += len(chosen)
        program = ex.programs[0] if ex.unison else ex.programs[i % len(ex.programs)]
        parts.append(Part(program, tuple(chosen)))
    return Segment(length, tuple(parts)) if count >= 3 else None


def piece_span(notes: PieceNotes, tempo: float) -> tuple[float, float]:
    """First onset and last note end in seconds."""
    spq = notes.seconds_per_quarter / tempo
    first = min(e[0] for part in notes.parts for e in part) * spq
    last = max(e[0] + e[1] for part in notes.parts for e in part) * spq
    return first, last


def opening_segment(notes: PieceNotes, ex: Excerpt, max_seconds: float, seed: int, key: str) -> Segment | None:
    """The excerpt from the piece's first note: ``max_seconds`` long, or up to one second past the last note
    when the piece is shorter (at the excerpt's tempo); None if it holds fewer than 3 notes."""
    first, last = piece_span(notes, ex.tempo)
    return segment_of(notes, first, round(min(max_seconds, last - first + 1.0), 3), ex, seed, key)


def random_programs(rng: np.random.Generator) -> tuple[int, ...]:
    """16 General MIDI programs drawn from the shared pool ``INSTRUMENTS`` (an excerpt's part ``i`` plays
    program ``i % 16``), as the task draws them."""
    return tuple(int(INSTRUMENTS[i]) for i in rng.integers(len(INSTRUMENTS), size=16))


def unused_pieces(seed: int) -> list[PieceRef]:
    """Every piece of the music21 corpus (in ``all_pieces`` order) that the task does not use with ``seed``,
    in any split."""
    used = {r.id for refs in MusicStyle().pieces(seed).values() for r in refs}
    return [p for p in all_pieces() if p.id not in used]


def read_pieces(refs: Sequence[PieceRef], jobs: int) -> dict[PieceRef, PieceNotes | None]:
    """``piece_notes`` of many pieces, in ``jobs`` processes."""
    refs = sorted(set(refs), key=lambda r: r.id)
    if jobs <= 1 or len(refs) < 40:  # worker start-up (importing music21) costs more than a few parses
        return {r: piece_notes(r) for r in refs}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(refs, pool.map(piece_notes, refs, chunksize=4), strict=True))


class MusicStyle(SuiteTask):
    spec = TaskSpec(
        name="music_style",
        embedding_type="scene",
        sample_duration=CLIP_SECONDS,
        evaluation=("top1_acc",),
        split_factor="piece",
        description="Style of a 5 s rendered excerpt: Bach, Palestrina, Monteverdi, Trecento, Irish fiddle, "
        "German folk, Chinese folk; instruments from one shared pool.",
        sources=tuple(p for p, _ in SOUNDFONTS.values()),
        tools=("music21", "fluidsynth"),
        caveats="Texture differs by style (monophonic folk tunes, polyphonic vocal music), which is part of "
        "style; tempo comes from the score or 100 quarter notes per minute, varied by 10 %.",
    )
    build_seconds = 245.0  # parsing the music21 scores dominates
    pieces_per_style = 60
    excerpts_per_piece = 2

    def pieces(self, seed: int) -> dict[str, list[PieceRef]]:
        """The pieces the task uses, per style (sorted by label): a seeded choice of ``pieces_per_style``."""
        out = {}
        for label, refs in sorted(style_pieces().items()):
            order = rng_for(seed, self.spec.name, "pieces", label).permutation(len(refs))
            out[label] = [refs[i] for i in sorted(order[: self.pieces_per_style])]
        return out

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        plans = []
        for label, chosen in self.pieces(ctx.seed).items():
            split = assign_groups({r.id: 1.0 for r in chosen}, ctx.seed, f"music21-{label}")
            for ref in chosen:
                for k in range(self.excerpts_per_piece):
                    stem = f"{label}-{re.sub(r'[^A-Za-z0-9]+', '_', ref.id.split(':', 1)[1])}-{k}"
                    rng = rng_for(ctx.seed, self.spec.name, stem)
                    ex = Excerpt(
                        piece=ref,
                        index=k,
                        tempo=float(rng.uniform(0.9, 1.1)),
                        soundfont=SPLITS[rng.integers(3)],
                        unison=bool(rng.uniform() < 0.4),
                        programs=random_programs(rng),
                    )
                    plans.append(ClipPlan(stem, split[ref.id], label, ref.id, (ref.id,), ex))
        return plans

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        notes = read_pieces([c.params.piece for c in clips], ctx.jobs)
        segments: dict[str, list[tuple[ClipPlan, Segment]]] = defaultdict(list)
        for clip in clips:
            ex: Excerpt = clip.params
            piece = notes[ex.piece]
            if piece is None:
                yield Rendered(clip, skip_reason="music21 cannot read the piece")
                continue
            first, last = piece_span(piece, ex.tempo)
            start = first if ex.index == 0 else first + max(CLIP_SECONDS, (last - first - CLIP_SECONDS) / 2)
            seg = segment_of(piece, start, CLIP_SECONDS, ex, ctx.seed, clip.stem)
            if start + CLIP_SECONDS > last + 1.0 or seg is None:
                yield Rendered(clip, skip_reason="piece too short for this excerpt")
                continue
            segments[ex.soundfont].append((clip, seg))
        for key, items in sorted(segments.items()):
            package, sf = SOUNDFONTS[key]
            audios = render_segments(ctx.cache.deb(package) / sf, [s for _, s in items])
            for (clip, _), audio in zip(items, audios, strict=True):
                if dsp.rms(audio) < 1e-4:
                    yield Rendered(clip, skip_reason="silent render")
                else:
                    yield Rendered(clip, dsp.fit_peak(audio, rng_for(ctx.seed, self.spec.name, clip.stem, "gain")))
