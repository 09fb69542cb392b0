"""The log-mel statistics baseline is a valid HEAR module (checked by the real hear-validator)."""

from __future__ import annotations

import numpy as np
import torch

from cola_eval.models.baselines import logmel_stats


def test_logmel_stats_are_band_means_and_stds():
    model = logmel_stats.load_model()
    rng = np.random.default_rng(0)
    audio = torch.from_numpy(rng.uniform(-0.5, 0.5, (2, 16000)).astype(np.float32))
    scene = logmel_stats.get_scene_embeddings(audio, model)
    logmel = model.frontend.long(audio[0])
    assert torch.allclose(scene[0, :64], logmel.mean(0), atol=1e-5)
    assert torch.allclose(scene[0, 64:], logmel.std(0, unbiased=False), atol=1e-4)
    emb, ts = logmel_stats.get_timestamp_embeddings(audio, model)
    assert emb.shape == (2, 21, 128) and torch.equal(ts[0], torch.arange(21) * 50.0)
    # the window centred at 500 ms covers frames 2..97 (96 frames): its band means match
    assert torch.allclose(emb[0, 10, :64], logmel[2:98].mean(0), atol=1e-4)
    # an edge window uses only the frames inside the audio: the one at 0 ms covers frames 0..47
    assert torch.allclose(emb[0, 0, :64], logmel[:48].mean(0), atol=1e-4)
    assert torch.allclose(emb[0, 0, 64:], logmel[:48].std(0, unbiased=False), atol=1e-4)
