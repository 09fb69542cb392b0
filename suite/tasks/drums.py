"""Percussion classification and drum-hit event detection from the 14 real kits of hydrogen-drumkits.

Classes come from the instrument names in each kit's ``drumkit.xml`` (kick, snare,
hihat, tom, cymbal, and perc for claps and hand percussion; names that say nothing,
such as "17" or "FX", are left out). Both tasks split by kit with one shared
assignment, so a kit's samples are in the same split in both.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from cola_common.audio_files import AUDIO_EXTENSIONS, load_audio
from cola_suite import dsp
from cola_suite.hear_format import TaskSpec, event
from cola_suite.splits import SPLITS, assign_groups, rng_for
from cola_suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, content_id, slug, source_ids

PACKAGE = "hydrogen-drumkits"
KITS = Path("usr/share/hydrogen/data/drumkits")
CLASSES = ("kick", "snare", "hihat", "tom", "cymbal", "perc")
RULES = (  # first match wins
    ("kick", r"kick|bass ?drum"),
    ("snare", r"snare"),
    ("hihat", r"\bhh\b|hi-?hat|\bhat\b"),
    ("perc", r"cowbell|tambourine|agogo|conga|bongo|cajon|maraca|clave|woodblock|snaps|clap|djembe|shake"),
    ("cymbal", r"crash|ride|cymbal|china|splash"),
    ("tom", r"\btom"),
)


@dataclass(frozen=True)
class Sample:
    kit: str
    label: str
    path: Path  # absolute


def classify(instrument: str) -> str | None:
    """Drum class of a hydrogen instrument name, or None when the name does not tell."""
    name = instrument.lower()
    for label, pattern in RULES:
        if re.search(pattern, name):
            return label
    return None


def drum_samples(root: Path) -> list[Sample]:
    """Every classifiable sample file of every kit (each recording once), sorted."""
    samples: dict[Path, Sample] = {}
    seen: set[str] = set()
    for xml in sorted((root / KITS).glob("*/drumkit.xml")):
        tree = ET.parse(xml).getroot()
        ns = tree.tag.split("}")[0] + "}" if tree.tag.startswith("{") else ""
        for inst in tree.iter(f"{ns}instrument"):
            label = classify(inst.findtext(f"{ns}name") or "")
            if label is None:
                continue
            for fn in inst.iter(f"{ns}filename"):
                path = xml.parent / (fn.text or "")
                if fn.text and path.is_file() and path not in samples and content_id(path) not in seen:
                    seen.add(content_id(path))
                    samples[path] = Sample(xml.parent.name, label, path)
    return [samples[p] for p in sorted(samples)]


def kit_splits(samples: Sequence[Sample], seed: int) -> dict[str, str]:
    """The kit -> split assignment both drum tasks share (every split holds every class)."""
    counts: dict[str, int] = defaultdict(int)
    labels: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        counts[kit_family(s.kit)] += 1
        labels[kit_family(s.kit)].add(s.label)
    # square-root weights: kits differ tenfold in size, and a test split of one big kit would be weak
    family = assign_groups({k: math.sqrt(n) for k, n in counts.items()}, seed, "hydrogen-kit", labels=labels)
    return {s.kit: family[kit_family(s.kit)] for s in samples}


def kit_family(kit: str) -> str:
    """Kits made from one drummer's recordings (the three Millo kits) are one group."""
    return "Millo" if kit.startswith("Millo") else kit


class Percussion(SuiteTask):
    spec = TaskSpec(
        name="percussion",
        embedding_type="scene",
        sample_duration=1.0,
        evaluation=("top1_acc",),
        split_factor="drum kit",
        description="Which kind of drum a real hydrogen kit sample is (kick snare hihat tom cymbal perc).",
        sources=(PACKAGE,),
    )
    label_order = CLASSES

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root = ctx.cache.deb(PACKAGE)
        samples = drum_samples(root)
        split = kit_splits(samples, ctx.seed)
        return [
            ClipPlan(
                stem=slug(f"{s.kit}-{s.path.stem}"),
                split=split[s.kit],
                label=s.label,
                group=s.kit,
                recordings=source_ids(PACKAGE, root, s.path),
                params=s.path,
            )
            for s in samples
        ]

    def holdout(self, ctx: BuildContext) -> set[str]:
        """Every file of the valid/test kits, classified or not."""
        root = ctx.cache.deb(PACKAGE)
        split = kit_splits(drum_samples(root), ctx.seed)
        return {
            i
            for kit, sp in split.items()
            if sp != "train"
            for f in (root / KITS / kit).rglob("*")
            if f.suffix.lower() in AUDIO_EXTENSIONS
            for i in source_ids(PACKAGE, root, f)
        }

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        for clip in clips:
            audio = load_audio(clip.params, duration=self.spec.sample_duration)
            audio = audio[dsp.active_span(audio, 50.0)[0] :]  # start at the hit
            yield Rendered(clip, dsp.fit_peak(audio, rng_for(ctx.seed, self.spec.name, clip.stem)))


@dataclass(frozen=True)
class Hit:
    onset: float  # seconds
    sample: Path
    label: str
    peak: float


class DrumEvents(SuiteTask):
    spec = TaskSpec(
        name="drum_events",
        embedding_type="event",
        prediction_type="multilabel",  # frames hold zero or several hits; heareval's event runner needs it
        sample_duration=6.0,
        evaluation=("event_onset_200ms_fms", "segment_1s_er"),
        split_factor="drum kit",
        description="Onsets and offsets of 2-6 real drum hits of one hydrogen kit placed at random times in noise.",
        sources=(PACKAGE,),
        caveats="Backgrounds are coloured noise only; event ends are where a hit decays 30 dB below its peak.",
    )
    label_order = CLASSES
    clips_per_split: ClassVar[dict[str, int]] = {"train": 240, "valid": 80, "test": 80}
    min_gap = 0.25  # seconds between onsets

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root = ctx.cache.deb(PACKAGE)
        samples = drum_samples(root)
        split = kit_splits(samples, ctx.seed)
        by_kit: dict[str, list[Sample]] = defaultdict(list)
        for s in samples:
            by_kit[s.kit].append(s)
        plans = []
        for sp in SPLITS:
            kits = sorted(k for k in by_kit if split[k] == sp)
            for i in range(self.clips_per_split[sp]):
                stem = f"{sp}-{i:04d}"
                rng = rng_for(ctx.seed, self.spec.name, stem)
                kit = kits[rng.integers(len(kits))]
                hits = self._hits(by_kit[kit], rng)
                plans.append(
                    ClipPlan(
                        stem=stem,
                        split=sp,
                        label=None,
                        group=kit,
                        recordings=tuple(sorted({i for h in hits for i in source_ids(PACKAGE, root, h.sample)})),
                        params=(hits, str(rng.choice(["white", "pink", "brown"])), float(rng.uniform(-50, -30))),
                    )
                )
        return plans

    def _hits(self, kit_samples: list[Sample], rng: np.random.Generator) -> tuple[Hit, ...]:
        labels = sorted({s.label for s in kit_samples})
        n = int(rng.integers(2, 7))
        onsets: list[float] = []
        while len(onsets) < n:
            t = float(rng.uniform(0.05, self.spec.sample_duration - 0.5))
            if all(abs(t - o) >= self.min_gap for o in onsets):
                onsets.append(round(t, 3))
        hits = []
        for t in sorted(onsets):
            label = labels[rng.integers(len(labels))]
            choices = [s for s in kit_samples if s.label == label]
            sample = choices[rng.integers(len(choices))]
            hits.append(Hit(t, sample.path, label, float(rng.uniform(0.2, 0.9))))
        return tuple(hits)

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        n = self.spec.num_samples
        for clip in clips:
            hits, colour, noise_db = clip.params
            rng = rng_for(ctx.seed, self.spec.name, clip.stem, "noise")
            mix = dsp.coloured_noise(n, colour, rng) * np.float32(10 ** (noise_db / 20))
            events = []
            for h in hits:
                audio = load_audio(h.sample, duration=2.0)
                start, _end = dsp.active_span(audio, 50.0)
                audio = dsp.peak_normalize(audio[start:], h.peak)
                span_end = dsp.active_span(audio, 30.0)[1] / dsp.SR
                offset = round(h.onset * dsp.SR)
                mix += dsp.place(audio, n, offset)
                events.append(event(h.label, h.onset, min(h.onset + max(span_end, 0.05), self.spec.sample_duration)))
            peak = float(np.max(np.abs(mix)))
            if peak > 0.99:
                mix *= np.float32(0.99 / peak)
            yield Rendered(clip, mix, events=events)
