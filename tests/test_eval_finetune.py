"""Fine-tuning (pretrained vs random init) and the random-init baseline weights, on a tiny real-audio task."""

from __future__ import annotations

import pytest
from fixtures_tasks import make_event_task, make_scene_task

import cola_hear
from cola_hear.weights import weights_sha256
from eval.baselines.random_init import write_random_init_weights
from eval.cli import main
from eval.finetune import FinetuneConfig, finetune_task
from eval.results import read_rows
from eval.tasks import load_task


@pytest.fixture(scope="module")
def scene_task(tmp_path_factory):
    return load_task(make_scene_task(tmp_path_factory.mktemp("tasks"), per_class=1))


def test_cli_finetunes_from_the_weights_and_from_scratch(scene_task, random_weights, tmp_path):
    assert (
        main(
            [
                "finetune",
                "--weights",
                str(random_weights),
                "--tasks-dir",
                str(scene_task.path.parent),
                "--name",
                "cola",
                "--seeds",
                "1",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--results-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    rows = read_rows(tmp_path / "finetune.csv")
    assert sorted(r.model for r in rows) == ["cola", "scratch"]
    assert {r.protocol for r in rows} == {"finetune"}
    assert sorted(r.details.split()[-1] for r in rows) == ["init=pretrained", "init=scratch"]
    assert all(r.n_train == 2 * 3 and r.n_test == 3 and 0.0 <= r.score <= 1.0 for r in rows)


def test_finetuning_is_reproducible(scene_task, random_weights):
    config = FinetuneConfig(epochs=1, batch_size=4)
    first, again = (
        finetune_task(random_weights, scene_task, "pretrained", seeds=[0], config=config)[0] for _ in range(2)
    )
    assert first.scores == again.scores and first.chosen == again.chosen and first.chosen["epoch"] == 1


def test_finetuning_refuses_event_tasks(tmp_path, random_weights):
    task = load_task(make_event_task(tmp_path, files={"train": 1, "valid": 1, "test": 1}))
    with pytest.raises(ValueError, match="scene tasks"):
        finetune_task(random_weights, task, "pretrained", seeds=[0])


def test_random_init_weights_are_seeded_and_loadable(tmp_path):
    a = write_random_init_weights(tmp_path / "a.safetensors", seed=0)
    b = write_random_init_weights(tmp_path / "b.safetensors", seed=0)
    c = write_random_init_weights(tmp_path / "c.safetensors", seed=1)
    # same seed, same tensors and metadata: one checksum, even where safetensors orders the metadata keys
    # differently in the two files' bytes
    assert weights_sha256(a) == weights_sha256(b) != weights_sha256(c)
    model = cola_hear.load_model(str(a))
    assert model.config.provenance == {"kind": "random-init", "seed": 0}
    assert model.scene_embedding_size == 1280
