"""What every suite task provides: a cheap deterministic plan of its clips and a renderer.

``plan`` lists every clip of the full task (split, label, nuisance group, source
recordings and the random parameters of its rendering) without making audio; the
mini suite is a seeded subset of that plan, so its splits are those of the full
suite, and the pool reads the plans to leave out the suite's valid/test recordings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from cola_common.provenance import file_sha256
from cola_suite.hear_format import TaskSpec
from cola_suite.sources import SourceCache
from cola_suite.splits import SPLITS, rng_for

MINI_CLIPS_PER_SPLIT = 8  # the mini suite keeps about this many clips per split...
MINI_LABELS = 8  # ...of at most this many labels (the same labels in every split)


@dataclass(frozen=True)
class ClipPlan:
    stem: str
    split: str
    label: str | None  # the class of a scene clip; None for event clips (labels come with the audio)
    group: str  # value of the split factor (speaker, kit, piece...)
    recordings: tuple[str, ...]  # "<package>:<path>" of every source recording the clip uses
    params: Any = None  # task-specific rendering parameters


@dataclass
class Rendered:
    clip: ClipPlan
    audio: np.ndarray | None = None  # float32 at 16 kHz; None when the clip could not be made
    events: list[dict[str, Any]] | None = None  # event tasks: [{"label", "start", "end"}] in ms
    skip_reason: str = ""


@dataclass
class BuildContext:
    cache: SourceCache
    seed: int = 0
    mini: bool = False
    jobs: int = 2
    notes: dict[str, Any] = field(default_factory=dict)  # per-task facts for the manifest

    @property
    def mode(self) -> str:
        return "mini" if self.mini else "full"


class SuiteTask(ABC):
    """One downstream task of the suite."""

    spec: TaskSpec
    label_order: Sequence[str] | None = None  # vocabulary order; None: sorted
    # Seconds of the full build on the 2-core machine (one worker), where over a minute; parallel
    # builds start the slowest first so the workers finish together. Nothing else depends on it.
    build_seconds: float = 0.0

    @abstractmethod
    def plan(self, ctx: BuildContext) -> list[ClipPlan]:
        """Every clip of the full task, in a deterministic order."""

    @abstractmethod
    def render(self, clips: Sequence[ClipPlan], ctx: BuildContext) -> Iterator[Rendered]:
        """Audio (and event labels) for ``clips``, one ``Rendered`` per clip in any order."""

    def holdout(self, ctx: BuildContext) -> set[str]:
        """Every source recording on the valid/test side of the full task (the pool leaves them out)."""
        return {r for c in self.plan(ctx) if c.split != "train" for r in c.recordings}

    def mini_labels(self, labels: list[str | None], ctx: BuildContext) -> list[str | None]:
        """The labels the mini suite keeps: a seeded subset of at most ``MINI_LABELS``."""
        if len(labels) <= MINI_LABELS:
            return labels
        order = rng_for(ctx.seed, self.spec.name, "mini-labels").permutation(len(labels))
        return [labels[i] for i in sorted(order[:MINI_LABELS])]

    def select(self, clips: list[ClipPlan], ctx: BuildContext) -> list[ClipPlan]:
        """The clips to build: all of them, or for the mini suite a seeded subset: the same labels in
        every split and the same number of clips per label and split (at least one)."""
        if not ctx.mini:
            return clips
        labels = set(self.mini_labels(sorted({c.label for c in clips}, key=str), ctx))
        by_key: dict[tuple[str, str | None], list[ClipPlan]] = defaultdict(list)
        for c in clips:
            if c.label in labels:
                by_key[(c.split, c.label)].append(c)
        per_key = max(1, MINI_CLIPS_PER_SPLIT // len(labels))
        chosen = []
        for (split, label), group in sorted(by_key.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            group = sorted(group, key=lambda c: c.stem)
            order = rng_for(ctx.seed, self.spec.name, "mini", split, label).permutation(len(group))
            chosen.extend(group[i] for i in sorted(order[:per_key]))
        return sorted(chosen, key=lambda c: (SPLITS.index(c.split), c.stem))


def recording_id(package: str, root: Path, path: Path) -> str:
    """Stable identifier of a source file: ``<package>:<path inside the package>``."""
    return f"{package}:{Path(path).relative_to(root).as_posix()}"


@cache
def content_id(path: Path) -> str:
    """Identifier of a file's bytes: packages ship some recordings under several names."""
    return "sha256:" + file_sha256(path)


def source_ids(package: str, root: Path, path: Path) -> tuple[str, str]:
    """Both identities of a source file (its path and its content), as clips record them."""
    return recording_id(package, root, path), content_id(path)


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    out = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
    return out.strip("._") or "x"
