"""The HEAR API under bad or unusual input (issue 28): integer audio, tensors without data, a folder
as the weights path, and memory of scene embeddings that does not grow with the clip.

Each test fails on the code before the fix: int64 was scaled as int32 (int16-range samples became
near-silence), the meta device gave an obscure ``Tensor.item()`` error, ``load_model(".")`` said
"weights file not found", and scene embeddings of one long clip held the whole clip's log-mel,
windows and NaN check in memory (about 14 MB per minute of audio).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from cola_hear import get_scene_embeddings, get_timestamp_embeddings, load_model
from cola_hear.hear import scene_block_windows
from cola_hear.weights import WeightsError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shipped():
    return load_model().with_hear(precision="fp32")


def _real_clip(mini_suite: Path, seconds: float) -> torch.Tensor:
    """Real audio from the mini suite's 16 kHz clips, concatenated to ``seconds``."""
    files = sorted(mini_suite.glob("*-mini/16000/**/*.wav"))[:200]
    audio = np.concatenate([sf.read(f, dtype="float32")[0] for f in files])
    assert len(audio) >= seconds * 16000
    return torch.from_numpy(audio[: round(seconds * 16000)].copy())


def test_int16_and_int32_are_pcm_and_int64_is_refused_with_what_to_pass(shipped, mini_suite):
    audio = _real_clip(mini_suite, 3.0)
    ref = get_scene_embeddings(audio[None], shipped)
    pcm16 = torch.round(audio * 32767).to(torch.int16)[None]
    as16 = get_scene_embeddings(pcm16, shipped)
    torch.testing.assert_close(as16, get_scene_embeddings(pcm16.float() / 32768, shipped))  # x / 2**15, exactly
    torch.testing.assert_close(as16, ref, rtol=1e-3, atol=1e-3)
    pcm32 = pcm16.to(torch.int32) * 65536  # the same samples as 32-bit PCM
    torch.testing.assert_close(get_scene_embeddings(pcm32, shipped), as16)
    # int64, as torch.tensor(list_of_ints) and np.asarray(list_of_ints) make it: refused, saying what to pass
    for wide in (pcm16.long(), torch.tensor(pcm16.tolist()), np.asarray(pcm16.tolist())):
        for fn in (get_scene_embeddings, get_timestamp_embeddings):
            with pytest.raises(ValueError, match=r"int64 has no PCM scale.*int16"):
                fn(wide, shipped)


def test_a_tensor_without_data_and_a_folder_as_weights_get_clear_errors(tmp_path):
    model = load_model()
    with pytest.raises(ValueError, match="meta device"):
        get_scene_embeddings(torch.zeros(1, 16000, device="meta"), model)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"run is a folder, not a weights file.*model\.safetensors"):
        load_model(str(tmp_path / "run"))
    with pytest.raises(WeightsError, match="is a folder"):
        load_model(".")


def test_long_scene_embeddings_done_in_blocks_equal_one_pass_on_real_audio(shipped, mini_suite):
    block_seconds = scene_block_windows(shipped) * 96 / 100
    audio = _real_clip(mini_suite, 2.5 * block_seconds + 0.37)  # two full blocks and a part, last window padded
    with torch.no_grad():  # the whole-sound computation, as before blocks
        logmel = shipped.frontend.long(audio)
        whole = shipped.encode_in_chunks(shipped.sliding_windows(logmel, 96, centred=False)).mean(dim=0)
    blocks = get_scene_embeddings(audio[None], shipped)[0]
    torch.testing.assert_close(blocks, whole, rtol=1e-5, atol=1e-6)
    short = audio[: round(0.5 * block_seconds * 16000)]  # one block: the one-pass code, bit for bit
    with torch.no_grad():
        one = shipped.encode_in_chunks(shipped.sliding_windows(shipped.frontend.long(short), 96, False)).mean(0)
    assert torch.equal(get_scene_embeddings(short[None], shipped)[0], one)


def test_short_sounds_share_encoder_passes_and_embed_as_one_at_a_time(shipped, mini_suite):
    clip = _real_clip(mini_suite, 40 * 2.5)
    sounds = clip.view(40, -1)  # 40 real sounds of 2.5 s: 3 windows each
    model = shipped.with_hear()  # a copy whose readout_windows can be counted
    calls = []

    def counted(windows):
        calls.append(len(windows))
        return shipped.readout_windows(windows)

    model.readout_windows = counted
    batched = get_scene_embeddings(sounds, model)
    assert sum(calls) == 40 * 3 and len(calls) <= 5  # before: one encoder pass of 3 windows per sound
    one_by_one = torch.cat([get_scene_embeddings(sound[None], shipped) for sound in sounds])
    torch.testing.assert_close(batched, one_by_one, rtol=1e-4, atol=1e-5)  # batch size changes rounding only
    assert not torch.equal(batched[0], batched[1])


MEMORY_SCRIPT = """
import json, sys, threading, time, torch
from cola_hear import get_scene_embeddings, load_model

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

model = load_model().with_hear(precision="fp32")
t = torch.arange(int(16000 * 60 * float(sys.argv[1])), dtype=torch.float32) / 16000
audio = (0.3 * torch.sin(2 * torch.pi * 440 * t) * torch.sin(2 * torch.pi * 0.5 * t))[None]
del t
get_scene_embeddings(audio[:, : 16000 * 70], model)  # warm-up: one block and more
peak, done = [0], [False]
def poll():
    while not done[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
thread = threading.Thread(target=poll)
base = rss()
thread.start()
get_scene_embeddings(audio, model)
done[0] = True
thread.join()
print(json.dumps({"added_mb": (peak[0] - base) / 1e6, "input_mb": audio.numel() * 4 / 1e6}))
"""


def test_scene_embeddings_of_a_long_clip_add_memory_independent_of_its_length():
    """20 minutes of audio (77 MB of samples): the one-pass code added about 280 MB during the call."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, "20"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    print(measured)
    assert measured["added_mb"] < 80, measured  # a block's worth and allocator slack, not the clip
