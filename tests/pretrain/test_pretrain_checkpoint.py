"""Training checkpoints from elsewhere: a pickle that would run code is refused without running it."""

from __future__ import annotations

import pytest
import torch

from cola_pretrain.checkpoint import FORMAT, CheckpointError, latest_checkpoint, load_checkpoint
from cola_pretrain.cli import main as cli_main


class _Payload:
    """Unpickling this object would create the file ``marker``."""

    marker = None

    def __reduce__(self):
        return (open, (str(_Payload.marker), "w"))


@pytest.fixture
def malicious(tmp_path):
    _Payload.marker = tmp_path / "pwned"
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    path = folder / "step-00000001.pt"
    torch.save({"format": FORMAT, "step": 1, "model": {}, "payload": _Payload()}, path)
    assert path.stat().st_size > 0
    return path


def test_malicious_checkpoint_is_refused_without_running(malicious):
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(malicious)
    assert not _Payload.marker.exists()


def test_resume_passes_over_it_and_export_refuses_it(malicious, tmp_path):
    assert latest_checkpoint(malicious.parent) is None
    assert cli_main(["export", str(malicious), str(tmp_path / "out.safetensors")]) == 1
    assert not _Payload.marker.exists() and not (tmp_path / "out.safetensors").exists()
