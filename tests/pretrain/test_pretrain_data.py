"""The pretraining data path on real files: scanning, decoding, the cache, clips, pair sampling, augmentations."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from cola_hear import FrontEndConfig
from cola_hear.frontend import LogMelFrontEnd
from cola_pretrain.audio_cache import build_pool
from cola_pretrain.config import AugmentConfig
from cola_pretrain.manifest import DataError, find_audio_files, manifest_hash
from cola_pretrain.sampling import PairSampler, Prefetcher, crop_samples, make_clips
from support.audio import write_tone_folder
from support.broken_audio import write_broken_audio


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    write_tone_folder(root, n_classes=4, seconds=1.5)
    sf.write(root / "class00" / "long.wav", 0.1 * np.random.default_rng(0).standard_normal(16000 * 25), 16000)
    (root / "readme.txt").write_text("not audio, wrong extension: ignored")
    (root / ".hidden.wav").write_bytes(b"ignored")
    return root


@pytest.fixture(scope="module")
def pool(folder):
    return build_pool([folder], 16000, progress=False)


def test_scan_is_recursive_sorted_and_filters_extensions(folder, tmp_path):
    files = find_audio_files([folder])
    names = [f.name for f in files]
    assert names == sorted(names) and len(names) == 5
    assert all(n.startswith("0/class0") for n in names)
    with pytest.raises(DataError, match="not found"):
        find_audio_files([tmp_path / "missing"])
    with pytest.raises(DataError, match="no audio files"):
        find_audio_files([tmp_path])


def test_pool_decodes_to_16k_mono_from_any_rate(pool, folder):
    assert pool.sample_rate == 16000 and pool.samples.dtype == np.float16
    seconds = dict(zip(pool.names, pool.lengths / 16000, strict=True))
    assert seconds["0/class00/long.wav"] == 25.0
    assert all(s == pytest.approx(1.5, abs=1e-3) for n, s in seconds.items() if "tone" in n)  # 16, 22.05, 44.1 kHz
    assert pool.summary()["decoded_files"] == 5 and not pool.skipped


def test_cache_is_reused_and_rebuilt_when_the_folder_changes(tmp_path, caplog):
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_tone_folder(data, n_classes=2, seconds=1.0)
    broken = write_broken_audio(data / "broken")
    caplog.set_level(logging.INFO)
    first = build_pool([data], 16000, cache, progress=False)
    again = build_pool([data], 16000, cache, progress=False)
    assert any("cache hit" in r.getMessage() for r in caplog.records)
    assert isinstance(again.samples, np.memmap) and np.array_equal(first.samples, again.samples)
    assert len(again.skipped) == len(broken["bad"]) + 1 and again.manifest_hash == first.manifest_hash  # + silence
    write_tone_folder(data / "more", n_classes=1, seconds=1.0)
    grown = build_pool([data], 16000, cache, progress=False)
    assert len(grown.names) == len(first.names) + 1 and grown.manifest_hash != first.manifest_hash
    assert len(list(cache.iterdir())) == 2


def test_manifest_hash_ignores_location_but_not_content(tmp_path):
    write_tone_folder(tmp_path / "a", n_classes=2, seconds=1.0)
    write_tone_folder(tmp_path / "b", n_classes=2, seconds=1.0)
    assert manifest_hash(find_audio_files([tmp_path / "a"])) == manifest_hash(find_audio_files([tmp_path / "b"]))
    write_tone_folder(tmp_path / "b", n_classes=2, seconds=1.2)
    assert manifest_hash(find_audio_files([tmp_path / "a"])) != manifest_hash(find_audio_files([tmp_path / "b"]))


def test_clips_split_long_files_and_are_l2_normalised(pool):
    whole = make_clips(pool, None, "l2")
    assert len(whole) == 5
    split = make_clips(pool, 10.0, "l2")
    long_lengths = sorted(split.lengths[split.lengths > 1.6 * 16000].tolist())
    assert long_lengths == [5 * 16000, 10 * 16000, 10 * 16000]  # 25 s -> 10 + 10 + 5 (a remainder >= half a clip)
    for start, length, scale in zip(split.starts, split.lengths, split.scales, strict=True):
        x = pool.samples[start : start + length].astype(np.float64) * scale
        assert np.linalg.norm(x) == pytest.approx(1.0, rel=1e-4)
    peak = make_clips(pool, None, "peak")
    x = pool.samples[peak.starts[0] : peak.starts[0] + peak.lengths[0]].astype(np.float64) * peak.scales[0]
    assert np.abs(x).max() == pytest.approx(1.0, rel=1e-4)


def test_crops_are_one_model_window():
    frontend = FrontEndConfig()
    n = crop_samples(frontend)
    assert n == 15200
    assert LogMelFrontEnd(frontend)(torch.zeros(1, n)).shape == (1, 96, 64)


def test_batches_are_a_pure_function_of_seed_rank_and_step(pool):
    clips = make_clips(pool, None, "l2")
    sampler = PairSampler(pool, clips, FrontEndConfig(), batch_size=4, seed=3, rank=0)
    a, b = sampler(7), PairSampler(pool, clips, FrontEndConfig(), batch_size=4, seed=3, rank=0)(7)
    assert torch.equal(a.anchors, b.anchors) and torch.equal(a.positives, b.positives)
    assert a.anchors.shape == (4, 15200) and a.anchors.dtype == torch.float32
    assert not torch.equal(sampler(8).anchors, a.anchors)
    assert not torch.equal(PairSampler(pool, clips, FrontEndConfig(), 4, seed=3, rank=1)(7).anchors, a.anchors)
    assert not torch.equal(PairSampler(pool, clips, FrontEndConfig(), 4, seed=4, rank=0)(7).anchors, a.anchors)


def test_pairs_come_from_the_same_clip_with_noise_on_the_positive(pool):
    clips = make_clips(pool, None, "none")
    sampler = PairSampler(pool, clips, FrontEndConfig(), batch_size=5, seed=0, noise_std=0.0)
    batch = sampler(0)
    noisy = PairSampler(pool, clips, FrontEndConfig(), batch_size=5, seed=0, noise_std=0.01)(0)
    torch.testing.assert_close(noisy.anchors, batch.anchors)
    assert (noisy.positives - batch.positives).std().item() == pytest.approx(0.01, rel=0.05)
    # each crop is found in exactly one clip, the same one for anchor and positive
    samples = pool.samples.astype(np.float32)
    for anchor, positive in zip(batch.anchors.numpy(), batch.positives.numpy(), strict=True):
        owners = [_owners(samples, clips, crop) for crop in (anchor, positive)]
        assert owners[0] == owners[1] and len(owners[0]) == 1


def test_short_clips_are_zero_padded(tmp_path):
    sf.write(tmp_path / "short.wav", 0.5 * np.ones(4000, dtype=np.float32), 16000)
    short_pool = build_pool([tmp_path], 16000, progress=False)
    clips = make_clips(short_pool, None, "none")
    batch = PairSampler(short_pool, clips, FrontEndConfig(), batch_size=2, seed=0, noise_std=0.0)(0)
    assert torch.all(batch.anchors[:, :4000] == 0.5) and torch.all(batch.anchors[:, 4000:] == 0)


def test_augmentations_are_off_by_default_and_deterministic(pool):
    clips = make_clips(pool, None, "l2")
    plain = PairSampler(pool, clips, FrontEndConfig(), 4, seed=1)(2)
    assert plain.masks is None
    cfg = AugmentConfig(
        gain_db=6, mix_prob=1.0, mix_max_ratio=0.5, time_masks=2, time_mask_frames=10, freq_masks=1, freq_mask_bands=8
    )
    aug = PairSampler(pool, clips, FrontEndConfig(), 4, seed=1, augment=cfg)
    first, again = aug(2), aug(2)
    assert torch.equal(first.anchors, again.anchors) and torch.equal(first.masks, again.masks)
    assert not torch.allclose(first.anchors, plain.anchors)
    assert first.masks.shape == (8, 96, 64) and first.masks.any() and not first.masks.all()
    frames_hit = first.masks.all(dim=2).sum(dim=1)
    assert (frames_hit <= 20).all()


def test_prefetcher_hands_out_steps_in_order_and_forwards_errors(pool):
    sampler = PairSampler(pool, make_clips(pool, None, "l2"), FrontEndConfig(), 2, seed=0)
    prefetch = Prefetcher(sampler, start=5, depth=2)
    try:
        assert [prefetch.get(s).step for s in (5, 6, 7)] == [5, 6, 7]
        assert torch.equal(prefetch.get(8).anchors, sampler(8).anchors)
        with pytest.raises(ValueError, match="in order"):
            prefetch.get(3)
    finally:
        prefetch.close()

    def broken(step):
        raise RuntimeError(f"bad step {step}")

    failing = Prefetcher(broken, start=0, depth=1)
    with pytest.raises(RuntimeError, match="bad step 0"):
        failing.get(0)
    failing.close()


def _owners(samples: np.ndarray, clips, crop: np.ndarray) -> set[int]:
    """The clips holding ``crop`` (exact samples; crops of these tests are not noisy or normalised)."""
    n = int(np.count_nonzero(crop))
    found = set()
    for start in np.flatnonzero(samples == crop[0]):
        if np.array_equal(samples[start : start + n], crop[:n]):
            found |= {i for i, (s, m) in enumerate(zip(clips.starts, clips.lengths, strict=True)) if s <= start < s + m}
    return found


def test_long_files_are_decoded_in_blocks_without_seams(tmp_path, monkeypatch):
    """Block-wise decoding of a long file gives the same samples as one read (blocks made tiny here)."""
    import cola_pretrain.audio_cache as pool_module

    rate = 16000
    ramp = np.linspace(-0.5, 0.5, rate * 7, dtype=np.float32)
    sf.write(tmp_path / "long.wav", ramp, rate, subtype="FLOAT")
    whole = pool_module._decode_blocks(tmp_path / "long.wav", rate)
    monkeypatch.setattr(pool_module, "DECODE_BLOCK_SECONDS", 1.5)
    blocks = pool_module._decode_blocks(tmp_path / "long.wav", rate)
    assert blocks.dtype == np.float16 and blocks.shape == whole.shape == (rate * 7,)
    np.testing.assert_array_equal(blocks, whole)


def test_spectral_offsets_are_an_eq_curve_and_band_limits():
    from cola_pretrain.augment import DB_TO_LOG, spectral_offsets

    rng = np.random.default_rng(0)
    eq = spectral_offsets(rng, 200, 64, AugmentConfig(eq_db=10))
    assert eq.shape == (200, 64) and eq.dtype == np.float32
    assert np.abs(eq).max() <= 10 * DB_TO_LOG + 1e-6 and np.abs(eq).max() > 5 * DB_TO_LOG
    assert np.abs(np.diff(eq, axis=1)).max() < 3 * DB_TO_LOG  # smooth: no jump of more than 3 dB between bands
    cut = spectral_offsets(np.random.default_rng(0), 200, 64, AugmentConfig(lowpass_prob=1.0))
    assert (cut <= 0).all() and (cut[:, : 64 // 3] == 0).all() and (cut[:, -1] < -30 * DB_TO_LOG).mean() > 0.8
    some = spectral_offsets(np.random.default_rng(0), 400, 64, AugmentConfig(lowpass_prob=0.25))
    assert 0.15 < (some[:, -1] < 0).mean() < 0.35


def test_spectral_offsets_never_go_below_the_floor_and_zoom_resamples():
    from cola_pretrain.augment import apply_spectral, apply_zoom, zoom_params

    logmel = torch.linspace(-5, 5, 96)[None, :, None].repeat(2, 1, 64)  # a ramp in time
    out = apply_spectral(logmel, torch.full((2, 64), -20.0), floor=-11.5)
    assert out.min().item() == -11.5 and torch.equal(out[logmel - 20 > -11.5], (logmel - 20)[logmel - 20 > -11.5])
    identity = torch.tensor([[1.0, 0.0, 1.0, 0.0]] * 2)
    torch.testing.assert_close(apply_zoom(logmel, identity), logmel, atol=1e-5, rtol=0)
    stretched = apply_zoom(logmel, torch.tensor([[2.0, 0.0, 1.0, 0.0]] * 2))  # half the time range, doubled
    assert stretched[0, :, 0].min() > -3.0 and stretched[0, :, 0].max() < 3.0
    params = zoom_params(np.random.default_rng(0), 500, 0.25)
    assert params.shape == (500, 4) and (params[:, [0, 2]] >= 1 / 1.25 - 1e-6).all()
    assert (params[:, [0, 2]] <= 1.25 + 1e-6).all()


def test_log_mel_augmentations_are_drawn_per_view_and_deterministic(pool):
    clips = make_clips(pool, None, "l2")
    cfg = AugmentConfig(eq_db=6, lowpass_prob=0.5, zoom=0.2)
    sampler = PairSampler(pool, clips, FrontEndConfig(), 4, seed=1, augment=cfg)
    first, again = sampler(3), sampler(3)
    assert first.masks is None and first.spectral.shape == (8, 64) and first.zoom.shape == (8, 4)
    assert torch.equal(first.spectral, again.spectral) and torch.equal(first.zoom, again.zoom)
    assert not torch.equal(first.spectral[:4], first.spectral[4:])  # anchors and positives differ
    assert set(first.views()) == {"spectral", "zoom"}


def test_the_provenance_names_the_cola_suite_pool_a_run_read(folder, tmp_path):
    import json
    import shutil

    assert build_pool([folder], 16000, progress=False).summary()["pools"] == []  # a plain folder
    copy = tmp_path / "pool"
    shutil.copytree(folder, copy)
    manifest = {
        "name": "cola-disjoint-pool",
        "domain": "disjoint",
        "sha256": "ab" * 32,
        "num_files": 5,
        "total_hours": 0.01,
    }
    (copy / "manifest.json").write_text(json.dumps(manifest))
    pools = build_pool([copy], 16000, progress=False).summary()["pools"]
    assert [(p["name"], p["domain"], p["sha256"], p["files"]) for p in pools] == [
        ("cola-disjoint-pool", "disjoint", "ab" * 32, 5)
    ]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "num_files": 7}))  # rebuilt with other contents
    assert build_pool([copy], 16000, progress=False).summary()["pools"] == []
