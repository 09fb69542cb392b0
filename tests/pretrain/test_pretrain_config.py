"""Pretraining configs: shipped TOML files, overrides, errors that name the bad key, round trips."""

from __future__ import annotations

import pytest

from cola_hear.config import ConfigError, parse_override
from cola_pretrain.config import PretrainConfig, dump_toml, load_config, shipped_configs
from cola_pretrain.start import config_differences


def test_shipped_configs_load_and_default_is_the_cola_recipe():
    assert {"default", "smoke"} <= set(shipped_configs())
    c = load_config("default")
    assert (c.objective.name, c.optim.lr, c.data.noise_std, c.data.normalize) == ("bilinear", 1e-3, 0.001, "l2")
    assert (c.encoder.name, c.encoder.stem, c.encoder.pooling, c.encoder.drop_rate) == (
        "efficientnet_b0",
        "none",
        "max",
        0.0,
    )
    assert c.frontend.segment_frames == 96 and c.augment.enabled is False
    smoke = load_config("smoke")
    assert smoke.train.max_minutes is not None and smoke.train.max_steps is not None


def test_overrides_parse_toml_values_and_bare_words():
    assert parse_override("objective.name=cosine") == ("objective.name", "cosine")
    assert parse_override("optim.lr=3e-4") == ("optim.lr", 3e-4)
    assert parse_override("train.channels_last=false") == ("train.channels_last", False)
    assert parse_override('data.folders=["a", "b"]') == ("data.folders", ["a", "b"])
    assert parse_override("train.max_minutes=none") == ("train.max_minutes", None)
    c = load_config("smoke", dict([parse_override("encoder.stem=conv3x3"), parse_override("train.batch_size=3")]))
    assert c.encoder.stem == "conv3x3" and c.train.batch_size == 3 and c.data.folders == ()
    assert load_config("smoke", {"data.folders": ["x"]}).data.folders == ("x",)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train.batchsize": 3}, "train.batchsize"),
        ({"trian.batch_size": 3}, "trian"),
        ({"train.batch_size": "many"}, "train.batch_size"),
        ({"train.batch_size": 0}, "train.batch_size must be at least 2"),
        ({"objective.name": "simclr"}, "objective.name"),
        ({"encoder.pooling": "median"}, "pooling"),
        ({"optim.lr": True}, "optim.lr"),
        ({"augment.mix_prob": 2.0}, "augment.mix_prob"),
    ],
)
def test_bad_values_and_unknown_keys_are_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("smoke", overrides)


def test_unknown_key_in_a_file_is_named_with_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[train]\nbatch_size = 8\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match=r"run\.toml.*train\.learning_rate"):
        load_config(path)
    path.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="neither a file nor a shipped config"):
        load_config(tmp_path / "missing.toml")


def test_dump_toml_round_trips(tmp_path):
    c = load_config("default", {"data.folders": ['odd "name"\\x'], "train.max_minutes": 1.5, "data.cache": False})
    path = tmp_path / "saved.toml"
    path.write_text(dump_toml(c))
    assert load_config(path) == c
    assert PretrainConfig.from_dict(c.to_dict()) == c


def test_resume_may_change_the_budget_but_not_the_recipe():
    old = load_config("default").to_dict()
    budget = load_config("default", {"train.max_steps": 5, "train.device": "cpu", "data.folders": ["elsewhere"]})
    assert config_differences(old, budget.to_dict()) == []
    recipe = load_config("default", {"train.batch_size": 8, "encoder.pooling": "avg"})
    assert config_differences(old, recipe.to_dict()) == ["encoder.pooling: 'max' -> 'avg'", "train.batch_size: 64 -> 8"]
