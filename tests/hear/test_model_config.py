"""The model config of weights files goes through the same typed loader as pretraining configs."""

from __future__ import annotations

import pytest

from cola_hear import ModelConfig
from cola_hear.config import ConfigError, parse_override
from cola_pretrain.config import load_config


def test_model_config_round_trips_and_checks_types():
    config = ModelConfig()
    assert ModelConfig.from_dict(config.to_dict()) == config
    data = config.to_dict()
    data["hear"]["chunk_frames"] = "many"
    with pytest.raises(ConfigError, match=r"hear\.chunk_frames must be of type int"):
        ModelConfig.from_dict(data)
    data = config.to_dict()
    data["frontend"]["n_mels"] = True  # a bool is not an int here
    with pytest.raises(ConfigError, match=r"frontend\.n_mels"):
        ModelConfig.from_dict(data)
    data = config.to_dict()
    data["hear"]["readout"] = ["stage0", "stage0.std"]  # JSON gives lists; the config keeps tuples
    assert ModelConfig.from_dict(data).hear.readout == ("stage0", "stage0.std")
    data["encoder"]["size"] = 3
    with pytest.raises(ConfigError, match=r"encoder\.size"):
        ModelConfig.from_dict(data)


def test_one_override_grammar_for_every_tool():
    assert parse_override('hear.readout=["final"]') == ("hear.readout", ["final"])
    assert parse_override("encoder.pooling=avg") == ("encoder.pooling", "avg")
    assert parse_override("optim.lr=1e-3") == ("optim.lr", 1e-3)
    assert parse_override("train.max_time=none") == ("train.max_time", None)
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_override("no-equals-sign")
    assert load_config("smoke", {"hear.readout": ["stage0"]}).hear.readout == ("stage0",)
