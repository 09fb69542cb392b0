"""The linear-probe protocol (COLA's headline evaluation) on one HEAR task.

Scene tasks: one embedding per clip, multiclass (softmax) or multilabel
(one-vs-rest sigmoids). Event tasks: one embedding per timestamp, frame-wise
multilabel probe; frame probabilities become events with heareval's
post-processing, whose parameters are chosen on the validation split, and are
scored with onset F-measure. k-fold tasks: every fold is the test set once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from cola_eval.protocols.embedding_cache import SplitEmbeddings, TaskEmbeddings
from cola_eval.protocols.linear import LinearConfig, fit_linear
from cola_eval.protocols.metrics import (
    DEFAULT_POSTPROCESSING_GRID,
    event_score,
    frame_targets,
    frames_to_events,
    is_event_metric,
    macro_average_precision,
    multi_hot,
    scene_score,
    selection_score,
)
from cola_eval.protocols.tasks import Split, Task

log = logging.getLogger(__name__)


@dataclass
class ProbeResult:
    """Test scores of one probe (one data split, one seed) and what was chosen on validation."""

    task: str
    fold: str
    seed: int
    scores: dict[str, float]
    n_train: int
    n_test: int
    chosen: dict[str, Any] = field(default_factory=dict)


def probe_task(
    task: Task, embeddings: TaskEmbeddings, seeds: list[int], config: LinearConfig | None = None
) -> list[ProbeResult]:
    """Probe results for every (data split, seed): trainvaltest tasks run every seed,
    k-fold tasks run every fold once with the first seed (the folds are the repetitions)."""
    if not seeds:
        raise ValueError("need at least one seed")
    runs = (
        [(split, seeds[0]) for split in task.data_splits()]
        if task.is_kfold
        else [(split, seed) for split, seed in product(task.data_splits(), seeds)]
    )
    probe = _probe_scene if task.embedding_type == "scene" else _probe_event
    results = []
    for split, seed in runs:
        result = probe(task, embeddings.splits, split, seed, config or LinearConfig())
        log.info("%s fold=%s seed=%d: %s", task.name, result.fold, seed, _fmt(result.scores))
        results.append(result)
    return results


def _probe_scene(
    task: Task, data: dict[str, SplitEmbeddings], split: Split, seed: int, config: LinearConfig
) -> ProbeResult:
    x, y = {}, {}
    for part, names in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        x[part] = np.concatenate([data[s].embeddings for s in names])
        labels = {}
        for s in names:
            labels.update(task.split_labels(s))
        y[part] = multi_hot([labels[f] for s in names for f in data[s].filenames], task.labels)
    multilabel = task.prediction_type == "multilabel"
    primary = task.primary_metric

    def select(probs: np.ndarray, targets: np.ndarray) -> float:
        return selection_score(primary, probs, targets)

    probe = fit_linear(x["train"], y["train"], x["valid"], y["valid"], select, multilabel, seed, config)
    probs = probe.predict_proba(x["test"])
    scores = {m: scene_score(m, probs, y["test"], task.labels) for m in task.evaluation}
    return ProbeResult(
        task.name,
        split.name,
        seed,
        scores,
        len(x["train"]),
        len(x["test"]),
        {"l2": probe.l2, "epoch": probe.epoch, "valid_score": probe.valid_score},
    )


def _probe_event(
    task: Task, data: dict[str, SplitEmbeddings], split: Split, seed: int, config: LinearConfig
) -> ProbeResult:
    frames = {
        part: _event_frames(task, data, names)
        for part, names in (("train", split.train), ("valid", split.valid), ("test", split.test))
    }
    probe = fit_linear(
        frames["train"]["x"],
        frames["train"]["y"],
        frames["valid"]["x"],
        frames["valid"]["y"],
        macro_average_precision,
        multilabel=True,
        seed=seed,
        config=config,
    )
    # Post-processing (median filter, minimum duration) chosen on validation with the primary event metric.
    primary = next((m for m in task.evaluation if is_event_metric(m)), None)
    grid = task.metadata.get("evaluation_params", {}).get("event_postprocessing_grid", DEFAULT_POSTPROCESSING_GRID)
    confs = [dict(zip(grid, values, strict=True)) for values in product(*grid.values())]
    valid_probs = probe.predict_proba(frames["valid"]["x"])
    best = confs[0]
    if primary and len(confs) > 1:
        valid_scores = [
            event_score(primary, _events(task, frames["valid"], valid_probs, c), frames["valid"]["events"], task.labels)
            for c in confs
        ]
        best = confs[int(np.argmax(valid_scores))]
    test_probs = probe.predict_proba(frames["test"]["x"])
    predicted = _events(task, frames["test"], test_probs, best)
    scores = {}
    for metric in task.evaluation:
        if is_event_metric(metric):
            scores[metric] = event_score(metric, predicted, frames["test"]["events"], task.labels)
        else:  # a clip-level metric on an event task: score the frames
            scores[metric] = scene_score(metric, test_probs, frames["test"]["y"], task.labels)
    return ProbeResult(
        task.name,
        split.name,
        seed,
        scores,
        len(frames["train"]["x"]),
        len(frames["test"]["x"]),
        {"l2": probe.l2, "epoch": probe.epoch, "valid_frame_map": probe.valid_score, **best},
    )


def _event_frames(task: Task, data: dict[str, SplitEmbeddings], names: tuple[str, ...]) -> dict[str, Any]:
    """Frame embeddings, multi-hot frame targets, per-file frame ranges and reference events of splits."""
    xs, ys, files, events = [], [], [], {}
    start = 0
    for s in names:
        labels = task.split_labels(s)
        emb = data[s]
        for i, name in enumerate(emb.filenames):
            x, ts = emb.frames_of(i)
            xs.append(x)
            ys.append(frame_targets(labels[name], ts, task.labels))
            files.append((name, start, start + len(x), ts))
            events[name] = labels[name]
            start += len(x)
    return {"x": np.concatenate(xs), "y": np.concatenate(ys), "files": files, "events": events}


def _events(task: Task, frames: dict[str, Any], probs: np.ndarray, conf: dict[str, float]) -> dict[str, list]:
    return {name: frames_to_events(probs[a:b], ts, task.labels, **conf) for name, a, b, ts in frames["files"]}


def _fmt(scores: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in scores.items())
