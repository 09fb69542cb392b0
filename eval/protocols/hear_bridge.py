"""The HEAR protocol: heareval's own runners on today's stack, with runtime fixes, never edited copies.

heareval 2021.1.3 predates the pinned stack (requirements*.txt: torch 2.11, Lightning 1.9.5);
these fixes, applied in the process that runs heareval, make it run there:

* ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: torch >= 2.6 loads checkpoints with
  ``weights_only=True``; heareval's own Lightning checkpoints hold classes.
* ``FitLoop.current_epoch`` gets back the setter Lightning <= 1.5 had, mapped to
  ``fit_loop.epoch_progress.current.completed``; heareval sets it before testing
  event tasks (else ``KeyError`` in ``epoch_best_postprocessing_or_default``).
* ``heareval.gpu_max_mem.device_name`` accepts the ``str`` recent pynvml returns.
* On a machine where torch sees CUDA but tensorflow-cpu does not, the embeddings
  runner's start-up check asks torch (embeddings of torch modules run in torch).
* A peer HEAR module gets the fixes ``cola_eval.models.peers`` names for it (``hearbaseline.naive``:
  librosa >= 0.10's keyword-only ``filters.mel``) before the embeddings runner or the
  validator imports it.

Command line (the arguments are heareval's and hear-validator's own)::

    python -m cola_eval.protocols.hear_bridge embeddings MODULE --model W --tasks-dir D --embeddings-dir E
    python -m cola_eval.protocols.hear_bridge predictions E/MODULE/TASK ... --grid faster --grid-points 1
    python -m cola_eval.protocols.hear_bridge validate MODULE [--model W]

``run_hear_protocol`` drives both as subprocesses and reads the scores.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from cola_common.audio_files import load_audio
from cola_eval.models.hear_module import ModuleSpec, module_version
from cola_eval.models.peers import apply_peer_fixes
from cola_eval.protocols.tasks import Task

log = logging.getLogger(__name__)

TASK_STAMP = "bridge-task.json"


def apply_runtime_fixes() -> None:
    """Make heareval 2021.1.3 run on torch 2.11 / Lightning 1.9.5 / recent pynvml, in this process."""
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    _restore_current_epoch_setter()
    _fix_pynvml_device_name()
    _align_tensorflow_gpu_check()


def _restore_current_epoch_setter() -> None:
    from pytorch_lightning.loops.fit_loop import FitLoop

    existing = getattr(FitLoop, "current_epoch", None)
    if isinstance(existing, property) and existing.fset is not None:
        return

    def get(self: Any) -> int:
        return self.epoch_progress.current.completed

    def set_(self: Any, epoch: int) -> None:
        self.epoch_progress.current.completed = epoch

    FitLoop.current_epoch = property(get, set_, doc="Lightning <= 1.5 API restored for heareval")


def _fix_pynvml_device_name() -> None:
    import torch

    if not torch.cuda.is_available():
        return
    import heareval.gpu_max_mem as gpu_max_mem
    from pynvml import nvmlDeviceGetHandleByIndex, nvmlDeviceGetName

    def device_name(device_index: int = 0) -> str:
        name = nvmlDeviceGetName(nvmlDeviceGetHandleByIndex(device_index))
        return name.decode("utf-8") if isinstance(name, bytes) else str(name)

    gpu_max_mem.device_name = device_name


def _align_tensorflow_gpu_check() -> None:
    import torch

    if not torch.cuda.is_available():
        return
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return
    log.warning("tensorflow-cpu sees no GPU but torch does: heareval's start-up check will ask torch instead")
    tf.test.is_gpu_available = lambda *args, **kwargs: torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    """``python -m cola_eval.protocols.hear_bridge {embeddings,predictions,validate} ARGS``: heareval's runner
    (or hear-validator) with the fixes applied."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("embeddings", "predictions", "validate"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] in ("embeddings", "validate") and len(argv) > 1 and not argv[1].startswith("-"):
        apply_peer_fixes(argv[1])
    if argv[0] == "validate":
        from hearvalidator.validate import main as validate

        sys.argv = ["hear-validator", *argv[1:]]
        validate()
        return 0
    apply_runtime_fixes()
    if argv[0] == "embeddings":
        from heareval.embeddings.runner import runner
    else:
        from heareval.predictions.runner import runner
    runner.main(args=argv[1:], prog_name=f"python -m cola_eval.protocols.hear_bridge {argv[0]}", standalone_mode=False)
    return 0


@dataclass
class HearScore:
    """One test score heareval wrote: task, test fold, metric, value and the run's choices."""

    task: str
    fold: str
    metric: str
    score: float
    details: str


class HearBridgeError(RuntimeError):
    """A heareval runner failed; the message holds the end of its log."""


def run_hear_protocol(
    spec: ModuleSpec,
    tasks: list[Task],
    work_dir: str | Path,
    grid: str = "default",
    grid_points: int = 8,
) -> list[HearScore]:
    """Run heareval's embeddings and predictions runners on ``tasks`` and return the test scores.

    Embeddings live in ``work_dir/<module>-<key>/embeddings``, keyed by module, version and
    weights checksum; a task's embeddings are recomputed when the task changed. Predictions
    always run again (they are the experiment). Runner output goes to ``*.log`` files there.
    """
    if not tasks:
        raise ValueError("no tasks to run")
    for task in tasks:
        if task.embedding_type == "event" and task.prediction_type != "multilabel":
            raise HearBridgeError(
                f"{task.name}: heareval trains event tasks frame by frame and needs prediction_type 'multilabel' "
                f"(frames without an event have no label; 'multiclass' fails its one-label-per-frame assertion)"
            )
    version = module_version(importlib.import_module(spec.module))
    key = hashlib.sha256(f"{spec.module}|{version}|{spec.weights_checksum()}".encode()).hexdigest()[:16]
    run_dir = Path(work_dir) / f"{spec.module}-{key}"
    links = run_dir / "tasks"
    shutil.rmtree(links, ignore_errors=True)
    links.mkdir(parents=True)
    embed_root = Path("embeddings") / spec.module  # relative to run_dir, where the runners run
    rate = module_sample_rate(spec)
    stamps = {}
    for task in tasks:
        (links / task.name).symlink_to(task_at_rate(task, rate, run_dir / "resampled"), target_is_directory=True)
        stamps[task.name] = {"task_sha256": task.checksum(), "module_version": version}
        embed_dir = run_dir / embed_root / task.name
        stamp = embed_dir / TASK_STAMP
        if embed_dir.exists() and (not stamp.is_file() or json.loads(stamp.read_text()) != stamps[task.name]):
            log.info("%s: task or module changed since its heareval embeddings were computed; recomputing", task.name)
            shutil.rmtree(embed_dir)

    command = ["embeddings", spec.module, "--tasks-dir", "tasks", "--embeddings-dir", "embeddings"]
    if spec.weights is not None:
        command += ["--model", str(Path(spec.weights).resolve())]
    log.info("heareval embeddings runner: %s on %d tasks (log %s)", spec.module, len(tasks), run_dir / "embeddings.log")
    _run_bridge(command, run_dir, run_dir / "embeddings.log")
    for task in tasks:
        (run_dir / embed_root / task.name / TASK_STAMP).write_text(json.dumps(stamps[task.name]))

    task_dirs = []
    for task in tasks:
        rel = embed_root / task.name
        for stale in ("prediction-done.json", "test.predicted-scores.json"):
            (run_dir / rel / stale).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "logs" / rel, ignore_errors=True)
        task_dirs.append(str(rel))
    log.info(
        "heareval predictions runner: grid=%s grid_points=%d (log %s)", grid, grid_points, run_dir / "predictions.log"
    )
    _run_bridge(
        ["predictions", *task_dirs, "--grid", grid, "--grid-points", str(grid_points)],
        run_dir,
        run_dir / "predictions.log",
    )
    scores = []
    for task in tasks:
        scores += read_scores(run_dir / embed_root / task.name / "test.predicted-scores.json", task, grid, grid_points)
    return scores


def module_sample_rate(spec: ModuleSpec) -> int:
    """The ``sample_rate`` of the model the module loads (heareval reads task audio at that rate)."""
    apply_peer_fixes(spec.module)
    module = importlib.import_module(spec.module)
    model = module.load_model(str(spec.weights)) if spec.weights else module.load_model()
    return int(model.sample_rate)


def task_at_rate(task: Task, rate: int, cache_root: str | Path) -> Path:
    """A task folder with audio at ``rate``, which heareval's embeddings runner requires.

    The task itself when it has a ``<rate>/`` folder. Otherwise (a 44.1 kHz module on this
    suite's 16 kHz tasks) a copy in ``cache_root``: the metadata files linked, the audio of the
    task's highest rate resampled to ``rate`` by ``cola_common.audio_files`` and written as PCM_16,
    as hearpreprocess writes every rate. The copy is keyed by the task checksum and reused.
    """
    if (task.path / str(rate)).is_dir():
        return task.path.resolve()
    rates = [int(p.name) for p in task.path.iterdir() if p.is_dir() and p.name.isdigit()]
    if not rates:
        raise HearBridgeError(f"{task.name}: no audio folder at any sample rate in {task.path}")
    cache_root = Path(cache_root)
    view = cache_root / f"{task.name}-{rate}-{task.checksum()[:16]}"
    if view.is_dir():
        return view.resolve()
    cache_root.mkdir(parents=True, exist_ok=True)
    for stale in cache_root.glob(f"{task.name}-{rate}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    source = task.path / str(max(rates))
    log.info("%s: resampling its %s Hz audio to %d Hz for heareval (%s)", task.name, source.name, rate, view)
    tmp = Path(tempfile.mkdtemp(prefix=f".{view.name}.", suffix=".tmp", dir=cache_root))
    try:
        for item in task.path.iterdir():
            if not (item.is_dir() and item.name.isdigit()):
                (tmp / item.name).symlink_to(item.resolve())
        for split_dir in sorted(p for p in source.iterdir() if p.is_dir()):
            out = tmp / str(rate) / split_dir.name
            out.mkdir(parents=True)
            for wav in sorted(split_dir.iterdir()):
                audio = load_audio(wav, sample_rate=rate)
                sf.write(out / wav.name, np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16")
        os.replace(tmp, view)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return view.resolve()


def read_scores(path: str | Path, task: Task, grid: str = "", grid_points: int = 0) -> list[HearScore]:
    """Test scores of every test fold from heareval's ``test.predicted-scores.json``.

    The file is not strict JSON (it may hold ``NaN`` / ``-Infinity``); Python's parser reads those.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HearBridgeError(f"cannot read heareval scores {path}: {exc}") from exc
    out = []
    for split in task.data_splits():
        fold = data.get(split.name)
        if fold is None:
            raise HearBridgeError(f"{path}: no results for test split {split.name!r} (keys {sorted(data)})")
        hparams = {k: v for k, v in data.get("hparams", {}).items() if isinstance(v, int | float)}
        details = " ".join(
            [
                f"grid={grid}",
                f"grid_points={grid_points}",
                f"epoch={fold.get('epoch')}",
                *(f"{k}={v}" for k, v in sorted(hparams.items())),
            ]
        )
        for metric in task.evaluation:
            value = fold.get(f"test_{metric}")
            if value is None:
                raise HearBridgeError(f"{path}: no test_{metric} for {split.name}")
            value = float(value)
            if math.isinf(value):
                value = float("nan")
            out.append(HearScore(task.name, split.name, metric, value, details))
    return out


def _run_bridge(args: list[str], cwd: Path, log_path: Path) -> None:
    with open(log_path, "w") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "cola_eval.protocols.hear_bridge", *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    if proc.returncode != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise HearBridgeError(f"heareval {args[0]} runner failed (exit {proc.returncode}); end of {log_path}:\n{tail}")


if __name__ == "__main__":
    sys.exit(main())
