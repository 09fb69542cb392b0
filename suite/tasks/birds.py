"""Bird detection: real bird song mixed into non-bird backgrounds, versus the backgrounds alone.

Bird song comes from the recordings shipped in the pykanto, vocalpy and
opensoundscape wheels (about 2.5 minutes; mouse and fly recordings are left out).
Backgrounds are coloured noise plus real non-bird sound effects from
tuxpaint-stamps-default and hedgewars-data. Bird recordings are split by source
recording (segments of one recording session stay together), effects by file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from cola_common.audio_files import audio_info, load_audio
from cola_suite import dsp
from cola_suite.hear_format import TaskSpec
from cola_suite.splits import SPLITS, assign_groups, rng_for
from cola_suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, content_id, recording_id

BIRD_WHEELS = ("pykanto", "vocalpy", "opensoundscape")
NOT_BIRDS = ("BM003", "deermouse", "fruitfly")  # mouse and fly recordings in vocalpy
EFFECT_PACKAGES = ("tuxpaint-stamps-default", "hedgewars-data")
BIRD, NO_BIRD = "bird", "no_bird"


@dataclass(frozen=True)
class Recording:
    id: str  # "<package>:<path>"
    path: Path
    group: str  # source recording session
    seconds: float


@dataclass(frozen=True)
class Layer:
    recording: Recording
    starts: tuple[float, ...]  # candidate crop starts in the recording (s); the loudest crop is used
    length: float  # crop length (s)
    offset: float  # where it goes in the clip (s)
    level: float  # peak (effects) or SNR in dB (bird)


def bird_song_files(root: Path) -> list[Path]:
    """The bird-song WAV files under ``root`` (an unpacked wheel of ``BIRD_WHEELS``), in path order;
    the mouse and fly recordings some wheels also ship (``NOT_BIRDS``) are left out."""
    wavs = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav")
    return [p for p in wavs if not any(tag in p.name for tag in NOT_BIRDS)]


def bird_recordings(ctx: BuildContext) -> list[Recording]:
    """Every bird recording in the three wheels, grouped by recording session."""
    out = []
    for wheel in BIRD_WHEELS:
        root = ctx.cache.wheel(wheel)
        for path in bird_song_files(root):
            if "great_tit" in path.parts:
                session = re.sub(r"-\d+$", "", path.stem)  # 2021-B32-0415_05-11 -> 2021-B32-0415_05
            elif "BENGALESE_FINCH" in path.parts:
                session = path.parent.name  # one bird
            else:
                session = path.stem
            out.append(
                Recording(recording_id(wheel, root, path), path, f"{wheel}:{session}", audio_info(path).duration)
            )
    return out


def effect_recordings(ctx: BuildContext) -> list[Recording]:
    """Non-bird sound effects: tuxpaint stamp sounds (no birds, no spoken letters or numbers), hedgewars effects."""
    out = []
    tux = ctx.cache.deb("tuxpaint-stamps-default")
    for path in sorted((tux / "usr/share/tuxpaint/stamps").rglob("*.ogg")):
        rel = path.relative_to(tux / "usr/share/tuxpaint/stamps").as_posix()
        if "_desc" in path.name or rel.startswith(("animals/birds/", "symbols/alphabets/", "symbols/math/")):
            continue
        out.append(Recording(recording_id("tuxpaint-stamps-default", tux, path), path, "", 0.0))
    hw = ctx.cache.deb("hedgewars-data")
    for path in sorted((hw / "usr/share/games/hedgewars/Data/Sounds").glob("*.ogg")):
        if "bird" not in path.name.lower():
            out.append(Recording(recording_id("hedgewars-data", hw, path), path, "", 0.0))
    unique = {content_id(r.path): r for r in reversed(out)}  # one copy of a recording shipped twice
    return [Recording(r.id, r.path, r.id, audio_info(r.path).duration) for r in out if unique[content_id(r.path)] is r]


class BirdDetection(SuiteTask):
    spec = TaskSpec(
        name="bird_detection",
        embedding_type="scene",
        sample_duration=5.0,
        evaluation=("aucroc", "top1_acc"),
        split_factor="source recording (bird sessions and background effects)",
        description="Is there bird song in a 5 s scene of noise and real sound effects? Real bird recordings "
        "mixed at -5..20 dB SNR.",
        sources=(*BIRD_WHEELS, *EFFECT_PACKAGES),
        caveats="About 2.5 minutes of bird song from 15 recording sessions in all, so positives reuse crops "
        "of a few recordings per split; bird recordings carry their own field noise.",
    )
    label_order = (BIRD, NO_BIRD)
    clips_per_label: ClassVar[dict[str, int]] = {"train": 240, "valid": 80, "test": 80}

    def splits(self, ctx: BuildContext) -> tuple[list[Recording], list[Recording], dict[str, str]]:
        """Bird and effect recordings, and the split of each (by session for birds, by file for effects)."""
        birds = bird_recordings(ctx)
        effects = effect_recordings(ctx)
        bird_weight: dict[str, float] = defaultdict(float)
        for b in birds:
            bird_weight[b.group] += b.seconds
        session_split = assign_groups(bird_weight, ctx.seed, "bird-sessions")
        split = {b.id: session_split[b.group] for b in birds}
        split.update(assign_groups({e.id: 1.0 for e in effects}, ctx.seed, "bird-backgrounds"))
        return birds, effects, split

    def holdout(self, ctx: BuildContext) -> set[str]:
        """All bird recordings of valid/test sessions and all valid/test effects, used in a clip or not."""
        birds, effects, split = self.splits(ctx)
        return {i for r in (*birds, *effects) if split[r.id] != "train" for i in (r.id, content_id(r.path))}

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        birds, effects, split_of = self.splits(ctx)
        plans = []
        for split in SPLITS:
            split_birds = [b for b in birds if split_of[b.id] == split]
            split_effects = [e for e in effects if split_of[e.id] == split]
            for label in self.label_order:
                for i in range(self.clips_per_label[split]):
                    stem = f"{split}-{label}-{i:04d}"
                    rng = rng_for(ctx.seed, self.spec.name, stem)
                    layers = [self._effect(split_effects, rng) for _ in range(int(rng.integers(1, 4)))]
                    if label == BIRD:
                        layers.append(self._bird(split_birds, rng))
                        group = layers[-1].recording.group
                    else:
                        group = layers[0].recording.id
                    params = (tuple(layers), str(rng.choice(["white", "pink", "brown"])), float(rng.uniform(-50, -25)))
                    recs = tuple(sorted({i for x in layers for i in (x.recording.id, content_id(x.recording.path))}))
                    plans.append(ClipPlan(stem, split, label, group, recs, params))
        return plans

    def _effect(self, effects: list[Recording], rng: np.random.Generator) -> Layer:
        rec = effects[rng.integers(len(effects))]
        length = min(rec.seconds, float(rng.uniform(1.0, self.spec.sample_duration)))
        start = round(float(rng.uniform(0, rec.seconds - length)), 3)
        offset = float(rng.uniform(0, self.spec.sample_duration - min(length, 1.0)))
        return Layer(rec, (start,), round(length, 3), round(offset, 3), float(rng.uniform(0.05, 0.5)))

    def _bird(self, birds: list[Recording], rng: np.random.Generator) -> Layer:
        seconds = np.array([b.seconds for b in birds])
        rec = birds[rng.choice(len(birds), p=seconds / seconds.sum())]
        length = min(rec.seconds, float(rng.uniform(1.0, 4.0)))
        starts = tuple(round(float(x), 3) for x in rng.uniform(0, rec.seconds - length, size=6))
        offset = float(rng.uniform(0, self.spec.sample_duration - length))
        return Layer(rec, starts, round(length, 3), round(offset, 3), float(rng.uniform(-5.0, 20.0)))

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        n = self.spec.num_samples
        decoded: dict[Path, np.ndarray] = {}
        for clip in clips:
            layers, colour, noise_db = clip.params
            rng = rng_for(ctx.seed, self.spec.name, clip.stem, "mix")
            background = dsp.coloured_noise(n, colour, rng) * np.float32(10 ** (noise_db / 20))
            bird = None
            for layer in layers:
                path = layer.recording.path
                if path not in decoded:
                    decoded[path] = load_audio(path)
                audio = _loudest_crop(decoded[path], layer)
                placed = dsp.place(audio, n, round(layer.offset * dsp.SR))
                if clip.label == BIRD and layer is layers[-1]:
                    bird = (placed, layer)
                else:
                    background += dsp.peak_normalize(placed, layer.level)
            mix = background
            if bird is not None:
                placed, layer = bird
                a = round(layer.offset * dsp.SR)
                b = min(n, a + round(layer.length * dsp.SR))
                span_noise = background[a:b]
                gain = dsp.rms(span_noise) / max(dsp.rms(placed[a:b]), 1e-9) * 10 ** (layer.level / 20)
                mix = background + placed * np.float32(gain)
            yield Rendered(clip, dsp.fit_peak(mix, rng))


def _loudest_crop(audio: np.ndarray, layer: Layer) -> np.ndarray:
    """The crop of ``layer.length`` seconds starting at the candidate start with the most energy."""
    n = round(layer.length * dsp.SR)
    crops = [audio[round(s * dsp.SR) : round(s * dsp.SR) + n] for s in layer.starts]
    return max(crops, key=dsp.rms)
