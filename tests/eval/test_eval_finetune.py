"""Fine-tuning (pretrained vs random init) and the random-init baseline weights, on a tiny real-audio task."""

from __future__ import annotations

import pytest
import torch

import cola_hear
from cola_common.provenance import weights_sha256
from cola_eval.cli import main
from cola_eval.models.baselines.random_init import write_random_init_weights
from cola_eval.protocols.finetune import FinetuneConfig, finetune_task
from cola_eval.protocols.rows import read_rows
from cola_eval.protocols.tasks import load_task
from support.tasks import make_event_task, make_scene_task


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


@pytest.fixture(scope="module")
def stage0_weights(tmp_path_factory):
    """Random-init weights read out at stage 0 (mean and std over time), like the shipped weights."""
    from cola_hear import ColaModel, ModelConfig, save_weights
    from cola_hear.config import HearConfig

    torch.manual_seed(0)
    model = ColaModel(ModelConfig(hear=HearConfig(readout=("stage0", "stage0.std"))))
    return save_weights(model, tmp_path_factory.mktemp("stage0") / "stage0.safetensors")


def _finetune_once(weights, task, config):
    """One fine-tuning run; returns its result and the encoder state before and after."""
    from cola_eval.protocols.finetune import _clip_set, _train_and_test
    from cola_hear import load_weights

    model = load_weights(weights)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    clips = {s: _clip_set(task, s, model) for s in task.splits}
    result = _train_and_test(model, task, clips, task.data_splits()[0], 0, config, "cpu")
    return result, before, model.encoder.state_dict()


def test_the_probe_phase_leaves_the_encoder_as_it_is_and_then_only_weights_train(scene_task, stage0_weights):
    probe_only = FinetuneConfig(epochs=2, probe_epochs=2, batch_size=4, head_on="readout")
    result, before, after = _finetune_once(stage0_weights, scene_task, probe_only)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert result.chosen["head_on"] == "readout" and result.chosen["probe_epochs"] == 2
    then_train = FinetuneConfig(epochs=2, probe_epochs=1, batch_size=4, head_on="readout", patience=5)
    _, before, after = _finetune_once(stage0_weights, scene_task, then_train)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    if changed:  # the epoch kept is the better one on validation: the probe epoch may win on a tiny task
        assert not any(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)
        assert any(k.endswith("conv_stem.weight") for k in changed)


def test_cli_finetunes_on_the_read_out_and_records_it(scene_task, stage0_weights, tmp_path):
    args = ["finetune", "--weights", str(stage0_weights), "--tasks-dir", str(scene_task.path.parent), "--name", "ro",
            "--seeds", "1", "--epochs", "2", "--probe-epochs", "1", "--batch-size", "4", "--head-on", "readout",
            "--init", "pretrained", "--results-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    rows = read_rows(tmp_path / "finetune.csv")
    assert rows and {r.readout for r in rows} == {"stage0+stage0.std"} and {r.model for r in rows} == {"ro"}
    assert all("head_on=readout" in r.details and 0.0 <= r.score <= 1.0 for r in rows)
    with pytest.raises(ValueError, match="probe_epochs"):
        FinetuneConfig(epochs=2, probe_epochs=3)
    with pytest.raises(ValueError, match="head_on"):
        FinetuneConfig(head_on="stage0")


def test_the_linear_probe_head_starts_from_the_frozen_probe_of_the_same_seed(scene_task, stage0_weights, tmp_path):
    # no epoch: the result is the starting model, which must be the frozen protocol's probe
    start_only = FinetuneConfig(epochs=0, batch_size=4, head_on="readout", head_init="linear_probe")
    result, before, after = _finetune_once(stage0_weights, scene_task, start_only)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert result.chosen["epoch"] == 0 and result.chosen["head_init"] == "linear_probe"
    args = ["probe", "--module", "cola_hear", "--weights", str(stage0_weights), "--name", "frozen", "--seeds", "1",
            "--tasks-dir", str(scene_task.path.parent), "--results-dir", str(tmp_path),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(args) == 0
    frozen = {r.metric: r.score for r in read_rows(tmp_path / "linear_probe.csv") if r.seed == 0}
    assert frozen and result.scores == pytest.approx(frozen, abs=1e-6)
    with pytest.raises(ValueError, match="head_on='readout'"):
        FinetuneConfig(head_init="linear_probe")
    with pytest.raises(ValueError, match="head_init"):
        FinetuneConfig(head_on="readout", head_init="probe")
