"""``cola-embed`` on folders of real audio files: shapes, skipped files, batching, chunking, atomic output, resume.

The HEAR module is ``counting_hear`` (tests/support/counting_hear.py): the project's log-mel statistics
baseline, which records every call it gets, so a test can see which files were embedded.
"""

from __future__ import annotations

import configparser
import importlib
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from cola_common.audio_files import load_audio
from cola_eval.embed.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_SKIPPED, main
from cola_eval.embed.folder import chunk_bounds, read_output
from cola_eval.models.baselines import logmel_stats
from support import counting_hear
from support.audio import tone_mixture, write_tone_folder
from support.broken_audio import write_broken_audio

ROOT = Path(__file__).resolve().parents[2]
MODULE = ["--module", "support.counting_hear"]


pytestmark = pytest.mark.usefixtures("counting_reset")  # tests/conftest.py


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """6 two-second tone clips at 16, 22.05 and 44.1 kHz in class subfolders, and one unreadable file."""
    root = tmp_path / "audio"
    write_tone_folder(root, n_classes=3, clips_per_class=2, seconds=2.0)
    (root / "class01" / "notes.wav").write_text("not audio, despite the name\n")
    return root


def _direct_embeddings(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scene, timestamp embeddings and times of one file, computed without cola-embed."""
    model = logmel_stats.load_model()
    audio = torch.from_numpy(load_audio(path, sample_rate=16000))[None]
    emb, ts = logmel_stats.get_timestamp_embeddings(audio, model)
    return logmel_stats.get_scene_embeddings(audio, model)[0].numpy(), emb[0].numpy(), ts[0].numpy()


def _direct_scene(audio: np.ndarray) -> np.ndarray:
    return logmel_stats.get_scene_embeddings(torch.from_numpy(audio)[None], logmel_stats.load_model())[0].numpy()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_folder_to_npz_shapes_skipped_file_batching_and_exit_status(folder, tmp_path, capsys):
    out = tmp_path / "out" / "emb.npz"
    rc = main([str(folder), "-o", str(out), *MODULE, "--scene", "--timestamp", "-q"])
    assert rc == EXIT_SKIPPED  # done, but one file was skipped

    result = read_output(out)
    good = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.suffix in (".wav", ".flac") and p.name != "notes.wav"
    )
    assert [f.name for f in result.files] == good and len(good) == 6
    assert result.skipped == [{"file": "class01/notes.wav", "error": result.skipped[0]["error"]}]
    assert "not a readable audio file" in result.skipped[0]["error"]
    assert "skipped class01/notes.wav" in capsys.readouterr().err
    assert (
        result.meta["complete"]
        and result.meta["module"] == "support.counting_hear"
        and result.meta["sample_rate"] == 16000
    )

    with np.load(out) as z:  # the file itself, as a user reads it
        assert z["scene"].shape == (6, 128) and z["scene"].dtype == np.float32
        assert z["timestamp_embeddings"].shape == (6 * 41, 128)  # 2 s at a 50 ms hop: 41 windows
        assert z["timestamp_offsets"].tolist() == list(range(0, 6 * 41 + 1, 41))
        assert list(z["filenames"]) == good
    for f in result.files:
        scene, emb, ts = _direct_embeddings(folder / f.name)
        np.testing.assert_allclose(f.scene, scene, rtol=1e-5, atol=1e-5)  # rows belong to their files
        np.testing.assert_allclose(f.timestamp_embeddings, emb, rtol=1e-5, atol=1e-5)
        assert np.array_equal(f.timestamps, ts) and f.timestamps[-1] == 2000.0
        assert f.duration_s == 2.0

    # 22.05 and 44.1 kHz files were resampled to the module's 16 kHz, so all six share one call
    assert counting_hear.CALLS == [("scene", 6, 32000), ("timestamp", 6, 32000)]
    assert sorted(os.listdir(out.parent)) == ["emb.npz"]  # no temporary file left


def test_rerun_reuses_rows_and_retries_only_skipped_or_changed_files(folder, tmp_path):
    out = tmp_path / "emb.npz"
    args = [str(folder), "-o", str(out), *MODULE, "--timestamp", "-q"]
    assert main(args) == EXIT_SKIPPED
    assert counting_hear.sounds("timestamp") == 6
    first = read_output(out)
    inode = out.stat().st_ino

    counting_hear.reset()
    assert main(args) == EXIT_SKIPPED  # the unreadable file is tried again, and still fails
    assert counting_hear.CALLS == []  # every readable file reused, none recomputed
    second = read_output(out)
    assert [f.name for f in second.files] == [f.name for f in first.files]
    for a, b in zip(first.files, second.files, strict=True):
        assert a.sha256 == b.sha256 and np.array_equal(a.timestamp_embeddings, b.timestamp_embeddings)
    assert out.stat().st_ino != inode  # replaced by a new file (os.replace), never rewritten in place

    # the broken file is repaired: it alone is embedded, and the exit status says all is well
    fixed = folder / "class01" / "notes.wav"
    sf.write(fixed, tone_mixture((330.0, 990.0), 1.5, 16000), 16000)
    counting_hear.reset()
    assert main(args) == EXIT_OK
    assert counting_hear.CALLS == [("timestamp", 1, 24000)]
    third = read_output(out)
    assert third.skipped == [] and len(third.files) == 7
    row = third.by_name()["class01/notes.wav"]
    assert np.allclose(row.timestamp_embeddings, _direct_embeddings(fixed)[1], atol=1e-5)

    # a file whose content changed is embedded again; a deleted file leaves the output
    changed = sorted(folder.rglob("*.flac"))[0]
    sf.write(changed, tone_mixture((5000.0,), 2.0, 16000), 16000, format="FLAC")
    gone = sorted(folder.rglob("*.wav"))[0]
    gone.unlink()
    counting_hear.reset()
    assert main(args) == EXIT_OK
    assert counting_hear.sounds("timestamp") == 1
    fourth = read_output(out).by_name()
    name = changed.relative_to(folder).as_posix()
    assert not np.allclose(fourth[name].timestamp_embeddings, third.by_name()[name].timestamp_embeddings)
    assert gone.relative_to(folder).as_posix() not in fourth and len(fourth) == 6

    # other settings (scene embeddings asked too) cannot reuse the rows: refused unless --overwrite,
    # which computes everything again
    counting_hear.reset()
    assert main([*args, "--scene"]) == EXIT_ERROR and counting_hear.CALLS == []
    assert main([*args, "--scene", "--overwrite"]) == EXIT_OK
    assert counting_hear.sounds("scene") == 6 and counting_hear.sounds("timestamp") == 6


def test_a_run_that_fails_midway_keeps_a_readable_partial_output_and_resumes(folder, tmp_path, caplog):
    out = tmp_path / "emb.npz"
    # one file per module call (batches of 1 s), progress written after every file
    args = [str(folder), "-o", str(out), *MODULE, "--batch-seconds", "1", "--checkpoint-seconds", "0", "-q"]
    counting_hear.FAIL_AT_CALL = 4
    assert main(args) == EXIT_ERROR
    assert "failing at call 4" in caplog.text
    partial = read_output(out)
    assert partial.meta["complete"] is False
    assert len(partial.files) == 3  # the three files embedded before the failure
    assert _leftovers(tmp_path) == []

    counting_hear.reset()
    assert main(args) == EXIT_SKIPPED
    assert counting_hear.sounds("scene") == 3  # only the three files that were missing
    final = read_output(out)
    assert final.meta["complete"] is True and len(final.files) == 6
    assert {f.name for f in partial.files} < {f.name for f in final.files}


def test_ctrl_c_saves_progress_and_exits_130(folder, tmp_path, caplog):
    out = tmp_path / "emb.parquet"
    args = [str(folder), "-o", str(out), *MODULE, "--batch-seconds", "1", "-q"]  # default checkpoint: 300 s
    counting_hear.FAIL_AT_CALL, counting_hear.FAIL_WITH = 2, KeyboardInterrupt
    assert main(args) == EXIT_INTERRUPTED
    assert "interrupted" in caplog.text
    partial = read_output(out)  # written on the way out, though no checkpoint was due
    assert len(partial.files) == 1 and partial.meta["complete"] is False
    counting_hear.reset()
    assert main(args) == EXIT_SKIPPED and counting_hear.sounds("scene") == 5


def test_long_file_is_streamed_in_chunks_with_the_same_timestamp_embeddings(tmp_path):
    rng = np.random.default_rng(3)
    audio = np.concatenate([tone_mixture((150.0 * (i + 1), 2500.0 - 200 * i), 3.0, 16000, rng) for i in range(10)])
    audio = audio[: 16000 * 30 - 160]  # 29.99 s: chunk edges (every 5.998 s) fall between the 50 ms windows
    folder = tmp_path / "long"
    folder.mkdir()
    sf.write(folder / "long.wav", audio, 16000)

    whole = tmp_path / "whole.npz"
    assert main([str(folder), "-o", str(whole), *MODULE, "--timestamp", "--scene", "-q"]) == EXIT_OK
    assert max(n for _, _, n in counting_hear.CALLS) == len(audio)
    counting_hear.reset()
    chunked = tmp_path / "chunked.parquet"
    assert (
        main(
            [
                str(folder),
                "-o",
                str(chunked),
                *MODULE,
                "--timestamp",
                "--scene",
                "--chunk-seconds",
                "7",
                "--context-seconds",
                "2",
                "-q",
            ]
        )
        == EXIT_OK
    )
    # five chunks of 5.998 s, each decoded with 2 s of context (a little more to start on the 50 ms grid)
    assert len(chunk_bounds(29.99, 7.0)) == 5
    stamps = [n for kind, _, n in counting_hear.CALLS if kind == "timestamp"]
    assert len(stamps) == 5 and max(stamps) <= 10.05 * 16000  # never the whole file at once
    assert [n for kind, _, n in counting_hear.CALLS if kind == "scene"] == [round(5.998 * 16000)] * 4 + [
        len(audio) - 4 * round(5.998 * 16000)
    ]

    a, b = read_output(whole).files[0], read_output(chunked).files[0]
    assert len(a.timestamps) == 600 and np.array_equal(a.timestamps, b.timestamps)  # no gap, no duplicate, even
    np.testing.assert_allclose(b.timestamp_embeddings, a.timestamp_embeddings, atol=1e-4)
    # scene: the duration-weighted mean of the chunks' scene embeddings, an approximation. For band
    # means (the first 64 values) it is the whole file's mean but for the frames at the chunk cuts
    # (a cut tone clicks in bands that are otherwise silent)
    error = np.abs(b.scene[:64] - a.scene[:64])
    first_chunk_only = np.abs(_direct_scene(audio[: round(5.998 * 16000)])[:64] - a.scene[:64])
    print(
        f"scene band means: chunked vs whole max {error.max():.3f} mean {error.mean():.3f}; "
        f"first chunk vs whole max {first_chunk_only.max():.3f} mean {first_chunk_only.mean():.3f}"
    )
    assert error.mean() < 0.05 and error.max() < 0.3
    assert first_chunk_only.mean() > 5 * error.mean()  # the mean covers all chunks, not the first one
    assert b.duration_s == pytest.approx(29.99)


def test_parquet_output_holds_the_same_rows_as_npz(folder, tmp_path):
    npz, parquet = tmp_path / "e.npz", tmp_path / "e.parquet"
    assert main([str(folder), "-o", str(npz), *MODULE, "--scene", "--timestamp", "-q"]) == EXIT_SKIPPED
    assert main([str(folder), "-o", str(parquet), *MODULE, "--scene", "--timestamp", "-q"]) == EXIT_SKIPPED
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    assert table.num_rows == 6 and table.column_names == [
        "filename",
        "sha256",
        "duration_s",
        "scene",
        "timestamps",
        "timestamp_embeddings",
    ]
    a, b = read_output(npz), read_output(parquet)
    assert a.skipped == b.skipped
    for x, y in zip(a.files, b.files, strict=True):
        assert x.name == y.name and np.array_equal(x.scene, y.scene)
        assert np.array_equal(x.timestamps, y.timestamps)
        assert np.array_equal(x.timestamp_embeddings, y.timestamp_embeddings)


def test_file_list_and_every_broken_file_kind(tmp_path, capsys):
    kinds = write_broken_audio(tmp_path / "broken")
    listing = tmp_path / "files.txt"
    names = [p.relative_to(tmp_path).as_posix() for p in kinds["good"] + kinds["bad"]]
    listing.write_text("# audio to embed\n\n" + "\n".join([*names, "broken/missing.wav"]) + "\n")
    out = tmp_path / "emb.npz"
    assert main(["--file-list", str(listing), "-o", str(out), *MODULE, "-q"]) == EXIT_SKIPPED
    result = read_output(out)
    assert sorted(f.name for f in result.files) == sorted(p.relative_to(tmp_path).as_posix() for p in kinds["good"])
    skipped = {s["file"] for s in result.skipped}
    assert skipped == {p.relative_to(tmp_path).as_posix() for p in kinds["bad"]} | {"broken/missing.wav"}
    assert counting_hear.sounds("scene") == len(kinds["good"])
    err = capsys.readouterr().err
    assert all(f"skipped {name}" in err for name in skipped)


def test_errors_have_their_exit_status(tmp_path, folder, caplog):
    assert main([str(tmp_path / "nope"), "-o", str(tmp_path / "e.npz"), *MODULE, "-q"]) == EXIT_ERROR
    assert "no such file or folder" in caplog.text
    with pytest.raises(SystemExit) as usage:  # a usage error: exit status 2
        main([str(folder), "-o", str(tmp_path / "e.csv"), *MODULE, "-q"])
    assert usage.value.code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "-o", str(tmp_path / "e.npz"), *MODULE, "-q"]) == EXIT_ERROR
    assert "no audio files found" in caplog.text
    assert main([str(folder), "-o", str(tmp_path / "e.npz"), "--module", "no_such_module", "-q"]) == EXIT_ERROR
    assert "cannot import HEAR module" in caplog.text
    with pytest.raises(SystemExit) as usage:
        main(["-o", str(tmp_path / "e.npz")])  # no input at all
    assert usage.value.code == 2
    assert not (tmp_path / "e.npz").exists()


def test_cola_embed_is_a_console_script():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = dict(line.split(" = ") for line in config["options.entry_points"]["console_scripts"].strip().splitlines())
    module, func = scripts["cola-embed"].split(":")
    assert getattr(importlib.import_module(module), func) is main
