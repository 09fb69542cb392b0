"""The HEAR 2021 task format's metadata schema, in one place (the format: suite/README.md).

The evaluation harness (``cola_eval.protocols.tasks``) reads any HEAR task folder with it; the suite builder's validator
(``cola_suite.hear_check``) checks the folders this project builds against it (and its own stricter rules:
train/valid/test splits, 16 kHz mono audio). It imports nothing from either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METADATA_FILE = "task_metadata.json"
EMBEDDING_TYPES = ("scene", "event")
PREDICTION_TYPES = ("multiclass", "multilabel")
SPLIT_MODES = ("trainvaltest", "new_split_kfold", "presplit_kfold")
REQUIRED_KEYS = ("task_name", "embedding_type", "prediction_type", "split_mode", "evaluation")
# Score names heareval 2021.1.3 knows (heareval.score.available_scores).
SCORES = (
    "top1_acc",
    "pitch_acc",
    "chroma_acc",
    "mAP",
    "d_prime",
    "aucroc",
    "event_onset_200ms_fms",
    "event_onset_50ms_fms",
    "event_onset_offset_50ms_20perc_fms",
    "segment_1s_er",
)


def read_metadata(task: Path) -> dict[str, Any] | str:
    """The task folder's metadata, or the reason it cannot be read (missing file, not JSON, not a table)."""
    path = task / METADATA_FILE
    if not path.is_file():
        return f"{task}: no {METADATA_FILE} (not a HEAR task folder, or an incomplete task folder)"
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        return f"{path}: not JSON ({exc})"
    return meta if isinstance(meta, dict) else f"{path}: not a JSON object"


def metadata_problems(meta: dict[str, Any], required: tuple[str, ...] = REQUIRED_KEYS) -> list[str]:
    """What the metadata breaks of the schema: missing keys, then unknown types, split mode or scores."""
    missing = [k for k in required if k not in meta]
    if missing:
        return [f"missing keys {missing}"]
    problems = []
    for key, allowed in (("embedding_type", EMBEDDING_TYPES), ("prediction_type", PREDICTION_TYPES),
                         ("split_mode", SPLIT_MODES)):  # fmt: skip
        if meta[key] not in allowed:
            problems.append(f"{key} {meta[key]!r} is not one of {'|'.join(allowed)}")
    evaluation = meta["evaluation"]
    if not evaluation:
        problems.append("'evaluation' lists no metric")
    elif any(s not in SCORES for s in evaluation):
        problems.append(f"evaluation {list(evaluation)} holds a score heareval does not know")
    return problems
