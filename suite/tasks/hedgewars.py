"""Speaker identification and phrase recognition from the 15 real voice packs of hedgewars-data.

Every pack is one voice actor saying the game's phrases. Facts of the data the tasks handle:

* 29 recordings are shipped in two or three packs (``Classic`` reuses many ``Default``
  files, ``Default_uk`` some grunts): a copy has no single speaker, so every copy is left out.
* Phrase files numbered as variants of one sound (``Ow1``..``Ow4``, ``Jump1``..``Jump3``,
  ``Ooff1``..``Ooff3``) are one phrase: the 35 file names present in all packs are 28 phrases.
* Five packs are translations (``Default_es``, ``Default_pl``, ``Default_ru``, ``Default_uk``,
  ``Russian_pl``): the phrase task leaves them out, since a phrase said in a language that no
  training speaker uses cannot be recognised. Speaker identification keeps all 15 packs.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from cola_common.audio_files import load_audio
from cola_suite import dsp
from cola_suite.hear_format import TaskSpec
from cola_suite.splits import assign_groups, rng_for
from cola_suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, content_id, slug, source_ids

PACKAGE = "hedgewars-data"
VOICES = Path("usr/share/games/hedgewars/Data/Sounds/voices")
TRANSLATED_PACKS = ("Default_es", "Default_pl", "Default_ru", "Default_uk", "Russian_pl")


def phrase_of(path: Path) -> str:
    """The phrase a voice file says: its lower-case name without a variant number."""
    return re.sub(r"\d+$", "", path.stem.lower())


def all_voice_files(root: Path) -> list[tuple[str, Path]]:
    """Every (pack, file) of the voice packs, sorted."""
    files = sorted((pack.name, f) for pack in (root / VOICES).iterdir() if pack.is_dir() for f in pack.glob("*.ogg"))
    if len({p for p, _ in files}) != 15:
        raise RuntimeError(f"expected 15 hedgewars voice packs under {root / VOICES}")
    return files


def voice_files(ctx: BuildContext) -> tuple[Path, list[tuple[str, Path]], int]:
    """Package root, every (pack, file) whose recording is in no other pack (sorted), and how many
    files were dropped as copies."""
    root = ctx.cache.deb(PACKAGE)
    files = all_voice_files(root)
    copies = Counter(content_id(f) for _, f in files)
    unique = [(pack, f) for pack, f in files if copies[content_id(f)] == 1]
    return root, unique, len(files) - len(unique)


class _HedgewarsTask(SuiteTask):
    def _clip(self, ctx: BuildContext, root: Path, pack: str, f: Path, split: str, label: str, group: str):
        return ClipPlan(
            stem=slug(f"{pack}-{f.stem}"),
            split=split,
            label=label,
            group=group,
            recordings=source_ids(PACKAGE, root, f),
            params=f.relative_to(root).as_posix(),
        )

    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        root = ctx.cache.deb(PACKAGE)
        for clip in clips:
            audio = load_audio(root / clip.params)
            yield Rendered(clip, dsp.fit_peak(audio, rng_for(ctx.seed, self.spec.name, clip.stem)))


class SpeakerId(_HedgewarsTask):
    spec = TaskSpec(
        name="speaker_id",
        embedding_type="scene",
        sample_duration=2.0,
        evaluation=("top1_acc",),
        split_factor="phrase",
        description="Which of 15 hedgewars voice packs (voice actors) says a phrase; test phrases are unseen.",
        sources=(PACKAGE,),
        caveats="Five packs speak other languages than English, so language helps to tell them apart.",
    )

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root, files, copies = voice_files(ctx)
        weights = Counter(phrase_of(f) for _, f in files)
        split = assign_groups(weights, ctx.seed, "hedgewars-phrase")
        ctx.notes[self.spec.name] = {"recordings_in_several_packs_left_out": copies}
        return [self._clip(ctx, root, pack, f, split[phrase_of(f)], pack, phrase_of(f)) for pack, f in files]

    def holdout(self, ctx: BuildContext) -> set[str]:
        """Every file (copies included) of a valid/test phrase."""
        root = ctx.cache.deb(PACKAGE)
        split = {c.group: c.split for c in self.plan(ctx)}
        held = {phrase for phrase, sp in split.items() if sp != "train"}
        return {i for _, f in all_voice_files(root) if phrase_of(f) in held for i in source_ids(PACKAGE, root, f)}


class Phrase(_HedgewarsTask):
    spec = TaskSpec(
        name="phrase",
        embedding_type="scene",
        sample_duration=2.5,
        evaluation=("top1_acc",),
        split_factor="speaker (voice pack)",
        description="Which of the 28 phrases shared by the hedgewars voice packs is said; the 10 packs that "
        "speak English; test speakers are unseen.",
        sources=(PACKAGE,),
        caveats="Small: 10 speakers, 2 of them in test. Numbered grunts (Ow1..Ow4) are merged into one phrase.",
    )

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root = ctx.cache.deb(PACKAGE)
        names_per_pack: dict[str, set[str]] = defaultdict(set)
        for pack in (root / VOICES).iterdir():
            names_per_pack[pack.name] = {f.stem.lower() for f in pack.glob("*.ogg")}
        shared = set.intersection(*names_per_pack.values())  # the 35 names every pack has
        _, files, copies = voice_files(ctx)
        kept = [(p, f) for p, f in files if f.stem.lower() in shared and p not in TRANSLATED_PACKS]
        split = assign_groups(Counter(p for p, _ in kept), ctx.seed, "hedgewars-pack")
        ctx.notes[self.spec.name] = {
            "shared_file_names": len(shared),
            "phrases": len({phrase_of(f) for _, f in kept}),
            "packs_left_out": list(TRANSLATED_PACKS),
            "recordings_in_several_packs_left_out": copies,
        }
        return [self._clip(ctx, root, pack, f, split[pack], phrase_of(f), pack) for pack, f in kept]

    def holdout(self, ctx: BuildContext) -> set[str]:
        """Every file (copies included) of a valid/test pack."""
        root = ctx.cache.deb(PACKAGE)
        split = {c.group: c.split for c in self.plan(ctx)}
        held = {pack for pack, sp in split.items() if sp != "train"}
        return {i for pack, f in all_voice_files(root) if pack in held for i in source_ids(PACKAGE, root, f)}
