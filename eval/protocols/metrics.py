"""Task metrics, computed with heareval's own scoring functions so numbers match the HEAR protocol.

Scene metrics take class scores ``(n, n_labels)`` and multi-hot targets. Event
metrics take frame-wise label probabilities, turn them into events with heareval's
post-processing (threshold, median filter, minimum duration) and score the events
against the task's reference events with sed_eval.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

EVENT_METRIC_PREFIXES = ("event_", "segment_")
# heareval's default grid of event post-processing, used when a task names none.
DEFAULT_POSTPROCESSING_GRID = {"median_filter_ms": [250], "min_duration": [125, 250]}
LOWER_IS_BETTER = ("segment_1s_er",)


def is_event_metric(metric: str) -> bool:
    return metric.startswith(EVENT_METRIC_PREFIXES)


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


@cache
def _available_scores() -> dict[str, Any]:
    from heareval.score import available_scores  # sed_eval and dcase_util are slow to import

    return available_scores


def _score_fn(metric: str, labels: Sequence[str]) -> Any:
    scores = _available_scores()
    if metric not in scores:
        raise ValueError(f"unknown metric {metric!r}; heareval knows {sorted(scores)}")
    return scores[metric](label_to_idx={label: i for i, label in enumerate(labels)})


def scene_score(metric: str, probabilities: np.ndarray, targets: np.ndarray, labels: Sequence[str]) -> float:
    """One scene metric (top1_acc, pitch_acc, chroma_acc, mAP, d_prime, aucroc) of class probabilities."""
    if is_event_metric(metric):
        raise ValueError(f"{metric} is an event metric; use event_score")
    return float(_score_fn(metric, labels)(np.asarray(probabilities), np.asarray(targets)))


def selection_score(metric: str, probabilities: np.ndarray, targets: np.ndarray) -> float:
    """A fast stand-in for ``metric`` used to pick probe epochs and L2 strengths on validation data.

    Accuracy metrics are computed exactly (argmax; chroma: argmax mod 12); every other metric
    (mAP, aucroc, d_prime, event metrics on frames) is replaced by frame/clip macro average
    precision over the labels present. The reported test scores always use heareval's functions.
    """
    predicted, actual = probabilities.argmax(axis=1), targets.argmax(axis=1)
    if metric in ("top1_acc", "pitch_acc"):
        return float((predicted == actual).mean())
    if metric == "chroma_acc":
        return float((predicted % 12 == actual % 12).mean())
    return macro_average_precision(probabilities, targets)


def macro_average_precision(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """Mean over labels with at least one positive of the (uninterpolated) average precision; NaN if none."""
    present = targets.sum(axis=0) > 0
    if not present.any():
        return float("nan")
    p, t = probabilities[:, present], targets[:, present]
    order = np.argsort(-p, axis=0, kind="stable")
    hits = np.take_along_axis(t, order, axis=0)
    precision = np.cumsum(hits, axis=0) / np.arange(1, len(hits) + 1)[:, None]
    return float(((precision * hits).sum(axis=0) / hits.sum(axis=0)).mean())


def event_score(
    metric: str,
    predicted: dict[str, list[dict[str, Any]]],
    reference: dict[str, list[dict[str, Any]]],
    labels: Sequence[str],
) -> float:
    """An event metric (e.g. ``event_onset_200ms_fms``) of predicted vs reference events, per file.

    Returns the metric's primary value (the F-measure for ``*_fms``); NaN becomes 0.
    """
    ret = _score_fn(metric, labels)(predicted, {name: reference.get(name, []) for name in predicted})
    value = float(ret[0][1] if isinstance(ret, tuple) else ret)
    return 0.0 if np.isnan(value) else value


def frames_to_events(
    probabilities: np.ndarray,
    timestamps: np.ndarray,
    labels: Sequence[str],
    median_filter_ms: float,
    min_duration: float,
    threshold: float = 0.5,
) -> list[dict[str, Any]]:
    """Events of one file from frame-wise probabilities ``(n_t, n_labels)`` (heareval's post-processing)."""
    import torch
    from heareval.predictions.task_predictions import create_events_from_prediction

    by_time = {float(t): torch.from_numpy(np.asarray(p)) for t, p in zip(timestamps, probabilities, strict=True)}
    events = create_events_from_prediction(
        by_time,
        dict(enumerate(labels)),
        threshold=threshold,
        median_filter_ms=median_filter_ms,
        min_duration=min_duration,
    )
    return [{"label": e["label"], "start": float(e["start"]), "end": float(e["end"])} for e in events]


def frame_targets(events: list[dict[str, Any]], timestamps: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Multi-hot ``(n_t, n_labels)`` targets: a label is on at ``t`` when ``start <= t <= end`` (as heareval)."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(timestamps), len(labels)), dtype=np.float32)
    for event in events:
        label = str(event["label"])
        if label not in index:
            raise ValueError(f"event label {label!r} is not in the label vocabulary")
        on = (timestamps >= event["start"]) & (timestamps < event["end"] + 1e-4)
        out[on, index[label]] = 1.0
    return out


def multi_hot(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """``(n, n_labels)`` multi-hot matrix of per-clip label lists; unknown labels are an error."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(label_lists), len(labels)), dtype=np.float32)
    for row, names in enumerate(label_lists):
        for name in names:
            if str(name) not in index:
                raise ValueError(f"label {name!r} is not in the label vocabulary {list(labels)[:10]}...")
            out[row, index[str(name)]] = 1.0
    return out
