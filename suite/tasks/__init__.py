"""The ten suite tasks, one module per source family."""

from __future__ import annotations

from cola_suite.tasks.base import SuiteTask
from cola_suite.tasks.birds import BirdDetection
from cola_suite.tasks.drums import DrumEvents, Percussion
from cola_suite.tasks.hedgewars import Phrase, SpeakerId
from cola_suite.tasks.keywords import KeywordSpotting
from cola_suite.tasks.language import LanguageId
from cola_suite.tasks.music import MusicStyle
from cola_suite.tasks.notes import InstrumentFamily, Pitch

TASKS: tuple[SuiteTask, ...] = (
    SpeakerId(),
    KeywordSpotting(),
    Phrase(),
    LanguageId(),
    InstrumentFamily(),
    Pitch(),
    MusicStyle(),
    Percussion(),
    BirdDetection(),
    DrumEvents(),
)


def task_by_name(name: str) -> SuiteTask:
    """The suite task called ``name``."""
    for task in TASKS:
        if task.spec.name == name:
            return task
    raise KeyError(f"no suite task {name!r}; tasks: {', '.join(t.spec.name for t in TASKS)}")


def suite_packages() -> set[str]:
    """Every Debian or PyPI package the suite's audio comes from: task sources, speech voices and tools."""
    from cola_suite.sources import SOURCES, TOOLS

    packages = {p for t in TASKS for p in t.spec.sources}
    packages |= {n for n in SOURCES if n.startswith("mbrola-")}  # the keyword task's voices
    packages |= set(TOOLS.values())  # espeak-ng, flite, festival, fluidsynth
    packages.add("music21")  # the corpus the music tasks render
    return packages
