"""The linear-probe runner end to end on tiny real-audio tasks with the log-mel baseline module."""

from __future__ import annotations

import csv

import pytest

from cola_eval.cli import main
from cola_eval.models.hear_module import ModuleSpec
from cola_eval.protocols.rows import ResultRow
from cola_eval.protocols.runner import run_linear_probe
from support.tasks import make_event_task, make_scene_task

LOGMEL = "cola_eval.models.baselines.logmel_stats"


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    make_scene_task(root)
    make_scene_task(
        root,
        name="tiny-kfold-multilabel",
        split_mode="new_split_kfold",
        prediction_type="multilabel",
        per_class=2,
        seed=1,
    )
    make_event_task(root)
    return root


def test_runner_probes_every_task_and_appends_rows(tasks_dir, tmp_path):
    rows = run_linear_probe(
        ModuleSpec(LOGMEL, name="logmel-stats"),
        tasks_dir,
        seeds=2,
        cache_dir=tmp_path / "cache",
        results_dir=tmp_path / "results",
    )
    primary = {}
    for r in rows:
        if r.primary:
            primary.setdefault(r.task, []).append(r)
    # trainvaltest tasks: one row per seed; the k-fold task: one row per fold
    assert {t: sorted((r.fold, r.seed) for r in rs) for t, rs in primary.items()} == {
        "tiny-scene": [("test", 0), ("test", 1)],
        "tiny-event": [("test", 0), ("test", 1)],
        "tiny-kfold-multilabel": [("fold00", 0), ("fold01", 0), ("fold02", 0)],
    }
    # distinct synthetic sound classes: band statistics separate them
    assert min(r.score for r in primary["tiny-scene"]) >= 0.9
    assert min(r.score for r in primary["tiny-kfold-multilabel"]) >= 0.8  # mAP
    assert all(0.0 <= r.score <= 1.0 for r in rows)
    assert {r.metric for r in rows if r.task == "tiny-kfold-multilabel"} == {"mAP", "aucroc"}
    with open(tmp_path / "results" / "linear_probe.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == len(rows)
    assert list(written[0]) == ResultRow.columns()
    assert {w["model"] for w in written} == {"logmel-stats"} and {w["weights_sha256"] for w in written} == {"none"}
    # what was measured: the task's checksum per task; a module without describe() records no read-out
    from cola_eval.protocols.tasks import find_tasks

    checksums = {t.name: t.checksum() for t in find_tasks(tasks_dir)}
    assert {(w["task"], w["task_sha256"]) for w in written} == set(checksums.items())
    assert {(w["readout"], w["precision"]) for w in written} == {("", "")}


def test_cli_probe_reuses_cached_embeddings(tasks_dir, tmp_path, capsys, caplog):
    args = [
        "probe",
        "--module",
        LOGMEL,
        "--tasks-dir",
        str(tasks_dir),
        "--task",
        "tiny-scene",
        "--seeds",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--results-dir",
        str(tmp_path / "results"),
    ]
    assert main(args) == 0
    caplog.clear()
    assert main(args) == 0
    assert "embeddings from cache" in caplog.text
    out = capsys.readouterr().out
    assert "tiny-scene" in out and "cola_eval.models.baselines.logmel_stats" in out and "top1_acc" in out
    assert len((tmp_path / "results" / "linear_probe.csv").read_text().splitlines()) == 1 + 2


def test_cli_reports_a_missing_tasks_folder(tmp_path, caplog):
    assert main(["probe", "--module", LOGMEL, "--tasks-dir", str(tmp_path / "nope")]) == 1
    assert "tasks folder not found" in caplog.text


def test_a_cola_hear_model_states_its_read_out_and_precision():
    import cola_hear
    from cola_eval.models.hear_module import HearModel
    from cola_hear.weights import read_config

    model = HearModel(ModuleSpec("cola_hear"))
    expected = "+".join(read_config(cola_hear.default_weights_path()).hear.readout)
    assert model.description["readout"] == expected == "stage0+stage0.std+stage3+stage3.std"
    assert model.description["precision"] == ("bf16" if model.model.use_bf16() else "fp32")


def test_cli_probe_runs_every_good_task_and_fails_at_the_end_naming_each_broken_one(tmp_path, caplog):
    """Issue 28: a broken task used to stop the run, and the good tasks after it never ran."""
    root = tmp_path / "tasks"
    make_scene_task(root, name="tiny-a-broken")
    (root / "tiny-a-broken" / "labelvocabulary.csv").unlink()
    make_scene_task(root, name="tiny-b-good", seed=2)
    make_scene_task(root, name="tiny-c-broken", seed=3)
    (root / "tiny-c-broken" / "labelvocabulary.csv").write_text("idx,label\n0,a\n5,b\n")
    make_scene_task(root, name="tiny-d-good", seed=4)
    results = tmp_path / "results"
    args = ["probe", "--module", LOGMEL, "--tasks-dir", str(root), "--seeds", "1", "--results-dir", str(results)]
    assert main([*args, "--cache-dir", str(tmp_path / "cache")]) == 1
    with open(results / "linear_probe.csv", newline="") as f:
        assert {row["task"] for row in csv.DictReader(f)} == {"tiny-b-good", "tiny-d-good"}
    error = caplog.records[-1].getMessage()
    assert error.startswith("2 of 4 tasks failed") and "tiny-a-broken: " in error and "tiny-c-broken: " in error
    assert "no labelvocabulary.csv" in error and "without gaps" in error
