"""The real hear-validator on every kind of HEAR module the project ships or evaluates, in one test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cola_pretrain.train import run_training
from support.audio import write_tone_folder
from support.hear_validator import run_hear_validator
from support.pretrain_runs import small_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def readout_variant(random_weights, tmp_path_factory) -> Path:
    """Random weights read out at stages 1 and 2 and the final layer (scripts/weights_variant.py)."""
    variant = tmp_path_factory.mktemp("variant") / "readout.safetensors"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "weights_variant.py"), str(random_weights), str(variant),
         "--set", 'hear.readout=["stage1","stage2","final"]'],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return variant


@pytest.fixture(scope="module")
def exported_weights(tmp_path_factory) -> Path:
    """The weights a short pretraining run exports (4 steps on tone mixtures)."""
    tones = tmp_path_factory.mktemp("tones")
    write_tone_folder(tones, n_classes=8, seconds=2.0)
    out = tmp_path_factory.mktemp("run")
    return run_training(small_config(tones, out, **{"train.max_steps": 4})).weights


# case -> (module, weights fixture or None, through the bridge's peer fixes, the scene embedding size the
# validator must report for it, any further text its output must hold)
CASES = {
    "shipped weights": ("cola_hear", None, False, 1664, ""),  # stages 0 and 3, mean and std over time
    "random-init weights": ("cola_hear", "random_weights", False, 1280, ""),  # the final layer (default read-out)
    "read-out variant": ("cola_hear", "readout_variant", False, 1984, ""),  # stage1 + stage2 + final
    "exported by pretraining": ("cola_hear", "exported_weights", False, 1280, ""),
    "log-mel statistics baseline": ("cola_eval.models.baselines.logmel_stats", None, False, 128, ""),
    "peer hearbaseline.naive": ("hearbaseline.naive", None, True, 4096, "Interval between timestamps is 50.0ms"),
    # about 45 s on the 2-core host: CREPE's full model on 16 x 2 s and 8 x 3.74 s of noise
    "peer hearbaseline.torchcrepe": ("hearbaseline.torchcrepe", None, False, 2048, ""),
}
FAST = {"shipped weights"}  # `make test` validates the shipped module; SLOW=1 (CI) every kind


@pytest.mark.parametrize("case", [c if c in FAST else pytest.param(c, marks=pytest.mark.slow) for c in CASES], ids=str)
def test_hear_validator_accepts(case, request):
    """The validator passes (exit 0, "Looks good!") on the weights asked for, with the module's own size."""
    module, fixture, bridge, size, expected = CASES[case]
    weights = request.getfixturevalue(fixture) if fixture else None
    lines = run_hear_validator(module, weights, bridge=bridge, timeout=900).splitlines()
    loaded = (
        f"  - Loading model with weights file: {weights}" if weights else "  - No weight file provided. Using default"
    )
    assert loaded in lines, lines[:5]
    assert f"  - scene_embedding_size: {size}" in lines, [line for line in lines if "embedding_size" in line]
    assert f"  - Received embedding of shape: torch.Size([8, {size}])" in lines  # the scene embeddings
    assert not expected or f"  - {expected}" in lines, expected


def test_the_validator_check_fails_when_the_module_does_not_load(tmp_path):
    with pytest.raises(AssertionError, match="Traceback"):
        run_hear_validator("cola_hear", tmp_path / "missing.safetensors")
