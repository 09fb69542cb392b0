"""The embedding cache: reuse, and recomputation after a weights change or a damaged entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cola_eval.models.hear_module import HearModel, ModuleError, ModuleSpec
from cola_eval.protocols.embedding_cache import EmbeddingCache, task_embeddings
from cola_eval.protocols.tasks import load_task
from cola_hear import ColaModel, save_weights
from support.tasks import make_event_task, make_scene_task


@pytest.fixture(scope="module")
def scene_task(tmp_path_factory):
    return load_task(make_scene_task(tmp_path_factory.mktemp("tasks"), per_class=1))


def _weights(path, seed):
    torch.manual_seed(seed)
    save_weights(ColaModel(), path)
    return path


def test_module_default_weights_are_identified_by_their_checksum():
    """Rows and cache keys of ``cola_hear`` without a weights file name the shipped default file,
    so a new default (a non-Python asset) is never mistaken for the old one."""
    from cola_common.provenance import weights_sha256
    from cola_hear.hear import default_weights_path

    assert ModuleSpec("cola_hear").weights_checksum() == weights_sha256(default_weights_path())
    assert ModuleSpec("cola_eval.models.baselines.logmel_stats").weights_checksum() == "none"


def test_cache_reuses_then_recomputes_when_the_weights_file_changes(scene_task, tmp_path):
    weights = _weights(tmp_path / "w.safetensors", seed=0)
    cache = EmbeddingCache(tmp_path / "cache")
    first = task_embeddings(HearModel(ModuleSpec("cola_hear", weights)), scene_task, cache)
    again = task_embeddings(HearModel(ModuleSpec("cola_hear", weights)), scene_task, cache)
    assert not first.from_cache and again.from_cache
    assert np.array_equal(first.splits["test"].embeddings, again.splits["test"].embeddings)
    assert first.splits["train"].embeddings.shape == (2 * 3, 1280)

    _weights(weights, seed=1)  # same path, other weights
    changed = task_embeddings(HearModel(ModuleSpec("cola_hear", weights)), scene_task, cache)
    assert not changed.from_cache and changed.key.weights_sha256 != first.key.weights_sha256
    assert not np.allclose(changed.splits["test"].embeddings, first.splits["test"].embeddings)
    assert not list(cache.root.rglob("*.tmp"))  # atomic writes leave no temp folders


@pytest.mark.parametrize("damage", ["truncate", "delete_manifest", "foreign_key"])
def test_damaged_entry_is_recomputed(scene_task, tmp_path, damage):
    model = HearModel(ModuleSpec("cola_eval.models.baselines.logmel_stats"))
    cache = EmbeddingCache(tmp_path / "cache")
    first = task_embeddings(model, scene_task, cache)
    entry = cache.entry_dir(first.key)
    if damage == "truncate":  # a partial file
        data = (entry / "valid.npz").read_bytes()
        (entry / "valid.npz").write_bytes(data[: len(data) // 2])
    elif damage == "delete_manifest":
        (entry / "manifest.json").unlink()
    else:  # an entry written for other weights
        manifest = json.loads((entry / "manifest.json").read_text())
        manifest["key"]["weights_sha256"] = "0" * 64
        (entry / "manifest.json").write_text(json.dumps(manifest))
    second = task_embeddings(model, scene_task, cache)
    assert not second.from_cache
    assert np.array_equal(second.splits["valid"].embeddings, first.splits["valid"].embeddings)
    assert task_embeddings(model, scene_task, cache).from_cache


def test_event_embeddings_keep_per_file_frames(tmp_path):
    task = load_task(make_event_task(tmp_path, files={"train": 2, "valid": 1, "test": 1}))
    cache = EmbeddingCache(tmp_path / "cache")
    model = HearModel(ModuleSpec("cola_eval.models.baselines.logmel_stats"))
    task_embeddings(model, task, cache)
    cached = task_embeddings(model, task, cache)
    assert cached.from_cache
    emb, ts = cached.splits["train"].frames_of(1)
    assert emb.shape == (41, 128) and ts[0] == 0.0 and ts[-1] == pytest.approx(2000.0)


def test_a_module_without_the_hear_api_is_refused():
    with pytest.raises(ModuleError, match="not a HEAR module"):
        HearModel(ModuleSpec("json"))
    with pytest.raises(ModuleError, match="cannot import"):
        HearModel(ModuleSpec("no_such_module_xyz"))


def test_editing_the_module_source_invalidates_the_cache(scene_task, tmp_path, monkeypatch):
    package = tmp_path / "mods" / "tiny_hear_module"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from cola_eval.models.baselines.logmel_stats import (\n"
        "    get_scene_embeddings, get_timestamp_embeddings, load_model)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    cache = EmbeddingCache(tmp_path / "cache")
    spec = ModuleSpec("tiny_hear_module")
    assert not task_embeddings(HearModel(spec), scene_task, cache).from_cache
    assert task_embeddings(HearModel(spec), scene_task, cache).from_cache
    (package / "__init__.py").write_text((package / "__init__.py").read_text() + "# edited\n")
    assert not task_embeddings(HearModel(spec), scene_task, cache).from_cache


def test_the_cache_key_covers_exactly_the_code_that_computes_cola_embeddings():
    """The source the key hashes for ``cola_hear`` is the set of files a fresh process runs to load the model
    and embed: no file more (the tools' shared code in ``cola_common`` does not invalidate the cache), none less."""
    import subprocess
    import sys
    from pathlib import Path

    import cola_hear
    from cola_eval.models.hear_module import module_source_files

    code = (
        "import sys, numpy as np, cola_hear; m = cola_hear.load_model(); "
        "a = np.zeros((1, 16000), np.float32); cola_hear.get_scene_embeddings(a, m); "
        "cola_hear.get_timestamp_embeddings(a, m); "
        "print('\\n'.join(sorted(v.__file__ for k, v in sys.modules.items() if k.split('.')[0] == 'cola_hear')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    ran = {Path(line).resolve() for line in proc.stdout.split()}
    hashed = {f.resolve() for f in module_source_files(cola_hear)}
    assert hashed == ran, f"hashed, not run: {sorted(hashed - ran)}; run, not hashed: {sorted(ran - hashed)}"
