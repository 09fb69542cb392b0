"""The audio reader on broken files and on random formats, rates, channels and lengths."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cola_common.audio_files import AudioError, audio_info, load_audio
from support.broken_audio import write_broken_audio


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    return write_broken_audio(tmp_path_factory.mktemp("broken"))


def test_bad_files_raise_audio_error(broken):
    for path in broken["bad"]:
        with pytest.raises(AudioError, match=path.name):
            load_audio(path)


def test_awkward_files_load_as_finite_mono_16k(broken):
    for path in broken["good"]:
        audio = load_audio(path)
        assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size > 0, path.name
        assert np.isfinite(audio).all(), path.name
        expected = audio_info(path).frames * 16000 / audio_info(path).sample_rate
        if path.name != "truncated_data.wav":  # its header overstates the length
            assert abs(audio.size - expected) <= 2, path.name


def test_crop_decodes_only_the_requested_part(tmp_path):
    rate = 22050
    ramp = np.linspace(-1, 1, rate * 10, dtype=np.float32)
    path = tmp_path / "ramp.flac"
    sf.write(path, ramp, rate, subtype="PCM_24")
    crop = load_audio(path, sample_rate=rate, start=4.0, duration=1.0)
    np.testing.assert_allclose(crop, ramp[4 * rate : 5 * rate], atol=1e-5)
    tail = load_audio(path, sample_rate=rate, start=9.5, duration=5.0)
    assert tail.size == rate // 2
    with pytest.raises(AudioError, match="no samples"):
        load_audio(path, start=20.0, duration=1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rate=st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000]),
    channels=st.integers(1, 6),
    seconds=st.floats(0.001, 1.5),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT"]),
    ext=st.sampled_from([".wav", ".flac"]),
    amplitude=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_random_files_give_finite_mono_16k(tmp_path, rate, channels, seconds, subtype, ext, amplitude, seed):
    if ext == ".flac" and (subtype == "FLOAT" or rate > 655350 or channels > 8):
        subtype = "PCM_16"
    frames = max(1, int(seconds * rate))
    data = (np.random.default_rng(seed).uniform(-1, 1, (frames, channels)) * amplitude).astype(np.float32)
    path = tmp_path / f"x_{rate}_{channels}_{frames}{ext}"
    sf.write(path, data, rate, subtype=subtype)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.isfinite(audio).all()
    assert abs(audio.size - frames * 16000 / rate) <= 2
