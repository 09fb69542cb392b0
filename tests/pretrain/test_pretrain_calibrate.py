"""The no-learning control (`cola-pretrain calibrate`): the seed's initial network, BatchNorm statistics of a pool."""

from __future__ import annotations

import json

import pytest
import torch

import cola_hear
from cola_hear.weights import load_weights
from cola_pretrain import cli
from cola_pretrain.calibrate import batchnorm_layers, calibrate_batchnorm
from cola_pretrain.step import build_module
from support.audio import write_tone_folder
from support.pretrain_runs import small_config


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    write_tone_folder(folder, n_classes=6, seconds=2.0)
    return folder


def _initial(config):
    torch.manual_seed(config.train.seed)
    return build_module(config).model.state_dict()


@pytest.mark.parametrize("seed", [0, 3])
def test_only_the_batchnorm_statistics_differ_from_the_seeds_initial_network(tones, tmp_path, seed):
    config = small_config(tones, tmp_path / "unused", **{"train.seed": seed})
    path = calibrate_batchnorm(config, tmp_path / "control.safetensors", batches=4, dtype=torch.float32)
    calibrated, initial = load_weights(path).state_dict(), _initial(config)
    assert calibrated.keys() == initial.keys()
    stats = [k for k in initial if k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert stats and len(stats) < len(initial)
    for key, value in initial.items():
        if key in stats:
            continue
        assert torch.equal(calibrated[key], value), f"{key} changed"
    means = [k for k in stats if k.endswith("running_mean")]
    moved = sum(not torch.equal(calibrated[k], initial[k]) for k in means)
    assert moved == len(means), f"only {moved} of {len(means)} BatchNorm means were calibrated"
    counts = {int(calibrated[k]) for k in stats if k.endswith("num_batches_tracked")}
    assert counts == {4}
    provenance = load_weights(path).config.provenance
    assert provenance["kind"] == "batchnorm-control" and provenance["seed"] == seed
    assert provenance["pairs_seen"] == 4 * config.train.batch_size


def test_the_statistics_are_the_average_over_the_batches_not_the_last_batch(tones, tmp_path):
    config = small_config(tones, tmp_path / "unused")
    one = load_weights(calibrate_batchnorm(config, tmp_path / "one.safetensors", batches=1)).state_dict()
    four = load_weights(calibrate_batchnorm(config, tmp_path / "four.safetensors", batches=4)).state_dict()
    key = next(k for k in one if k.endswith("running_mean"))
    assert not torch.allclose(one[key].float(), four[key].float())
    # the stem's BatchNorm in eval mode normalises the calibration data to about zero mean
    model = load_weights(tmp_path / "four.safetensors")
    assert batchnorm_layers(model) and all(not bn.training for bn in batchnorm_layers(model))


def test_cli_writes_a_control_the_hear_module_loads_and_never_overwrites(tones, tmp_path, capsys):
    out = tmp_path / "control.safetensors"
    args = ["calibrate", "--config", "smoke", "--data", str(tones), "--seed", "1", "--batches", "2", "--out", str(out)]
    args += ["--set", "frontend.segment_frames=32", "--set", "train.batch_size=8", "--no-cache", "--no-progress"]
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["seed"] == 1
    model = cola_hear.load_model(str(out))
    scene = cola_hear.get_scene_embeddings(torch.zeros(2, 16000), model)
    assert scene.shape == (2, model.scene_embedding_size) and torch.isfinite(scene).all()
    before = out.read_bytes()
    assert cli.main(args) == 1  # the finished file is kept
    assert out.read_bytes() == before
    assert "exists" in capsys.readouterr().err
    assert cli.main([*args[:-2], "--batches", "0", "--out", str(tmp_path / "x.safetensors")]) == 2
