"""Keyword spotting: ten command words plus "unknown" words said by synthetic voices.

Voices: espeak-ng English accents with voice variants, espeak-ng with 20 English-
speaking MBROLA voices (non-commercial licence), flite and festival. Each clip
varies rate and pitch and adds coloured noise at a random SNR. The split is by
speaker: an espeak variant (in every accent), an MBROLA database, or a recorded
speaker behind flite/festival voices (kal and slt are in both), so test voices are
unheard. Splits are drawn per engine family, so every family is in every split.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cola_suite import dsp
from cola_suite.hear_format import TaskSpec
from cola_suite.sources import MBROLA_DATABASES
from cola_suite.speech import FESTIVAL_PACKAGES, Synthesizer, Utterance, Voice
from cola_suite.splits import assign_groups, rng_for
from cola_suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, slug

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
UNKNOWN_WORDS = (
    "bed",
    "bird",
    "cat",
    "dog",
    "eight",
    "five",
    "four",
    "happy",
    "house",
    "marvin",
    "nine",
    "one",
    "seven",
    "sheila",
    "six",
    "three",
    "tree",
    "two",
    "wow",
    "zero",
)
ESPEAK_ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "Alex",
    "Andy",
    "Annie",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "ed",
    "edward",
    "grandma",
    "grandpa",
    "john",
    "linda",
    "max",
    "michael",
    "paul",
    "quincy",
    "rob",
    "robert",
    "steph",
    "travis",
    "victor",
    "zac",
    "adam",
    "iven",
    "norbert",
)
VARIANTS_PER_ACCENT = 6
MBROLA_VOICES = ("mb-en1", "mb-us1", "mb-us2", "mb-us3", *(f"mb-{db}-en" for db in MBROLA_DATABASES[4:]))
FLITE_VOICES = {"kal": "kal", "kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}  # voice -> speaker
FESTIVAL_SPEAKERS = {"kal_diphone": "kal", "ked_diphone": "ked", "cmu_us_slt_arctic_hts": "slt"}
RENDITIONS = 2  # clips per voice and label


def voices(seed: int) -> list[Voice]:
    """All voices of the task (deterministic for a seed)."""
    out = []
    for accent in ESPEAK_ACCENTS:
        order = rng_for(seed, "kws-variants", accent).permutation(len(ESPEAK_VARIANTS))
        for i in sorted(order[:VARIANTS_PER_ACCENT]):
            variant = ESPEAK_VARIANTS[i]
            out.append(Voice("espeak", f"{accent}+{variant}", f"espeak:{variant}"))
    out += [Voice("mbrola", v, f"mbrola:{v.split('-')[1]}") for v in MBROLA_VOICES]
    out += [Voice("flite", v, f"cmu:{s}") for v, s in FLITE_VOICES.items()]
    out += [Voice("festival", v, f"cmu:{s}") for v, s in FESTIVAL_SPEAKERS.items()]
    return out


def speaker_splits(all_voices: Sequence[Voice], seed: int) -> dict[str, str]:
    """speaker -> split, drawn separately within each family (espeak, mbrola, cmu)."""
    weights: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for v in all_voices:
        weights[v.speaker.split(":")[0]][v.speaker] += 1
    out: dict[str, str] = {}
    for family, w in sorted(weights.items()):
        out.update(assign_groups(w, seed, f"kws-speakers-{family}"))
    return out


def train_voices(seed: int) -> list[Voice]:
    """The voices (in ``voices`` order) whose speaker the task puts in its train split: what other
    builders may use without ever giving away a valid/test speaker."""
    all_voices = voices(seed)
    split = speaker_splits(all_voices, seed)
    return [v for v in all_voices if split[v.speaker] == "train"]


@dataclass(frozen=True)
class Take:
    voice: Voice
    word: str
    rate: float
    pitch: float
    noise: str
    snr_db: float
    position: float  # where in the free time the word starts, 0..1


class KeywordSpotting(SuiteTask):
    spec = TaskSpec(
        name="keyword_spotting",
        embedding_type="scene",
        sample_duration=1.0,
        evaluation=("top1_acc",),
        split_factor="synthetic speaker (voice)",
        description="Ten command words or an unknown word, said by espeak-ng, MBROLA, flite and festival voices "
        "in noise.",
        sources=(*FESTIVAL_PACKAGES, "mbrola"),
        tools=("espeak-ng", "flite", "festival"),
        caveats="Synthetic voices only. MBROLA voices are licensed for non-commercial, non-military use only.",
    )
    build_seconds = 69.0
    label_order = (*KEYWORDS, UNKNOWN)

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        all_voices = voices(ctx.seed)
        split = speaker_splits(all_voices, ctx.seed)
        plans = []
        for voice in all_voices:
            for label in self.label_order:
                for k in range(RENDITIONS):
                    stem = slug(f"{voice.engine}-{voice.name}-{label.strip('_')}-{k}")
                    rng = rng_for(ctx.seed, self.spec.name, stem)
                    word = label if label != UNKNOWN else UNKNOWN_WORDS[rng.integers(len(UNKNOWN_WORDS))]
                    take = Take(
                        voice,
                        word,
                        rate=float(rng.uniform(0.8, 1.25)),
                        pitch=float(rng.uniform(0.8, 1.25)),
                        noise=str(rng.choice(["white", "pink", "brown"])),
                        snr_db=float(rng.uniform(5.0, 30.0)),
                        position=float(rng.uniform()),
                    )
                    plans.append(ClipPlan(stem, split[voice.speaker], label, voice.speaker, (f"tts:{voice.id}",), take))
        return plans

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        takes = [c.params for c in clips]
        packages = sorted({p for t in takes for p in t.voice.packages})
        ctx.notes[f"{self.spec.name}:packages"] = packages
        synth = Synthesizer(ctx.cache, jobs=ctx.jobs)
        audios = synth.synthesize([Utterance(t.voice, t.word, t.rate, t.pitch) for t in takes])
        n = self.spec.num_samples
        for clip, take, audio in zip(clips, takes, audios, strict=True):
            if audio is None:
                yield Rendered(clip, skip_reason=f"{take.voice.engine} could not say the word")
                continue
            word = dsp.trim(audio, 35.0)[:n]
            rng = rng_for(ctx.seed, self.spec.name, clip.stem, "mix")
            offset = int(take.position * (n - len(word)))
            clean = dsp.place(word, n, offset)
            noise = dsp.coloured_noise(n, take.noise, rng)
            noisy = dsp.mix_at_snr(clean, noise, take.snr_db)
            yield Rendered(clip, dsp.fit_peak(noisy, rng).astype(np.float32))
