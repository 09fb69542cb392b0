"""Spoken language identification from the real spoken stamp descriptions of tuxpaint-stamps-default.

The nine languages with 300+ descriptions are used. The split is by stamp: the
descriptions of one stamp (the same word or phrase in every language) are all in
one split. Files recorded below 16 kHz are left out (their missing bandwidth would
give the language away).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from cola_hear.audio_io import audio_info, load_audio
from eval.suite import dsp
from eval.suite.hear_format import TaskSpec
from eval.suite.splits import assign_groups, rng_for
from eval.suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, recording_id, slug

PACKAGE = "tuxpaint-stamps-default"
STAMPS = Path("usr/share/tuxpaint/stamps")
LANGUAGES = ("be", "bg", "ca", "da", "el", "es", "fr", "ro", "ru")
DESCRIPTION = re.compile(r"^(?P<stamp>.+)_desc_(?P<lang>[a-zA-Z_@]+)\.(ogg|wav)$")


def descriptions(root: Path) -> list[tuple[str, str, Path]]:
    """Every (stamp, language, file) spoken description in the package, sorted."""
    found = []
    for f in sorted((root / STAMPS).rglob("*_desc_*")):
        m = DESCRIPTION.match(f.name)
        if m:
            stamp = (f.parent / m.group("stamp")).relative_to(root / STAMPS).as_posix()
            found.append((stamp, m.group("lang"), f))
    return found


class LanguageId(SuiteTask):
    spec = TaskSpec(
        name="language_id",
        embedding_type="scene",
        sample_duration=3.0,
        evaluation=("top1_acc",),
        split_factor="stamp (the word described)",
        description="Which of 9 languages (be bg ca da el es fr ro ru) a real spoken tuxpaint stamp description is in.",
        sources=(PACKAGE,),
    )

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root = ctx.cache.deb(PACKAGE)
        kept, low_rate = [], 0
        for stamp, lang, f in descriptions(root):
            if lang not in LANGUAGES:
                continue
            if audio_info(f).sample_rate < 16000:
                low_rate += 1
                continue
            kept.append((stamp, lang, f))
        weights = Counter(stamp for stamp, _, _ in kept)
        langs: dict[str, set[str]] = defaultdict(set)
        for stamp, lang, _ in kept:
            langs[stamp].add(lang)
        split = assign_groups(weights, ctx.seed, "tuxpaint-stamp", labels=langs)
        ctx.notes[self.spec.name] = {"left_out_below_16k": low_rate}
        return [
            ClipPlan(
                stem=slug(f"{lang}-{stamp.replace('/', '-')}"),
                split=split[stamp],
                label=lang,
                group=stamp,
                recordings=(recording_id(PACKAGE, root, f),),
                params=f.relative_to(root).as_posix(),
            )
            for stamp, lang, f in kept
        ]

    def holdout(self, ctx: BuildContext) -> set[str]:
        """Descriptions of valid/test stamps in every language (also the languages the task leaves out)."""
        root = ctx.cache.deb(PACKAGE)
        held = {c.group for c in self.plan(ctx) if c.split != "train"}
        return {recording_id(PACKAGE, root, f) for stamp, _, f in descriptions(root) if stamp in held}

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        root = ctx.cache.deb(PACKAGE)
        for clip in clips:
            audio = load_audio(root / clip.params, duration=self.spec.sample_duration + 0.5)
            yield Rendered(clip, dsp.fit_peak(audio, rng_for(ctx.seed, self.spec.name, clip.stem)))
