"""Speaker identification and phrase recognition from the 15 real voice packs of hedgewars-data.

Every pack is one voice actor saying the game's phrases. Phrase files numbered as
variants of one sound (``Ow1``..``Ow4``, ``Jump1``..``Jump3``, ``Ooff1``..``Ooff3``)
are one phrase: the 35 file names present in all packs are 28 phrases.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from cola_hear.audio_io import load_audio
from eval.suite import dsp
from eval.suite.hear_format import TaskSpec
from eval.suite.splits import assign_groups, rng_for
from eval.suite.tasks.base import BuildContext, ClipPlan, Rendered, SuiteTask, recording_id, slug

PACKAGE = "hedgewars-data"
VOICES = Path("usr/share/games/hedgewars/Data/Sounds/voices")


def phrase_of(path: Path) -> str:
    """The phrase a voice file says: its lower-case name without a variant number."""
    return re.sub(r"\d+$", "", path.stem.lower())


def voice_files(ctx: BuildContext) -> tuple[Path, list[tuple[str, Path]]]:
    """Package root and every (pack, file) of the voice packs, sorted."""
    root = ctx.cache.deb(PACKAGE)
    files = sorted((pack.name, f) for pack in (root / VOICES).iterdir() if pack.is_dir() for f in pack.glob("*.ogg"))
    if len({p for p, _ in files}) != 15:
        raise RuntimeError(f"expected 15 hedgewars voice packs under {root / VOICES}")
    return root, files


class _HedgewarsTask(SuiteTask):
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
    )

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root, files = voice_files(ctx)
        weights = Counter(phrase_of(f) for _, f in files)
        packs: dict[str, set[str]] = defaultdict(set)
        for pack, f in files:
            packs[phrase_of(f)].add(pack)
        split = assign_groups(weights, ctx.seed, "hedgewars-phrase")
        return [
            ClipPlan(
                stem=slug(f"{pack}-{f.stem}"),
                split=split[phrase_of(f)],
                label=pack,
                group=phrase_of(f),
                recordings=(recording_id(PACKAGE, root, f),),
                params=f.relative_to(root).as_posix(),
            )
            for pack, f in files
        ]


class Phrase(_HedgewarsTask):
    """Split by speaker: ``holdout`` is every file of a valid/test pack, not only its shared phrases."""

    spec = TaskSpec(
        name="phrase",
        embedding_type="scene",
        sample_duration=2.5,
        evaluation=("top1_acc",),
        split_factor="speaker (voice pack)",
        description="Which of the 28 phrases shared by all 15 hedgewars voice packs is said; test speakers are unseen.",
        sources=(PACKAGE,),
    )

    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        root, files = voice_files(ctx)
        names_per_pack: dict[str, set[str]] = defaultdict(set)
        for pack, f in files:
            names_per_pack[pack].add(f.stem.lower())
        shared = set.intersection(*names_per_pack.values())
        kept = [(pack, f) for pack, f in files if f.stem.lower() in shared]
        weights = Counter(pack for pack, _ in kept)
        split = assign_groups(weights, ctx.seed, "hedgewars-pack")
        ctx.notes[self.spec.name] = {"shared_file_names": len(shared), "phrases": len({phrase_of(f) for _, f in kept})}
        return [
            ClipPlan(
                stem=slug(f"{pack}-{f.stem}"),
                split=split[pack],
                label=phrase_of(f),
                group=pack,
                recordings=(recording_id(PACKAGE, root, f),),
                params=f.relative_to(root).as_posix(),
            )
            for pack, f in kept
        ]

    def holdout(self, ctx: BuildContext) -> set[str]:
        root, files = voice_files(ctx)
        split = {c.group: c.split for c in self.plan(ctx)}
        return {recording_id(PACKAGE, root, f) for pack, f in files if split[pack] != "train"}
