"""Weights files: round trip, fp16 export, and refusal of mismatched or hostile files."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from cola_hear import ColaModel, EncoderConfig, ModelConfig, WeightsError, load_model, load_weights, save_weights
from cola_hear.weights import read_config, weights_metadata


def test_round_trip_preserves_weights_and_config(tmp_path):
    torch.manual_seed(1)
    config = ModelConfig(provenance={"steps": 7, "seed": 1})
    model = ColaModel(config)
    path = save_weights(model, tmp_path / "w.safetensors")
    loaded = load_weights(path)
    assert loaded.config == config and loaded.config.provenance == {"steps": 7, "seed": 1}
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_same_weights_give_identical_bytes(tmp_path):
    torch.manual_seed(3)
    model = ColaModel(ModelConfig(provenance={"b": 1, "a": [2, 3]}))
    first = save_weights(model, tmp_path / "a.safetensors").read_bytes()
    second = save_weights(model, tmp_path / "b.safetensors").read_bytes()
    assert first == second


def test_other_format_version_is_named(tmp_path, random_weights):
    meta = {"cola_hear": json.dumps({"format": "cola-hear-weights-v9", "config": ModelConfig().to_dict()})}
    path = tmp_path / "future.safetensors"
    save_file(load_file(str(random_weights)), str(path), metadata=meta)
    with pytest.raises(WeightsError, match="cola-hear-weights-v9"):
        read_config(path)


def test_fp16_export_is_small_and_close(tmp_path):
    torch.manual_seed(2)
    model = ColaModel().eval()
    path = save_weights(model, tmp_path / "w16.safetensors", dtype=torch.float16)
    assert path.stat().st_size < 20e6
    loaded = load_weights(path)
    x = torch.randn(2, 96, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.embed_windows(x), model.embed_windows(x), atol=2e-2, rtol=2e-2)


def test_variant_architecture_round_trips(tmp_path):
    config = ModelConfig(encoder=EncoderConfig(stem="conv3x3", pooling="avg", drop_rate=0.1))
    path = save_weights(ColaModel(config), tmp_path / "seed_article.safetensors")
    assert load_weights(path).config.encoder.stem == "conv3x3"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(str(tmp_path / "nope.safetensors"))


def test_wrong_shapes_are_named(tmp_path, random_weights):
    tensors = load_file(str(random_weights))
    name = "encoder.backbone.conv_stem.weight"
    tensors[name] = torch.zeros(32, 3, 3, 3)  # a 3-channel stem under a 1-channel config
    meta = weights_metadata(ModelConfig().to_dict())
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(WeightsError, match=r"wrong shape \[encoder\.backbone\.conv_stem\.weight"):
        load_weights(bad)


def test_missing_tensors_are_named(tmp_path, random_weights):
    tensors = load_file(str(random_weights))
    del tensors["encoder.backbone.bn2.weight"]
    meta = weights_metadata(ModelConfig().to_dict())
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(WeightsError, match=r"missing \[encoder\.backbone\.bn2\.weight"):
        load_weights(bad)


def test_other_architecture_config_is_refused(tmp_path, random_weights):
    tensors = load_file(str(random_weights))
    config = ModelConfig().to_dict()
    config["encoder"]["name"] = "efficientnet_b1"
    config["embedding_size"] = 1280
    meta = weights_metadata(config)
    other = tmp_path / "b1.safetensors"
    save_file(tensors, str(other), metadata=meta)
    with pytest.raises(WeightsError, match="efficientnet_b1"):
        load_weights(other)


def test_unknown_config_key_is_refused(tmp_path, random_weights):
    config = ModelConfig().to_dict()
    config["frontend"]["n_mel"] = 64
    meta = weights_metadata(config)
    path = tmp_path / "typo.safetensors"
    save_file(load_file(str(random_weights)), str(path), metadata=meta)
    with pytest.raises(WeightsError, match="n_mel"):
        read_config(path)


def test_plain_safetensors_without_config_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="not a cola-hear weights file"):
        load_model(str(path))


def test_nan_weights_are_refused(tmp_path):
    model = ColaModel()
    with torch.no_grad():
        model.encoder.backbone.conv_head.weight[0, 0] = float("nan")
    path = save_weights(model, tmp_path / "nan.safetensors")
    with pytest.raises(WeightsError, match="NaN"):
        load_weights(path)


class _Payload:
    def __reduce__(self):
        return (open, (str(_Payload.marker), "w"))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    """A pickle whose loading would create a file is refused, and the file never appears."""
    _Payload.marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"state_dict": _Payload()}))
    with pytest.raises(WeightsError):
        load_model(str(path))
    assert not _Payload.marker.exists()


def test_truncated_file_is_refused(tmp_path, random_weights):
    data = random_weights.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError):
        load_weights(path)
