"""``cola-embed`` under bad input (issue 28): real audio files, the installed console script as a real
process, SIGKILL midway. Each test fails on the code before the fix:

1. an existing complete output was replaced by a run with other settings (``--timestamp`` after a
   scene run: only a warning, then a timestamp-only file; killed midway, a partial one);
3. an unwritable output (read-only folder, a folder, a path under a file or under /proc) failed
   only at the first write, after the work, naming a hidden temporary file;
4. dangling symlinks, symlink loops and symlinked folders were left out without a word (exit 0),
   temporary files of a killed run stayed, and the progress bar counted only the files to embed;
6. bad option values exited 1 (the README says 2).

The HEAR module is ``counting_hear`` (tests/support/counting_hear.py), the log-mel statistics baseline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cola_eval.embed.cli import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, main
from cola_eval.embed.folder import read_output
from support import counting_hear
from support.audio import tone_mixture, write_tone_folder

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "cola-embed")
MODULE = ["--module", "support.counting_hear"]


pytestmark = pytest.mark.usefixtures("counting_reset")  # tests/conftest.py


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "audio"
    write_tone_folder(root, n_classes=2, clips_per_class=2, seconds=1.0)
    return root


def _run(*args: str, delay: float = 0.0, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1", "COUNTING_HEAR_DELAY": str(delay)}
    return subprocess.Popen([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------------- 1


def test_a_complete_output_is_never_replaced_by_other_settings(folder, tmp_path):
    out = tmp_path / "sc.npz"
    assert main([str(folder), "-o", str(out), *MODULE, "-q"]) == EXIT_OK
    before = out.read_bytes()
    # the run: --timestamp with a checkpoint after every file, slow enough to be killed midway
    proc = _run(str(folder), "-o", str(out), *MODULE, "--timestamp", "--checkpoint-seconds", "0", delay=0.5)
    try:
        code, err = _finish(proc)
    finally:
        proc.kill()
    assert code == EXIT_ERROR
    assert f"{out} holds complete embeddings made with other settings" in err and "--overwrite" in err
    assert "scene True there, False here" in err
    assert out.read_bytes() == before  # untouched, not even rewritten

    # a file that is not a cola-embed output is not replaced either
    foreign = tmp_path / "mine.npz"
    np.savez(foreign, x=np.arange(3))
    counting_hear.reset()
    assert main([str(folder), "-o", str(foreign), *MODULE, "-q"]) == EXIT_ERROR
    assert counting_hear.CALLS == [] and np.load(foreign)["x"].tolist() == [0, 1, 2]

    # asked for: --overwrite replaces it
    assert main([str(folder), "-o", str(out), *MODULE, "--scene", "--timestamp", "--overwrite", "-q"]) == EXIT_OK
    result = read_output(out)
    assert result.meta["scene"] and result.meta["timestamp"] and len(result.files) == 4


def test_help_says_what_scene_and_timestamp_select():
    out = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    flat = " ".join(out.split())
    assert "alone it gives no scene embeddings" in flat and "--scene --timestamp gives both" in flat
    assert "Without --scene or --timestamp: scene embeddings only" in flat and "--overwrite" in flat


# ---------------------------------------------------------------------------------------------- 3


@pytest.mark.parametrize("kind", ["folder", "under_a_file", "proc", "read_only"])
def test_an_unwritable_output_fails_before_any_work_naming_the_users_path(folder, tmp_path, caplog, kind):
    if kind == "read_only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    blocker = tmp_path / "a_file.txt"
    blocker.write_text("a file, not a folder\n")
    (tmp_path / "ro").mkdir(mode=0o555)
    out = {
        "folder": tmp_path / "out.npz",
        "under_a_file": blocker / "out.npz",
        "proc": Path("/proc/cola-embed-test/out.npz"),
        "read_only": tmp_path / "ro" / "out.npz",
    }[kind]
    if kind == "folder":
        out.mkdir()
    assert main([str(folder), "-o", str(out), *MODULE, "-q"]) == EXIT_ERROR
    assert counting_hear.CALLS == []  # no file was embedded
    message = caplog.records[-1].getMessage()
    assert str(out) in message and ".tmp" not in message
    assert _temporaries(tmp_path) == []


# ---------------------------------------------------------------------------------------------- 4


def test_everything_found_but_not_embedded_is_named_and_makes_the_exit_status_non_zero(folder, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    write_tone_folder(outside, n_classes=1, clips_per_class=1, seconds=1.0, subfolders=False)
    (folder / "dangling.wav").symlink_to(tmp_path / "gone.wav")
    (folder / "loop.wav").symlink_to(folder / "loop.wav")
    (folder / "linked").symlink_to(outside, target_is_directory=True)  # a symlinked folder: searched
    (folder / "again").symlink_to(folder / "class00", target_is_directory=True)  # into the input: found there
    (folder / "up").symlink_to(folder, target_is_directory=True)  # a loop of folders
    out = tmp_path / "e.npz"
    assert main([str(folder), "-o", str(out), *MODULE]) == EXIT_SKIPPED
    result = read_output(out)
    names = [f.name for f in result.files]
    assert len(names) == 5 and any(n.startswith("linked/") for n in names)
    assert not any(n.startswith(("again/", "up/")) for n in names)
    reasons = {s["file"]: s["error"] for s in result.skipped}
    assert (
        reasons["dangling.wav"].startswith("broken symlink") and str(tmp_path / "gone.wav") in reasons["dangling.wav"]
    )
    assert reasons["loop.wav"] == "symlink loop" and len(reasons) == 2
    err = capsys.readouterr().err
    assert "skipped dangling.wav: broken symlink" in err and "skipped loop.wav: symlink loop" in err
    assert "7/7" in err  # progress counts every file found (5 embedded, 2 skipped)

    assert main([str(folder), "-o", str(out), *MODULE]) == EXIT_SKIPPED  # a re-run: all reused
    assert "7/7" in capsys.readouterr().err


def test_a_sigkilled_run_leaves_a_readable_output_and_the_next_run_removes_its_temporary_files(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    for i in range(12):  # distinct lengths: one module call per file
        sf.write(folder / f"clip{i:02d}.wav", tone_mixture((220.0 * (i + 1),), 0.5 + 0.01 * i, 16000), 16000)
    out = tmp_path / "out" / "e.npz"
    args = [str(folder), "-o", str(out), *MODULE, "--checkpoint-seconds", "0", "-q"]
    proc = _run(*args, delay=0.3)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = read_output(out)  # whatever the moment, the output is a whole file
    assert not partial.meta["complete"] and 1 <= len(partial.files) < 12
    # what a SIGKILL during a write leaves (mkstemp's name), and another output's temporary file
    (out.parent / ".e.npz.k1ll3d_x.tmp").write_bytes(b"")
    (out.parent / ".other.npz.abcdefgh.tmp").write_bytes(b"")

    code, _ = _finish(_run(*args))
    assert code == EXIT_OK
    final = read_output(out)
    assert final.meta["complete"] and len(final.files) == 12
    assert _temporaries(out.parent) == [".other.npz.abcdefgh.tmp"]  # only this output's are removed


# ---------------------------------------------------------------------------------------------- 6


@pytest.mark.parametrize(
    "bad",
    [
        ["--chunk-seconds", "0"],
        ["--batch-seconds", "-1"],
        ["--checkpoint-seconds", "-5"],
        ["--no-such-option"],
        ["-o", "out.csv"],
    ],
)
def test_bad_options_exit_2(folder, tmp_path, bad):
    args = [str(folder), "-o", str(tmp_path / "e.npz"), *MODULE, *bad]
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr and not (tmp_path / "e.npz").exists()
