"""Instrument family and pitch of single notes rendered from sampled General MIDI instruments.

Each split uses its own soundfont (train FluidR3_GM, valid TimGM6mb, test MuseScore
General), so a probe must generalise to recordings of other instruments. Notes are
held 3 s and cut at 4 s, like NSynth. Families follow NSynth (programs 0-based).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cola_suite import dsp
from cola_suite.hear_format import TaskSpec
from cola_suite.midi import Note, Part, Segment, render_segments
from cola_suite.splits import rng_for
from cola_suite.tasks.base import MINI_LABELS, BuildContext, ClipPlan, Rendered, SuiteTask

SOUNDFONTS = {  # split -> (package, soundfont file)
    "train": ("fluid-soundfont-gm", Path("usr/share/sounds/sf2/FluidR3_GM.sf2")),
    "valid": ("timgm6mb-soundfont", Path("usr/share/sounds/sf2/TimGM6mb.sf2")),
    "test": ("musescore-general-soundfont", Path("usr/share/sounds/sf3/MuseScore_General_Full.sf3")),
}
FAMILIES = {  # NSynth family -> (GM programs, playable MIDI pitch range)
    "bass": (range(32, 40), (28, 60)),
    "brass": (range(56, 64), (40, 79)),
    "flute": (range(72, 80), (60, 96)),
    "guitar": (range(24, 32), (40, 84)),
    "keyboard": (range(0, 8), (28, 100)),
    "mallet": (range(8, 16), (48, 96)),
    "organ": (range(16, 21), (36, 96)),
    "reed": ((21, 22, 23, *range(64, 72)), (45, 84)),
    "string": ((*range(40, 47), *range(48, 52)), (36, 91)),
    "synth_lead": (range(80, 88), (36, 96)),
    "vocal": (range(52, 55), (48, 79)),
}
HOLD, LENGTH = 3.0, 4.0


@dataclass(frozen=True)
class NoteSpec:
    program: int
    pitch: int
    velocity: int


class _NotesTask(SuiteTask):
    """Shared rendering: one fluidsynth batch per soundfont."""

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        by_split: dict[str, list[ClipPlan]] = defaultdict(list)
        for c in clips:
            by_split[c.split].append(c)
        for split, group in sorted(by_split.items()):
            package, sf = SOUNDFONTS[split]
            segments = [
                Segment(LENGTH, (Part(c.params.program, (Note(0.0, HOLD, c.params.pitch, c.params.velocity),)),))
                for c in group
            ]
            for clip, audio in zip(group, render_segments(ctx.cache.deb(package) / sf, segments), strict=True):
                if dsp.rms(audio) < 1e-4:
                    yield Rendered(clip, skip_reason="silent render (program or pitch missing from the soundfont)")
                else:
                    yield Rendered(clip, dsp.fit_peak(audio, rng_for(ctx.seed, self.spec.name, clip.stem, "gain")))

    def _clip(self, ctx: BuildContext, split: str, stem: str, label: str, note: NoteSpec) -> ClipPlan:
        package = SOUNDFONTS[split][0]
        return ClipPlan(
            stem=stem,
            split=split,
            label=label,
            group=package,
            recordings=(f"{package}:program-{note.program:03d}",),
            params=note,
        )


class InstrumentFamily(_NotesTask):
    spec = TaskSpec(
        name="instrument_family",
        embedding_type="scene",
        sample_duration=LENGTH,
        evaluation=("top1_acc",),
        split_factor="soundfont (train FluidR3_GM, valid TimGM6mb, test MuseScore General)",
        description="NSynth-like instrument family (11) of a single rendered note; every split another soundfont.",
        caveats="Rendered, not recorded: each family is a few General MIDI presets per soundfont.",
        sources=tuple(p for p, _ in SOUNDFONTS.values()),
        tools=("fluidsynth",),
    )
    build_seconds = 84.0
    notes_per_family: ClassVar[dict[str, int]] = {"train": 80, "valid": 40, "test": 40}

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        plans = []
        for split, count in self.notes_per_family.items():
            for family, (programs, (low, high)) in sorted(FAMILIES.items()):
                programs = list(programs)
                order = rng_for(ctx.seed, self.spec.name, split, family).permutation(len(programs))
                for i in range(count):
                    stem = f"{split}-{family}-{i:03d}"
                    rng = rng_for(ctx.seed, self.spec.name, stem)
                    note = NoteSpec(
                        programs[order[i % len(programs)]], int(rng.integers(low, high + 1)), int(rng.integers(70, 128))
                    )
                    plans.append(self._clip(ctx, split, stem, family, note))
        return plans


PITCHES = tuple(range(36, 85))  # C2..C6; the first is a C, so vocabulary index % 12 is the pitch class


class Pitch(_NotesTask):
    spec = TaskSpec(
        name="pitch",
        embedding_type="scene",
        sample_duration=LENGTH,
        evaluation=("pitch_acc", "chroma_acc"),
        split_factor="soundfont (train FluidR3_GM, valid TimGM6mb, test MuseScore General)",
        description="MIDI pitch (36-84) of a single rendered note of a random instrument; "
        "every split another soundfont.",
        sources=tuple(p for p, _ in SOUNDFONTS.values()),
        tools=("fluidsynth",),
    )
    build_seconds = 86.0
    label_order = tuple(str(p) for p in PITCHES)

    def mini_labels(self, labels: list[str | None], ctx: BuildContext) -> list[str | None]:
        """Consecutive pitches from middle C, so vocabulary index % 12 stays the pitch class."""
        return [str(p) for p in range(60, 60 + MINI_LABELS)]

    notes_per_pitch: ClassVar[dict[str, int]] = {"train": 16, "valid": 8, "test": 8}

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        plans = []
        for split, count in self.notes_per_pitch.items():
            for pitch in PITCHES:
                playable = sorted(
                    p for programs, (low, high) in FAMILIES.values() if low <= pitch <= high for p in programs
                )
                for i in range(count):
                    stem = f"{split}-{pitch:03d}-{i:02d}"
                    rng = rng_for(ctx.seed, self.spec.name, stem)
                    note = NoteSpec(playable[rng.integers(len(playable))], pitch, int(rng.integers(70, 128)))
                    plans.append(self._clip(ctx, split, stem, str(pitch), note))
        return plans
