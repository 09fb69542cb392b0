"""The ten suite tasks, one module per source family."""

from __future__ import annotations

from eval.suite.tasks.base import SuiteTask
from eval.suite.tasks.birds import BirdDetection
from eval.suite.tasks.drums import DrumEvents, Percussion
from eval.suite.tasks.hedgewars import Phrase, SpeakerId
from eval.suite.tasks.keywords import KeywordSpotting
from eval.suite.tasks.language import LanguageId
from eval.suite.tasks.music import MusicStyle
from eval.suite.tasks.notes import InstrumentFamily, Pitch

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
