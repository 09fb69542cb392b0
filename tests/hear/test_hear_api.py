"""The HEAR API of cola_hear: shapes, timestamps, input handling, and the real hear-validator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cola_hear import get_scene_embeddings, get_timestamp_embeddings, load_model


@pytest.fixture(scope="module")
def model(random_weights):
    return load_model(str(random_weights))


def test_timestamps_are_window_centres_in_ms(model):
    audio = torch.zeros(3, 16000 * 2)  # 2 s
    emb, ts = get_timestamp_embeddings(audio, model)
    assert emb.dtype == torch.float32 and ts.dtype == torch.float32
    assert emb.shape == (3, 41, model.timestamp_embedding_size)
    assert ts.shape == (3, 41)
    np.testing.assert_allclose(ts[0].numpy(), np.arange(41) * 50.0)
    assert torch.equal(ts[0], ts[2])


def _burst_response(model):
    """Per-timestamp change of the embedding caused by a 100 ms tone at 2.5 s in 6 s of silence."""
    audio = torch.zeros(1, 16000 * 6)
    t = torch.arange(1600) / 16000
    audio[0, 40000:41600] = 0.5 * torch.sin(2 * torch.pi * 1000 * t)
    silent, ts = get_timestamp_embeddings(torch.zeros_like(audio), model)
    emb, _ = get_timestamp_embeddings(audio, model)
    return (emb[0] - silent[0]).norm(dim=1), ts[0]


def test_windows_mode_is_exactly_local(model):
    """Exact path: only windows covering the burst change."""
    change, ts = _burst_response(model.with_hear(timestamp_mode="windows"))
    covered = (ts > 2500 - 480 - 10) & (ts < 2600 + 480 + 10)
    assert (change[(ts > 2500) & (ts < 2600)] > 1e-4).all()
    assert (change[~covered] <= 1e-4).all()


@pytest.mark.parametrize("shifts", [1, 2, 4])
def test_shared_mode_peaks_at_the_sound(model, shifts):
    """Fast path: the change peaks at the burst and fades with distance (the encoder sees context)."""
    change, ts = _burst_response(model.with_hear(timestamp_mode="shared", timestamp_shifts=shifts))
    assert abs(ts[change.argmax()] - 2550) <= 32 * 10 / shifts + 100
    far = (ts < 1000) | (ts > 4100)
    assert change[far].max() < 0.2 * change.max()


def test_shared_mode_chunking_matches_whole_input(model):
    audio = torch.randn(1, 16000 * 20) * 0.1
    whole, ts = get_timestamp_embeddings(audio, model.with_hear(precision="fp32"))
    chunked, ts2 = get_timestamp_embeddings(audio, model.with_hear(precision="fp32", chunk_frames=500))
    assert torch.equal(ts, ts2)
    assert (chunked - whole).norm() < 1e-4 * whole.norm()  # float rounding only: 1.3e-5 measured


def test_modes_agree_on_shapes_and_timestamps(model):
    audio = torch.randn(2, 12345) * 0.1
    a, ta = get_timestamp_embeddings(audio, model.with_hear(timestamp_mode="windows"))
    b, tb = get_timestamp_embeddings(audio, model.with_hear(timestamp_mode="shared"))
    assert a.shape == b.shape and torch.equal(ta, tb)


def test_scene_embeddings_shape_and_determinism(model):
    audio = torch.randn(4, 16000 * 3) * 0.1
    a = get_scene_embeddings(audio, model)
    b = get_scene_embeddings(audio, model)
    assert a.shape == (4, model.scene_embedding_size) and a.dtype == torch.float32
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b)


def test_batch_items_are_independent(model):
    audio = torch.randn(3, 16000 * 2) * 0.1
    together = get_scene_embeddings(audio, model)
    alone = get_scene_embeddings(audio[1:2], model)
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n_samples", [1, 100, 16000])
def test_short_audio_is_padded(model, n_samples):
    emb = get_scene_embeddings(torch.zeros(2, n_samples), model)
    assert emb.shape == (2, model.scene_embedding_size)
    temb, ts = get_timestamp_embeddings(torch.zeros(2, n_samples), model)
    assert temb.shape[:2] == ts.shape and ts.shape[1] >= 1


def test_accepted_input_types(model):
    base = np.random.default_rng(0).uniform(-0.5, 0.5, size=(2, 16000)).astype(np.float32)
    ref = get_scene_embeddings(torch.from_numpy(base), model)
    torch.testing.assert_close(get_scene_embeddings(base, model), ref)  # numpy
    torch.testing.assert_close(get_scene_embeddings(torch.from_numpy(base).double(), model), ref)  # float64
    one = get_scene_embeddings(torch.from_numpy(base[0]), model)  # 1-D = one sound
    torch.testing.assert_close(one, ref[:1])
    pcm = torch.from_numpy((base * 32768).astype(np.int16))
    torch.testing.assert_close(get_scene_embeddings(pcm, model), ref, atol=1e-3, rtol=1e-3)


def test_empty_batch(model):
    assert get_scene_embeddings(torch.zeros(0, 16000), model).shape == (0, model.scene_embedding_size)
    emb, ts = get_timestamp_embeddings(torch.zeros(0, 16000), model)
    assert emb.shape[0] == 0 and ts.shape[0] == 0


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (torch.zeros(1, 2, 16000), "shape"),
        (torch.tensor([[0.0, float("nan")]]), "NaN"),
        (torch.tensor([[0.0, float("inf")]]), "NaN or inf"),
        (torch.zeros(2, 100, dtype=torch.bool), "dtype"),
        ([[0.0, 0.1]], "torch.Tensor or numpy"),
    ],
)
def test_bad_input_raises_value_error(model, audio, message):
    with pytest.raises(ValueError, match=message):
        get_scene_embeddings(audio, model)
    with pytest.raises(ValueError, match=message):
        get_timestamp_embeddings(audio, model)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_sounds=st.integers(0, 3),
    n_samples=st.integers(0, 40000),
    dtype=st.sampled_from([np.float32, np.float64, np.int16, np.int32]),
    scale=st.sampled_from([0.0, 1e-6, 0.5, 1.0, 100.0, 1e6]),
    as_numpy=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_any_valid_input_gives_finite_embeddings(model, n_sounds, n_samples, dtype, scale, as_numpy, seed):
    """Random shapes, dtypes, lengths and levels (far outside [-1, 1] too): finite outputs of the right shape."""
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-1, 1, (n_sounds, n_samples)) * scale
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        audio = np.clip(audio * info.max, info.min, info.max)
    audio = audio.astype(dtype)
    audio_in = audio if as_numpy else torch.from_numpy(audio)
    scene = get_scene_embeddings(audio_in, model)
    assert scene.shape == (n_sounds, model.scene_embedding_size) and scene.dtype == torch.float32
    assert torch.isfinite(scene).all()
    emb, ts = get_timestamp_embeddings(audio_in, model)
    assert emb.shape[0] == ts.shape[0] == n_sounds and emb.shape[1] == ts.shape[1] >= 1
    assert torch.isfinite(emb).all() and torch.isfinite(ts).all()


READOUT = ("stage1", "stage2.std", "final")


def test_stage_readout_concatenates_its_parts(model):
    """hear.readout: stage outputs (time-averaged, frequency kept) before the final feature, in every API call."""
    multi = model.with_hear(readout=READOUT)
    assert multi.scene_embedding_size == multi.timestamp_embedding_size == 24 * 16 + 40 * 8 + 1280
    assert model.scene_embedding_size == 1280  # the original is unchanged
    audio = 0.1 * torch.randn(2, 24000)
    scene = get_scene_embeddings(audio, multi)
    assert scene.shape == (2, multi.scene_embedding_size) and torch.isfinite(scene).all()
    torch.testing.assert_close(scene[:, -1280:], get_scene_embeddings(audio, model))
    assert scene[:, :384].std() > 0
    longer = 0.1 * torch.randn(1, 16000 * 8)
    emb, ts = get_timestamp_embeddings(longer, multi)  # shared passes serve every part
    final, final_ts = get_timestamp_embeddings(longer, model)
    assert emb.shape == (*final.shape[:2], multi.timestamp_embedding_size)
    # the final part is the final-only embedding, except near the end: the stage parts need longer passes
    torch.testing.assert_close(emb[:, :80, -1280:], final[:, :80])
    assert torch.equal(ts, final_ts)
    windows, _ = get_timestamp_embeddings(audio, multi.with_hear(timestamp_mode="windows"))
    torch.testing.assert_close(
        windows[..., -1280:], get_timestamp_embeddings(audio, model.with_hear(timestamp_mode="windows"))[0]
    )


@pytest.mark.parametrize("readout", [(), ("final", "final"), ("stage",), ("block3",), ("stage1.max",)])
def test_bad_readout_is_refused(readout):
    from cola_hear import HearConfig

    with pytest.raises(ValueError, match="readout"):
        HearConfig(readout=readout)


def test_readout_weights_give_their_sizes_and_bad_stage_is_named(tmp_path, random_weights):
    variant = tmp_path / "readout.safetensors"
    tool = [sys.executable, str(Path(__file__).parents[2] / "scripts" / "weights_variant.py")]
    subprocess.run(
        [*tool, str(random_weights), str(variant), "--set", 'hear.readout=["stage1","stage2","final"]'],
        check=True,
        capture_output=True,
    )
    assert load_model(str(variant)).scene_embedding_size == 24 * 16 + 40 * 8 + 1280  # validated: test_hear_validator
    from safetensors.torch import load_file, save_file

    from cola_hear import WeightsError, load_weights
    from cola_hear.weights import weights_metadata

    config = load_weights(random_weights).config.to_dict()
    config["hear"]["readout"] = ["stage9"]
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(random_weights)), str(bad), metadata=weights_metadata(config))
    with pytest.raises(WeightsError, match="stages 0-6, not \\[9\\]"):
        load_model(str(bad))
