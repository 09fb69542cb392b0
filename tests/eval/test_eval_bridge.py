"""The heareval bridge: runtime fixes, and both a scene and an event task through heareval's real runners."""

from __future__ import annotations

import json
import math
import os

import pytest

from cola_eval.models.hear_module import ModuleSpec
from cola_eval.protocols.hear_bridge import apply_runtime_fixes, read_scores, run_hear_protocol
from cola_eval.protocols.tasks import find_tasks, load_task
from support.tasks import make_event_task, make_scene_task

# A short, fixed MLP recipe through heareval's own task-specific grid option (metadata evaluation_params).
QUICK_GRID = {
    "evaluation_params": {
        "task_specific_param_grid": {
            "lr": [1e-2],
            "max_epochs": [30],
            "patience": [10],
            "hidden_layers": [1],
        }
    }
}


def test_runtime_fixes_restore_what_heareval_needs():
    import pytorch_lightning as pl

    apply_runtime_fixes()
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit_loop.current_epoch = 3  # what heareval does before testing an event task
    assert trainer.current_epoch == 3 and trainer.fit_loop.current_epoch == 3


@pytest.mark.slow
def test_scene_and_event_tasks_through_the_real_heareval_runners(tmp_path):
    make_scene_task(tmp_path / "tasks", extra_metadata=QUICK_GRID)
    make_event_task(tmp_path / "tasks", extra_metadata=QUICK_GRID)
    tasks = find_tasks(tmp_path / "tasks")
    spec = ModuleSpec("cola_eval.models.baselines.logmel_stats")
    scores = run_hear_protocol(spec, tasks, tmp_path / "hear", grid="faster", grid_points=1)
    by_task = {s.task: s for s in scores}
    assert sorted(by_task) == ["tiny-event", "tiny-scene"]
    assert by_task["tiny-scene"].metric == "top1_acc" and by_task["tiny-scene"].score >= 0.9
    assert by_task["tiny-event"].metric == "event_onset_200ms_fms" and 0.0 <= by_task["tiny-event"].score <= 1.0
    assert "grid=faster" in by_task["tiny-event"].details
    run_dirs = list((tmp_path / "hear").glob("cola_eval.models.baselines.logmel_stats-*"))
    assert len(run_dirs) == 1
    for task in ("tiny-scene", "tiny-event"):
        done = run_dirs[0] / "embeddings" / "cola_eval.models.baselines.logmel_stats" / task / "prediction-done.json"
        assert done.is_file()


def test_scores_file_with_nan_and_infinity_is_read(tmp_path):
    task = load_task(make_scene_task(tmp_path, split_mode="new_split_kfold", per_class=1))
    folds = {f"fold0{i}": {"test_top1_acc": v, "epoch": 1} for i, v in enumerate(["NaN", "-Infinity", "0.5"])}
    text = json.dumps(folds).replace('"NaN"', "NaN").replace('"-Infinity"', "-Infinity")
    (tmp_path / "scores.json").write_text(text)
    scores = read_scores(tmp_path / "scores.json", task)
    assert [s.fold for s in scores] == ["fold00", "fold01", "fold02"]
    assert math.isnan(scores[0].score) and math.isnan(scores[1].score) and scores[2].score == 0.5


def test_missing_fold_is_an_error(tmp_path):
    task = load_task(make_scene_task(tmp_path, per_class=1))
    (tmp_path / "scores.json").write_text("{}")
    with pytest.raises(RuntimeError, match="no results for test split"):
        read_scores(tmp_path / "scores.json", task)
