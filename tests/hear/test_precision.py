"""The one precision policy (cola_hear.precision), used by inference and training."""

from __future__ import annotations

import pytest
import torch

import cola_hear.precision as precision
from cola_pretrain.step import use_bf16 as training_bf16

CPU = torch.device("cpu")


@pytest.mark.parametrize("native", [True, False])
def test_auto_uses_cpu_bf16_for_inference_only(monkeypatch, native):
    monkeypatch.setattr(precision, "bf16_supported", lambda device: native)
    assert precision.use_bf16("auto", CPU, "precision", auto_on_cpu=True) is native
    assert precision.use_bf16("auto", CPU, "train.amp", auto_on_cpu=False) is False
    assert training_bf16("auto", CPU) is False
    assert precision.use_bf16("fp32", CPU, "precision", auto_on_cpu=True) is False
    assert training_bf16("off", CPU) is False


def test_bf16_where_unsupported_is_refused_with_the_setting_named(monkeypatch):
    monkeypatch.setattr(precision, "bf16_supported", lambda device: False)
    with pytest.raises(ValueError, match=r"train\.amp='bf16'"):
        training_bf16("bf16", CPU)
    monkeypatch.setattr(precision, "bf16_supported", lambda device: True)
    assert training_bf16("bf16", CPU) is True
    with pytest.raises(ValueError, match=r"must be 'fp32', 'bf16' or 'auto'"):
        precision.use_bf16("half", CPU, "precision", auto_on_cpu=True)


def test_model_and_autocast_follow_the_policy(random_weights):
    from cola_hear import load_model

    model = load_model(str(random_weights)).with_hear(precision="fp32")
    assert model.use_bf16() is False
    with model.inference_context():
        assert not torch.is_autocast_enabled("cpu")
    with precision.autocast(CPU, True):
        assert torch.is_autocast_enabled("cpu")
