"""Spoken language identification from the real spoken stamp descriptions of tuxpaint-stamps-default.

The nine languages with 300+ descriptions are used. The split is by word: the
descriptions of one stamp in every language, of the stamps that show the same word
(letters filled or outlined, upper or lower case), and of stamps that reuse one
recording (the package ships 839 recordings under several names) are all in one
split, and each recording is used once. Files recorded below 16 kHz are left out
(their missing bandwidth would give the language away).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from cola_common.audio_files import audio_info, load_audio
from cola_suite import dsp
from cola_suite.hear_format import TaskSpec
from cola_suite.splits import assign_groups, connected, rng_for
from cola_suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, content_id, slug, source_ids

PACKAGE = "tuxpaint-stamps-default"
STAMPS = Path("usr/share/tuxpaint/stamps")
LANGUAGES = ("be", "bg", "ca", "da", "el", "es", "fr", "ro", "ru")
DESCRIPTION = re.compile(r"^(?P<stamp>.+)_desc_(?P<lang>[a-zA-Z_@]+)\.(ogg|wav)$")


def stamp_word(stamp: str) -> str:
    """Stamps that show the same word share this key: letters filled or outlined, upper or lower case."""
    parts = [p for p in stamp.split("/") if p not in ("filled", "outlined", "uppercase", "lowercase")]
    name = re.sub(r"_(filled|outline)$", "", parts[-1])
    return "/".join([*parts[:-1], name.lower() if "alphabets" in parts else name])


def word_groups(root: Path) -> dict[str, str]:
    """stamp -> its group, named by a word: stamps showing the same word, or sharing any recording (the
    package reuses one recording for several stamps, e.g. fireman200b and fireman240a), are one group."""
    found = descriptions(root)
    links = []
    for stamp, _, f in found:
        links += [(f"stamp:{stamp}", f"word:{stamp_word(stamp)}"), (f"word:{stamp_word(stamp)}", content_id(f))]
    component = connected(links)
    words: dict[str, list[str]] = defaultdict(list)
    for stamp, _, _ in found:
        words[component[f"stamp:{stamp}"]].append(stamp_word(stamp))
    return {stamp: min(words[component[f"stamp:{stamp}"]]) for stamp, _, _ in found}


@lru_cache(maxsize=4)
def descriptions(root: Path) -> tuple[tuple[str, str, Path], ...]:
    """Every (stamp, language, file) spoken description in the package, sorted."""
    found = []
    for f in sorted((root / STAMPS).rglob("*_desc_*")):
        m = DESCRIPTION.match(f.name)
        if m:
            stamp = (f.parent / m.group("stamp")).relative_to(root / STAMPS).as_posix()
            found.append((stamp, m.group("lang"), f))
    return tuple(found)


class LanguageId(SuiteTask):
    spec = TaskSpec(
        name="language_id",
        embedding_type="scene",
        sample_duration=3.0,
        evaluation=("top1_acc",),
        split_factor="word (stamps showing one word or sharing a recording)",
        description="Which of 9 languages (be bg ca da el es fr ro ru) a real spoken tuxpaint stamp description is in.",
        sources=(PACKAGE,),
        caveats="Each language is read by one or very few voices, so language and speaker are confounded: "
        "simple spectral statistics already separate the languages well. Use it as an easy task.",
    )
    build_seconds = 84.0

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root = ctx.cache.deb(PACKAGE)
        group = word_groups(root)
        kept, low_rate, seen = [], 0, set()
        for stamp, lang, f in descriptions(root):
            if lang not in LANGUAGES or content_id(f) in seen:  # one copy of a reused recording
                continue
            seen.add(content_id(f))
            if audio_info(f).sample_rate < 16000:
                low_rate += 1
                continue
            kept.append((stamp, lang, f))
        weights = Counter(group[stamp] for stamp, _, _ in kept)
        langs: dict[str, set[str]] = defaultdict(set)
        for stamp, lang, _ in kept:
            langs[group[stamp]].add(lang)
        split = assign_groups(weights, ctx.seed, "tuxpaint-word", labels=langs)
        ctx.notes[self.spec.name] = {"left_out_below_16k": low_rate, "word_groups": len(weights)}
        return [
            ClipPlan(
                stem=slug(f"{lang}-{stamp.replace('/', '-')}"),
                split=split[group[stamp]],
                label=lang,
                group=group[stamp],
                recordings=source_ids(PACKAGE, root, f),
                params=f.relative_to(root).as_posix(),
            )
            for stamp, lang, f in kept
        ]

    def holdout(self, ctx: BuildContext) -> set[str]:
        """Descriptions of valid/test words in every language (also the languages the task leaves out)."""
        root = ctx.cache.deb(PACKAGE)
        group = word_groups(root)
        held = {c.group for c in self.plan(ctx) if c.split != "train"}
        return {i for stamp, _, f in descriptions(root) if group[stamp] in held for i in source_ids(PACKAGE, root, f)}

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        root = ctx.cache.deb(PACKAGE)
        for clip in clips:
            audio = load_audio(root / clip.params, duration=self.spec.sample_duration + 0.5)
            yield Rendered(clip, dsp.fit_peak(audio, rng_for(ctx.seed, self.spec.name, clip.stem)))
