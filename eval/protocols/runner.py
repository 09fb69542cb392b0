"""One runner for every model and every task: linear-probe evaluation of a HEAR module on a tasks folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tqdm.auto import tqdm

from cola_eval.models.hear_module import HearModel, ModuleSpec
from cola_eval.protocols.embedding_cache import EmbeddingCache, task_embeddings
from cola_eval.protocols.linear import LinearConfig
from cola_eval.protocols.probe import ProbeResult, probe_task
from cola_eval.protocols.rows import (
    DEFAULT_CACHE_DIR,
    DEFAULT_RESULTS_DIR,
    LATER_COLUMNS,
    ResultRow,
    append_rows,
    run_context,
)
from cola_eval.protocols.tasks import Task, load_task, task_folders

log = logging.getLogger(__name__)


class TasksFailed(RuntimeError):
    """Some tasks could not be evaluated; the others were (``rows``, already appended to the CSV)."""

    def __init__(self, rows: list[ResultRow], failures: dict[str, str], total: int) -> None:
        self.rows, self.failures = rows, failures
        named = "; ".join(f"{name}: {error}" for name, error in failures.items())
        super().__init__(f"{len(failures)} of {total} tasks failed (the other tasks ran): {named}")


def run_linear_probe(
    spec: ModuleSpec,
    tasks_dir: str | Path,
    task_names: list[str] | None = None,
    seeds: int = 3,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    results_dir: str | Path | None = DEFAULT_RESULTS_DIR,
    config: LinearConfig | None = None,
    batch_seconds: float = 120.0,
) -> list[ResultRow]:
    """Embed every task (cached), probe it, append its rows to ``results_dir/linear_probe.csv``.

    ``results_dir=None`` writes nothing; ``cache_dir=None`` disables the cache. A task that fails
    (a broken folder, unreadable audio) does not stop the others: after the last task,
    ``TasksFailed`` names each failed task and carries the rows of the others.
    """
    folders = task_folders(tasks_dir, task_names)
    model = HearModel(spec)
    cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
    rows: list[ResultRow] = []
    failures: dict[str, str] = {}
    for folder in tqdm(folders, desc=f"linear probe {spec.display_name}", unit="task"):
        try:
            rows += _probe_one(load_task(folder), model, spec, cache, seeds, config, results_dir, batch_seconds)
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            log.error("%s: task %s failed: %s", spec.display_name, folder.name, exc)
            failures[folder.name] = str(exc)
    if failures:
        raise TasksFailed(rows, failures, len(folders))
    return rows


def _probe_one(
    task: Task,
    model: HearModel,
    spec: ModuleSpec,
    cache: EmbeddingCache | None,
    seeds: int,
    config: LinearConfig | None,
    results_dir: str | Path | None,
    batch_seconds: float,
) -> list[ResultRow]:
    """Embed and probe one task; append its rows to ``results_dir``."""
    start = time.perf_counter()
    embeddings = task_embeddings(model, task, cache, batch_seconds)
    results = probe_task(task, embeddings, list(range(seeds)), config)
    task_rows = probe_rows(
        results,
        task,
        spec,
        model.weights_checksum,
        measured={**model.description, "task_sha256": embeddings.key.task_sha256},
    )
    if results_dir is not None:
        append_rows(task_rows, results_dir)
    log.info(
        "%s: %s %s = %s in %.1f s (%s)",
        spec.display_name,
        task.name,
        task.primary_metric,
        _mean_std([r.scores[task.primary_metric] for r in results]),
        time.perf_counter() - start,
        "cached embeddings" if embeddings.from_cache else "embeddings computed",
    )
    return task_rows


def probe_rows(
    results: list[ProbeResult],
    task: Task,
    spec: ModuleSpec,
    weights_sha256: str,
    protocol: str = "linear_probe",
    measured: dict[str, str] | None = None,
) -> list[ResultRow]:
    """Result rows (one per metric) of probe or fine-tuning results; ``measured`` gives the rows'
    ``readout``, ``precision`` and ``task_sha256`` (the task's checksum is computed when not given)."""
    measured = dict(measured or {})
    if "task_sha256" not in measured:
        measured["task_sha256"] = task.checksum()  # stats every audio file: only when the caller has none
    context = {**run_context(), **{k: measured.get(k, "") for k in LATER_COLUMNS}}
    return [
        ResultRow(
            protocol=protocol,
            task=task.name,
            model=spec.display_name,
            module=spec.module,
            weights_sha256=weights_sha256,
            seed=r.seed,
            fold=r.fold,
            metric=metric,
            score=score,
            primary=metric == task.primary_metric,
            n_train=r.n_train,
            n_test=r.n_test,
            details=" ".join(f"{k}={v}" for k, v in r.chosen.items()),
            **context,
        )
        for r in results
        for metric, score in r.scores.items()
    ]


def _mean_std(values: list[float]) -> str:
    import numpy as np

    return f"{np.mean(values):.4f} +- {np.std(values, ddof=1) if len(values) > 1 else 0.0:.4f}"
