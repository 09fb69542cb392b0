"""The default weights shipped inside the package: small, fp16, with provenance, accepted by hear-validator."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from cola_hear import get_scene_embeddings, load_model
from cola_hear.hear import default_weights_path
from cola_hear.weights import read_config


def test_shipped_weights_are_small_fp16_with_provenance():
    path = default_weights_path()
    assert path.is_file(), f"default weights missing: {path}"
    assert path.stat().st_size < 20e6
    tensors = load_file(str(path))
    assert {t.dtype for t in tensors.values() if t.is_floating_point()} == {torch.float16}
    provenance = read_config(path).provenance
    for key in ("command", "steps", "seed", "data", "config", "git_commit"):
        assert provenance.get(key) is not None, key
    assert provenance["producer"] == "cola-pretrain" and provenance["steps"] > 0
    assert len(provenance["data"]["manifest_sha256"]) == 64


def test_load_model_without_path_uses_shipped_weights():
    model = load_model()
    emb = get_scene_embeddings(torch.zeros(1, 16000), model)
    assert emb.shape == (1, model.scene_embedding_size) and torch.isfinite(emb).all()
    # mean and std of stage 0 (16 channels x 32 mel bins) and stage 3 (80 channels x 4 mel bins)
    assert model.scene_embedding_size == 2 * 16 * 32 + 2 * 80 * 4
