"""``cola-pretrain prepare`` and the shard loader: standard shards, resumable and incremental preparation,
bounded memory, and a loader that splits shards by rank and worker deterministically."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cola_hear.config import FrontEndConfig
from cola_pretrain.cli import main as cli_main
from cola_pretrain.config import AugmentConfig
from cola_pretrain.loader import ShardPairStream, StreamSpec
from cola_pretrain.manifest import DataError
from cola_pretrain.prepare import PrepareOptions, prepare
from cola_pretrain.shards import MANIFEST_FILE, open_shard_pool
from support.broken_audio import write_broken_audio

ROOT = Path(__file__).resolve().parents[2]


def write_levels(folder: Path, levels: list[float], seconds: float = 0.5, rate: int = 16000) -> list[Path]:
    """One file per level: a constant signal (plus a tiny ripple), so every clip is recognisable by its level."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, level in enumerate(levels):
        n = int(seconds * rate)
        x = np.full(n, level, np.float32) + 1e-3 * np.sin(np.arange(n, dtype=np.float32))
        path = folder / f"f{i:03d}.{'wav' if i % 2 else 'flac'}"
        sf.write(path, x, rate, subtype="PCM_16")
        paths.append(path)
    return paths


def sidecar_sources(out: Path) -> list[str]:
    return [s[0] for p in sorted(out.glob("shard-*.json")) for s in json.loads(p.read_text())["sources"]]


def test_prepare_writes_standard_shards_skips_bad_files_by_name_and_adds_only_new_files(tmp_path, capsys):
    import webdataset as wds

    data = tmp_path / "data"
    write_levels(data / "a", [0.1, 0.2, 0.3, 0.4, 0.5])
    broken = write_broken_audio(data / "broken")
    out = tmp_path / "shards"
    code = cli_main(["prepare", str(data), "--out", str(out), "--workers", "0", "--shard-clips", "3",
                     "--licence", "CC0", "--no-progress"])  # fmt: skip
    assert code == 0
    first = json.loads(capsys.readouterr().out)
    good = 5 + len(broken["good"]) - 1  # silence.wav decodes, but an all-zero file is skipped (as in the pool)
    assert first["new_clips"] == good and first["clips"] == good
    skipped = {Path(s["name"]).name for s in first["skipped_now"]}
    assert skipped == {p.name for p in broken["bad"]} | {"silence.wav"}, "every bad file is named"
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert {Path(s["name"]).name for s in manifest["skipped"]} == skipped
    tars = sorted(out.glob("shard-*.tar"))
    assert len(tars) == manifest["clips"] // 3 + (manifest["clips"] % 3 > 0) == len(manifest["shards"])
    # plain tar lists the members; plain webdataset reads them back
    listing = subprocess.run(["tar", "tf", str(tars[0])], capture_output=True, text=True, check=True).stdout.split()
    assert listing[:2] == ["000000-000000.flac", "000000-000000.json"]
    samples = list(wds.WebDataset([str(t) for t in tars], shardshuffle=False).decode())
    assert len(samples) == manifest["clips"]
    meta = samples[0]["json"]
    assert {"source", "seconds", "licence", "l2_scale", "peak_scale", "gain"} <= set(meta)
    assert meta["licence"] == "CC0" and meta["seconds"] == pytest.approx(0.5)
    raw = next(s for s in wds.WebDataset([str(t) for t in tars], shardshuffle=False) if "flac" in s)["flac"]
    audio, rate = sf.read(io.BytesIO(raw))
    assert rate == 16000 and audio.shape == (8000,)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*")}
    # adding files adds shards; nothing prepared is decoded again, bad files are not retried
    write_levels(data / "b", [0.6, 0.7])
    second = prepare([data], out, PrepareOptions(workers=0, shard_clips=3), progress=False)
    assert second.new_files == 2 and second.already_prepared == good + len(skipped)
    assert second.new_shards == 1 and second.clips == good + 2
    assert all(out.joinpath(name).stat().st_mtime_ns == t for name, t in before.items()), "old shards untouched"
    third = prepare([data], out, PrepareOptions(workers=0), progress=False)
    assert third.new_files == 0 and third.new_shards == 0
    assert len(set(sidecar_sources(out))) == len(sidecar_sources(out)), "no file prepared twice"


def test_prepare_in_parallel_matches_serial_and_refuses_bad_input(tmp_path):
    data = tmp_path / "data"
    write_levels(data, [0.1 * k for k in range(1, 9)], seconds=2.4)
    serial = prepare([data], tmp_path / "s", PrepareOptions(workers=0, clip_seconds=1.0), progress=False)
    parallel = prepare([data], tmp_path / "p", PrepareOptions(workers=2, clip_seconds=1.0), progress=False)
    assert serial.clips == parallel.clips == 8 * 2  # 2.4 s -> 1 s + 1.4 s (a short remainder joins)
    assert (tmp_path / "s/shard-000000.tar").read_bytes() == (tmp_path / "p/shard-000000.tar").read_bytes()
    with pytest.raises(DataError, match="not found"):
        prepare([tmp_path / "missing"], tmp_path / "x", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no usable audio"):
        prepare([tmp_path / "empty"], tmp_path / "y", progress=False)


def test_a_killed_prepare_resumes_without_decoding_finished_shards_again(tmp_path):
    data = tmp_path / "data"
    write_levels(data, [0.01 * k for k in range(1, 31)], seconds=0.2)
    out = tmp_path / "shards"
    slow = textwrap.dedent(f"""
        import time, cola_pretrain.prepare as p
        decode = p._prepare_file
        p._prepare_file = lambda task: (time.sleep(0.15), decode(task))[1]
        p.prepare([{str(data)!r}], {str(out)!r}, p.PrepareOptions(workers=0, shard_clips=2), progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", slow], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not (out / "shard-000002.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    finished = sorted(out.glob("shard-*.json"))
    assert 3 <= len(finished) < 15, "killed part-way"
    done = len(sidecar_sources(out))
    result = prepare([data], out, PrepareOptions(workers=0, shard_clips=2), progress=False)
    assert result.already_prepared == done and result.new_files == 30 - done
    assert result.clips == 30 and sorted(sidecar_sources(out)) == sorted(str(p.resolve()) for p in data.iterdir())
    assert not list(out.glob(".shard-*")), "the interrupted shard's temporary file is gone"
    assert open_shard_pool([str(out)]).clips == 30


def _spec(urls, **kw) -> StreamSpec:
    base = dict(
        urls=tuple(urls), sample_rate=16000, frontend=FrontEndConfig(segment_frames=8), augment=AugmentConfig(),
        batch_size=4, seed=0, rank=0, world_size=1, start=0, buffer=6, clip_seconds=None, normalize="none",
        noise_std=0.0,
    )  # fmt: skip
    return StreamSpec(**{**base, **kw})


def _levels(batch) -> list[float]:
    return [round(float(x), 2) for x in batch.anchors.mean(dim=1)]


def test_loader_pairs_are_two_crops_of_one_clip_deterministic_and_split_by_rank_and_worker(tmp_path):
    data = tmp_path / "data"
    write_levels(data, [0.05 * k for k in range(1, 17)], seconds=0.3)
    out = tmp_path / "shards"
    prepare([data], out, PrepareOptions(workers=0, shard_clips=4), progress=False)
    pool = open_shard_pool([str(out / MANIFEST_FILE)])
    assert len(pool.shards) == 4 and pool.clips == 16
    stream = iter(ShardPairStream(_spec(pool.names)))
    batches = [next(stream) for _ in range(8)]  # two epochs of 16 clips
    for b in batches:
        assert np.allclose(b.anchors.mean(dim=1), b.positives.mean(dim=1), atol=2e-3), (
            "anchor and positive share a clip"
        )
    epoch = sorted(x for b in batches[:4] for x in _levels(b))
    assert len(set(epoch)) >= 12, "an epoch draws (nearly) every clip once through the shuffle buffer"
    again = iter(ShardPairStream(_spec(pool.names)))
    assert all(_levels(next(again)) == _levels(b) for b in batches), "deterministic from (seed, rank, worker, start)"
    other = iter(ShardPairStream(_spec(pool.names, start=5)))
    assert [_levels(next(other)) for _ in range(4)] != [_levels(b) for b in batches[:4]]
    # two ranks read disjoint shards within an epoch
    seen = [set() for _ in range(2)]
    for rank in range(2):
        s = iter(ShardPairStream(_spec(pool.names, rank=rank, world_size=2)))
        for _ in range(2):
            seen[rank] |= set(_levels(next(s)))
    assert not seen[0] & seen[1]
    # with fewer shards than units, units split the clips instead
    few = iter(ShardPairStream(_spec(pool.names[:1], rank=1, world_size=2, buffer=2, batch_size=2)))
    assert len(set(_levels(next(few)))) == 2


def test_training_reads_the_manifest_only_and_uses_dataloader_workers(tmp_path):
    from cola_pretrain.loader import ShardBatches

    data = tmp_path / "data"
    write_levels(data, [0.05 * k for k in range(1, 9)], seconds=0.3)
    out = tmp_path / "shards"
    prepare([data], out, PrepareOptions(workers=0, shard_clips=2), progress=False)
    pool = open_shard_pool([str(out)])
    (tmp_path / "data").rename(tmp_path / "gone")  # the sources are not needed any more
    batches = ShardBatches(_spec(pool.names, buffer=4), workers=2, prefetch=1, pin=False)
    got = [batches.get(step) for step in range(4)]
    batches.close()
    assert [b.step for b in got] == [0, 1, 2, 3] and all(b.anchors.shape == (4, 7 * 160) for b in got)
    with pytest.raises(DataError, match="not a shard manifest"):
        open_shard_pool([str(out / "shard-000000.json")])
    # shard URLs as WebDataset opens them: a pipe: command and a brace pattern of local paths
    piped = open_shard_pool([f"pipe:cat {out}/shard-00000{{0..3}}.tar"])
    assert len(piped.shards) == 4 and piped.summary()["clips"] is None  # clip counts come from manifests only
    batch = next(iter(ShardPairStream(_spec(piped.names, buffer=4))))
    assert batch.anchors.shape == (4, 7 * 160)


@pytest.mark.slow
def test_a_tree_of_50k_tiny_files_prepares_in_bounded_memory(tmp_path):
    """Peak RSS of the preparing process grows by less than 100 MB over its imports for 50,000 files (what it
    holds per file: 8 bytes of the prepared-file index, nothing per pending file)."""
    data = tmp_path / "data"
    write_levels(data / "_one", [0.3], seconds=0.05)
    one = (data / "_one" / "f000.flac").read_bytes()
    for d in range(50):
        folder = data / f"d{d:02d}"
        folder.mkdir()
        for i in range(1000):
            (folder / f"c{i:04d}.flac").write_bytes(one)
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from cola_pretrain.prepare import PrepareOptions, prepare
        # VmHWM, this process's own peak (ru_maxrss would keep the peak of the pytest process across fork + exec)
        status = lambda: Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
        rss = lambda: int(status()) / 1024
        before = rss()
        result = prepare([{str(data)!r}], {str(tmp_path / "out")!r}, PrepareOptions(workers=2, shard_clips=10000),
                         progress=False)
        print(json.dumps({{"before": before, "after": rss(), "clips": result.clips, "wall": result.wall_s}}))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env, timeout=1500
    )
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(measured)
    assert measured["clips"] == 50_001
    assert measured["after"] - measured["before"] < 100, measured


def test_cli_trains_from_prepared_shards(tmp_path, capsys):
    from cola_pretrain.metrics_log import read_log

    data = tmp_path / "data"
    write_levels(data, [0.05 * k for k in range(1, 9)], seconds=1.0)
    assert cli_main(["prepare", str(data), "--out", str(tmp_path / "shards"), "--workers", "0", "--no-progress"]) == 0
    capsys.readouterr()
    args = ["--config", "smoke", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "run"), "--max-steps",
            "2", "--batch-size", "4", "--no-progress"]  # fmt: skip
    for key, value in {"train.max_minutes": "none", "frontend.segment_frames": 32, "encoder.name": "tinynet_e",
                       "data.workers": 0, "train.log_every": 1, "augment.time_masks": 0, "augment.freq_masks": 0,
                       "optim.warmup_steps": 2}.items():  # fmt: skip
        args += ["--set", f"{key}={value}"]
    assert cli_main(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 2
    assert [r["lr"] for r in read_log(tmp_path / "run" / "log.csv")] == pytest.approx([5e-4, 1e-3])
    manifest = json.loads((tmp_path / "run" / "data_manifest.json").read_text())
    assert manifest["clips"] == 8 and manifest["shard_files"] == 1
    assert cli_main([*args[:2], "--data", str(data), *args[2:]]) == 2  # --data and --shards: a config error
