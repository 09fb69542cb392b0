"""``load_model`` folds BatchNorm into the convolutions: the same embeddings up to float rounding, no BatchNorm
left in the encoder, and a model that refuses to train or be saved (``load_weights`` gives the trainable one)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cola_hear import get_scene_embeddings, get_timestamp_embeddings, load_model, load_weights, save_weights
from cola_hear.hear import default_weights_path
from cola_hear.weights import WeightsError


def test_folded_model_embeds_as_the_trainable_one_and_refuses_training_and_saving(tmp_path):
    folded = load_model().with_hear(precision="fp32")
    plain = load_weights(default_weights_path()).to(memory_format=torch.channels_last).eval()
    plain = plain.with_hear(precision="fp32")
    assert folded.folded and not plain.folded
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.encoder.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in plain.encoder.modules()) > 0
    gen = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(3, 40000, generator=gen)
    scene_f, scene_p = get_scene_embeddings(audio, folded), get_scene_embeddings(audio, plain)
    assert not torch.equal(scene_f, scene_p)  # the arithmetic did change ...
    torch.testing.assert_close(scene_f, scene_p, rtol=1e-4, atol=1e-4)  # ... but only by rounding
    ts_f, _ = get_timestamp_embeddings(audio[:1], folded)
    ts_p, _ = get_timestamp_embeddings(audio[:1], plain)
    torch.testing.assert_close(ts_f, ts_p, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="load_weights to train"):
        folded.train()
    folded.eval()  # inference mode stays available
    with pytest.raises(WeightsError, match="folded"):
        save_weights(folded, tmp_path / "folded.safetensors")
    assert not (tmp_path / "folded.safetensors").exists()
