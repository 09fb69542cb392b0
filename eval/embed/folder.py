"""Embeddings of a folder (or a list) of audio files with any HEAR module, written to one file.

``cola-embed`` (``eval/embed/cli.py``) is the command line. What happens to each file:

* **decoding** with ``cola_common.audio_files`` at the module's ``sample_rate`` (other rates are
  resampled, channels down-mixed); a file that cannot be read, is empty or holds NaN/inf is
  **skipped**: listed in the output's metadata and on stderr, and the run goes on;
* **short files** are embedded in batches (files of the same length share one module call,
  at most ``batch_seconds`` of audio per call);
* **long files** (over ``chunk_seconds``) are decoded and embedded chunk by chunk, so memory
  stays bounded whatever the length. Each chunk is decoded with ``context_seconds`` of audio
  on both sides; timestamp embeddings whose centre falls in that context are dropped (the
  neighbouring chunk owns them), so windows at chunk edges see real audio, not padding. The
  scene embedding of a long file is the duration-weighted mean of its chunks' scene embeddings.
* **resume**: an existing output made with the same module, module version and source, weights
  checksum, sample rate and settings is read first; a file whose name and content SHA-256 are
  already in it is reused, not recomputed. Skipped files are tried again. Files no longer
  in the input are dropped. Progress is written every ``checkpoint_seconds`` and when the run
  stops on an error or Ctrl-C, so a re-run continues where it stopped.
* **nothing is replaced unasked**: an existing output made with other settings (or a file that
  is not a cola-embed output) is refused before any work unless ``overwrite`` is set; the
  output's folder must be writable and the output a file path, also checked before any work.
  Temporary files a killed run left beside the output are removed.
* **nothing is left out silently**: broken symlinks, symlink loops and folders that cannot be
  listed are skipped files (named, with the reason); symlinked folders are searched.
* **output** ``.npz`` (numpy only) or ``.parquet`` (pyarrow), always written to a temporary file in
  the same folder and renamed into place (``cola_hear.atomic``): a reader never sees a partial file.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import math
import os
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from cola_common.audio_files import AUDIO_EXTENSIONS, AudioError, audio_info, load_audio
from cola_common.provenance import file_sha256
from cola_eval.models.hear_module import HearModel
from cola_hear.atomic import atomic_write

log = logging.getLogger(__name__)

FORMAT = "cola-embed/1"
OUTPUT_SUFFIXES = (".npz", ".parquet")
# header fields that must match for an existing output's rows to be reused
RESUME_KEY = (
    "format",
    "module",
    "module_version",
    "module_source_sha256",
    "weights_sha256",
    "sample_rate",
    "scene",
    "timestamp",
    "chunk_seconds",
    "context_seconds",
)


class EmbedError(ValueError):
    """Bad inputs or output (no such folder, unknown output format, duplicate names)."""


@dataclass(frozen=True)
class AudioFile:
    """One input: its name in the output and where it is; ``problem`` says why it cannot be read, if known."""

    name: str
    path: Path
    problem: str = ""


@dataclass(frozen=True)
class EmbedConfig:
    scene: bool = True
    timestamp: bool = False
    batch_seconds: float = 120.0
    chunk_seconds: float = 600.0
    context_seconds: float = 5.0
    checkpoint_seconds: float = 300.0
    resume: bool = True
    progress: bool = True
    overwrite: bool = False  # replace an existing output made with other settings, or not by cola-embed

    def __post_init__(self) -> None:
        if not (self.scene or self.timestamp):
            raise EmbedError("nothing to compute: ask for scene and/or timestamp embeddings")
        if self.chunk_seconds <= 0 or self.context_seconds < 0 or self.batch_seconds <= 0:
            raise EmbedError("chunk_seconds and batch_seconds must be > 0, context_seconds >= 0")
        if self.checkpoint_seconds < 0:
            raise EmbedError("checkpoint_seconds must be >= 0")


@dataclass
class FileEmbedding:
    """Embeddings of one file: scene ``(D,)``; timestamp ``(n_t, D)`` with centres in ms ``(n_t,)``."""

    name: str
    sha256: str
    duration_s: float
    scene: np.ndarray | None = None
    timestamp_embeddings: np.ndarray | None = None
    timestamps: np.ndarray | None = None


@dataclass
class EmbedOutput:
    """What an output file holds: a header (``meta``), the embedded files and the skipped ones."""

    meta: dict[str, Any]
    files: list[FileEmbedding]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def by_name(self) -> dict[str, FileEmbedding]:
        return {f.name: f for f in self.files}


@dataclass
class EmbedReport:
    output: Path
    embedded: list[str]
    reused: list[str]
    skipped: list[dict[str, str]]


# --------------------------------------------------------------------------- inputs


def collect_audio_files(inputs: list[Path], file_lists: list[Path] | None = None) -> list[AudioFile]:
    """The audio files named by ``inputs`` (folders, searched recursively, and files) and file lists.

    Names in the output: with a single input folder, paths relative to it; otherwise paths as
    given (``folder/relative`` for files found in a folder). A file list holds one path a line
    (blank lines and ``#`` comments ignored); relative paths are relative to the list's folder and
    keep their spelling as the name. Inputs are sorted by name; the same file named twice counts once.
    """
    file_lists = file_lists or []
    single = len(inputs) == 1 and not file_lists and inputs[0].is_dir()
    found: list[AudioFile] = []
    for given in inputs:
        if given.is_dir():
            for path, problem in _walk(given):
                rel = path.relative_to(given).as_posix()
                found.append(AudioFile(rel if single else (given / rel).as_posix(), path, problem))
        elif given.exists():
            found.append(AudioFile(given.as_posix(), given))
        else:
            raise EmbedError(f"{given}: no such file or folder")
    for listing in file_lists:
        try:
            lines = listing.read_text().splitlines()
        except OSError as exc:
            raise EmbedError(f"cannot read file list {listing}: {exc}") from exc
        for line in lines:
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            path = Path(entry)
            found.append(AudioFile(entry, path if path.is_absolute() else listing.parent / path))
    unique: dict[str, AudioFile] = {}
    for f in found:
        unique.setdefault(os.path.realpath(f.path), f)  # realpath: no error on a symlink loop
    files = sorted(unique.values(), key=lambda f: f.name)
    names = [f.name for f in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EmbedError(f"two different files would share the name {duplicates[0]!r} in the output")
    return files


def _walk(root: Path) -> list[tuple[Path, str]]:
    """Audio files under ``root`` and what could not be searched, as ``(path, problem)``, sorted by path.

    Symlinked folders are searched unless they lead back into ``root`` (their files are found there) or
    into a folder already searched (a loop). Broken symlinks and symlink loops with an audio suffix (or
    none), and folders that cannot be listed, come with a problem: nothing is left out without a name.
    """
    out: list[tuple[Path, str]] = []
    top = os.path.realpath(root)
    seen: set[str] = set()

    def unlisted(exc: OSError) -> None:
        out.append((Path(exc.filename), f"cannot list this folder: {exc.strerror or exc}"))

    for folder, dirs, names in os.walk(root, followlinks=True, onerror=unlisted):
        real = os.path.realpath(folder)
        if real in seen or (Path(folder) != root and Path(folder).is_symlink() and _inside(real, top)):
            dirs[:] = []  # a loop, or a link into root: its files are found under their own names
            continue
        seen.add(real)
        dirs.sort()
        for name in names:
            path = Path(folder) / name
            suffix = path.suffix.lower()
            if path.is_file():
                if suffix in AUDIO_EXTENSIONS:
                    out.append((path, ""))
            elif path.is_symlink() and (suffix in AUDIO_EXTENSIONS or not suffix):
                out.append((path, _broken_link(path)))
    return sorted(out)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _broken_link(path: Path) -> str:
    """Why the symlink ``path`` leads to no file."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        return f"broken symlink: its target {os.readlink(path)} does not exist"
    return "symlink to something that is not a file"


# --------------------------------------------------------------------------- embedding


def output_header(model: HearModel, config: EmbedConfig) -> dict[str, Any]:
    """The header written with the embeddings; its ``RESUME_KEY`` fields decide whether rows are reusable."""
    return {
        "format": FORMAT,
        "module": model.spec.module,
        "module_version": model.version,
        "module_source_sha256": model.source_sha256,
        "weights": str(model.spec.weights) if model.spec.weights else "",
        "weights_sha256": model.weights_checksum,
        "sample_rate": model.sample_rate,
        "scene": config.scene,
        "timestamp": config.timestamp,
        "scene_embedding_size": int(model.model.scene_embedding_size),
        "timestamp_embedding_size": int(model.model.timestamp_embedding_size),
        "chunk_seconds": config.chunk_seconds,
        "context_seconds": config.context_seconds,
    }


def embed_files(model: HearModel, files: list[AudioFile], output: str | Path, config: EmbedConfig) -> EmbedReport:
    """Embed ``files`` into ``output`` (``.npz`` / ``.parquet``), reusing rows of an earlier run."""
    output = Path(output)
    output_format(output)  # fail before any work on an unknown suffix or a missing pyarrow
    check_output_path(output)
    header = output_header(model, config)
    previous = _previous_rows(output, header, config.overwrite)
    if not config.resume:
        previous = {}
    remove_stale_temporaries(output)

    done: dict[str, FileEmbedding] = {}
    reused: list[str] = []
    skipped: dict[str, str] = {}
    todo: list[tuple[AudioFile, str, float]] = []  # file, sha256, duration from its header
    for f in files:
        if f.problem:
            skipped[f.name] = f.problem
            continue
        try:
            sha = file_sha256(f.path)
        except OSError as exc:
            skipped[f.name] = f"cannot read: {exc.strerror or exc}"
            continue
        old = previous.get(f.name)
        if old is not None and old.sha256 == sha:
            done[f.name] = old
            reused.append(f.name)
            continue
        try:
            info = audio_info(f.path)
        except AudioError as exc:
            skipped[f.name] = _reason(exc, f.path)
            continue
        todo.append((f, sha, info.duration))
    if reused:
        log.info("%d of %d files reused from %s", len(reused), len(files), output)

    def save(complete: bool) -> None:
        order = {f.name: i for i, f in enumerate(files)}
        rows = sorted(done.values(), key=lambda r: order[r.name])
        skipped_rows = [{"file": n, "error": e} for n, e in sorted(skipped.items(), key=lambda x: order[x[0]])]
        meta = {**header, "complete": complete, "n_files": len(rows), "skipped": skipped_rows}
        try:
            write_output(output, EmbedOutput(meta, rows, skipped_rows))
        except OSError as exc:
            raise EmbedError(f"cannot write the output {output}: {exc.strerror or exc}") from exc

    embedded: list[str] = []
    last_save = time.monotonic()
    pending: list[tuple[AudioFile, str, np.ndarray]] = []
    rate = model.sample_rate
    bar = tqdm(
        total=len(files),
        initial=len(files) - len(todo),  # reused and skipped files count as done: the total is what was found
        desc=f"embed {model.spec.module}",
        unit="file",
        disable=not config.progress,
    )

    def flush() -> None:
        for row in _embed_batch(model, pending, config):
            done[row.name] = row
            embedded.append(row.name)
        bar.update(len(pending))
        pending.clear()

    complete = False
    try:
        pending_seconds = 0.0
        # equal lengths next to each other, so they share module calls
        for f, sha, duration in sorted(todo, key=lambda t: (t[2], t[0].name)):
            if duration > config.chunk_seconds:
                try:
                    done[f.name] = _embed_long(model, f, sha, duration, config)
                    embedded.append(f.name)
                except AudioError as exc:
                    skipped[f.name] = _reason(exc, f.path)
                bar.update(1)
            else:
                try:
                    audio = load_audio(f.path, sample_rate=rate)
                except AudioError as exc:
                    skipped[f.name] = _reason(exc, f.path)
                    bar.update(1)
                    continue
                pending.append((f, sha, audio))
                pending_seconds += len(audio) / rate
                if pending_seconds >= config.batch_seconds:
                    flush()
                    pending_seconds = 0.0
            bar.set_postfix(skipped=len(skipped), refresh=False)
            if time.monotonic() - last_save >= config.checkpoint_seconds:
                flush()
                pending_seconds = 0.0
                save(complete=False)
                last_save = time.monotonic()
        flush()
        complete = True
    finally:
        bar.close()
        pending.clear()  # files decoded but not embedded when the run stopped: computed next time
        save(complete)
        if not complete:
            log.warning(
                "stopped early: %d files embedded so far are saved in %s; re-run to continue", len(done), output
            )
    return EmbedReport(output, embedded, reused, [{"file": n, "error": e} for n, e in skipped.items()])


def _reason(exc: AudioError, path: Path) -> str:
    """The error text without the leading path (the output names the file already)."""
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _embed_batch(
    model: HearModel, items: list[tuple[AudioFile, str, np.ndarray]], config: EmbedConfig
) -> list[FileEmbedding]:
    """Embed decoded clips; clips of equal length share one module call."""
    by_length: dict[int, list[tuple[AudioFile, str, np.ndarray]]] = defaultdict(list)
    for item in items:
        by_length[len(item[2])].append(item)
    rows = []
    for group in by_length.values():
        batch = np.stack([audio for _, _, audio in group])
        scene = model.scene_embeddings(batch) if config.scene else None
        stamps = model.timestamp_embeddings(batch) if config.timestamp else None
        for i, (f, sha, audio) in enumerate(group):
            rows.append(
                FileEmbedding(
                    f.name,
                    sha,
                    len(audio) / model.sample_rate,
                    scene=None if scene is None else scene[i],
                    timestamp_embeddings=None if stamps is None else stamps[0][i],
                    timestamps=None if stamps is None else stamps[1][i],
                )
            )
    return rows


def chunk_bounds(duration: float, chunk_seconds: float) -> list[tuple[float, float]]:
    """Equal chunks of at most ``chunk_seconds`` covering ``[0, duration]`` (no short tail chunk)."""
    n = max(1, math.ceil(duration / chunk_seconds))
    edges = [duration * i / n for i in range(n + 1)]
    return list(itertools.pairwise(edges))


def _embed_long(model: HearModel, f: AudioFile, sha: str, duration: float, config: EmbedConfig) -> FileEmbedding:
    """Embed a long file chunk by chunk: at most about ``chunk_seconds + 2 * context_seconds`` of audio in memory.

    The decoded span of a chunk starts on the module's timestamp grid (a multiple of its hop,
    learnt from the first chunk), so the timestamps of all chunks stay evenly spaced.
    """
    rate = model.sample_rate
    chunks = chunk_bounds(duration, config.chunk_seconds)
    scene_sum: np.ndarray | None = None
    weight = 0.0
    frames: list[np.ndarray] = []
    times: list[np.ndarray] = []
    hop_s: float | None = None  # the module's timestamp hop in seconds, once known
    decoded = 0.0
    for k, (start, end) in enumerate(chunks):
        a0 = max(0.0, start - config.context_seconds)
        if hop_s:
            a0 = math.floor(a0 / hop_s + 1e-9) * hop_s
        a1 = min(duration, end + config.context_seconds)
        audio = load_audio(f.path, sample_rate=rate, start=a0, duration=a1 - a0)
        lo = round((start - a0) * rate)
        core = audio[lo : lo + round((end - start) * rate)]
        if k == len(chunks) - 1:
            core = audio[lo:]  # the header's length may round; the last chunk keeps every sample left
        decoded += len(core) / rate
        if config.scene and len(core):
            s = model.scene_embeddings(core[None])[0].astype(np.float64)
            scene_sum = s * (len(core) / rate) if scene_sum is None else scene_sum + s * (len(core) / rate)
            weight += len(core) / rate
        if config.timestamp:
            emb, ts = model.timestamp_embeddings(audio[None])
            if hop_s is None and ts.shape[1] > 1:
                hop_s = float(np.median(np.diff(ts[0].astype(np.float64)))) / 1000.0
            t = ts[0].astype(np.float64) + round(1000.0 * a0, 6)
            keep = np.ones(len(t), dtype=bool)
            if k > 0:
                keep &= t >= 1000.0 * start
            if k < len(chunks) - 1:
                keep &= t < 1000.0 * end
            frames.append(emb[0][keep])
            times.append(t[keep])
    return FileEmbedding(
        f.name,
        sha,
        decoded,
        scene=None if scene_sum is None else (scene_sum / weight).astype(np.float32),
        timestamp_embeddings=np.concatenate(frames) if config.timestamp else None,
        timestamps=np.concatenate(times).astype(np.float32) if config.timestamp else None,
    )


def _previous_rows(output: Path, header: dict[str, Any], overwrite: bool) -> dict[str, FileEmbedding]:
    """Rows of an existing output that may be reused with ``header``; ``{}`` when there is none.

    An existing file that is not a cola-embed output, or one made with other settings, is refused
    (``EmbedError``) unless ``overwrite``: nothing finished is replaced without being asked.
    """
    if not output.exists():
        return {}
    hint = "write to another file, or pass --overwrite to replace it"
    try:
        previous = read_output(output)
    except (OSError, ValueError, KeyError) as exc:
        if not overwrite:
            raise EmbedError(f"{output} exists and is not a readable cola-embed output ({exc}); {hint}") from exc
        log.warning("replacing %s, which is not a readable cola-embed output (--overwrite)", output)
        return {}
    changed = [k for k in RESUME_KEY if previous.meta.get(k) != header.get(k)]
    if not changed:
        return previous.by_name()
    state = "complete" if previous.meta.get("complete") else "partial"
    diff = ", ".join(f"{k} {previous.meta.get(k)!r} there, {header.get(k)!r} here" for k in changed)
    if not overwrite:
        raise EmbedError(f"{output} holds {state} embeddings made with other settings ({diff}); {hint}")
    log.warning("replacing %s (%s; --overwrite): embedding every file again", output, diff)
    return {}


def check_output_path(output: Path) -> None:
    """Fail (``EmbedError`` naming ``output``) unless ``output`` can be written: a file path in a writable folder.

    Creates the output's folder if needed, and a temporary file there, deleted at once.
    """
    if output.is_dir():
        raise EmbedError(f"output {output} is a folder: give a file path ending in .npz or .parquet")
    if output.exists() and not output.is_file():
        raise EmbedError(f"output {output} exists and is not a regular file")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EmbedError(f"cannot write the output {output}: {exc.strerror or exc}") from exc


def remove_stale_temporaries(output: Path) -> list[Path]:
    """Delete the temporary files (``.NAME.XXXXXXXX.tmp``) that a killed run left beside ``output``."""
    pattern = re.compile(rf"\.{re.escape(output.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    stale = [p for p in output.parent.iterdir() if pattern.fullmatch(p.name) and p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d temporary files a stopped run left beside %s", len(stale), output)
    return stale


# --------------------------------------------------------------------------- output files


def output_format(path: Path) -> str:
    """``"npz"`` or ``"parquet"`` from the output's suffix; Parquet needs pyarrow."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise EmbedError(f"output {path}: use a .npz or .parquet file name")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise EmbedError("Parquet output needs pyarrow (pip install pyarrow==26.0.1), or use .npz") from exc
    return suffix[1:]


def write_output(path: str | Path, out: EmbedOutput) -> Path:
    """Write ``out`` atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    writer = _write_parquet if output_format(path) == "parquet" else _write_npz
    return atomic_write(path, lambda tmp: writer(Path(tmp), out))


def read_output(path: str | Path) -> EmbedOutput:
    """Read an output written by ``write_output``."""
    path = Path(path)
    return _read_parquet(path) if output_format(path) == "parquet" else _read_npz(path)


def _columns(out: EmbedOutput) -> dict[str, np.ndarray]:
    meta = out.meta
    cols: dict[str, np.ndarray] = {
        "filenames": np.array([f.name for f in out.files], dtype=str).reshape(-1),
        "sha256": np.array([f.sha256 for f in out.files], dtype=str).reshape(-1),
        "duration_s": np.array([f.duration_s for f in out.files], dtype=np.float64),
    }
    if meta.get("scene"):
        size = int(meta["scene_embedding_size"])
        cols["scene"] = (
            np.stack([f.scene for f in out.files]).astype(np.float32)
            if out.files
            else (np.zeros((0, size), np.float32))
        )
    if meta.get("timestamp"):
        size = int(meta["timestamp_embedding_size"])
        lengths = [len(f.timestamps) for f in out.files]  # type: ignore[arg-type]
        cols["timestamp_embeddings"] = (
            np.concatenate([f.timestamp_embeddings for f in out.files]).astype(np.float32)
            if out.files
            else np.zeros((0, size), np.float32)
        )
        cols["timestamps"] = (
            np.concatenate([f.timestamps for f in out.files]).astype(np.float32)
            if out.files
            else np.zeros(0, np.float32)
        )
        cols["timestamp_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return cols


def _rows(meta: dict[str, Any], cols: dict[str, np.ndarray]) -> list[FileEmbedding]:
    rows = []
    offsets = cols.get("timestamp_offsets")
    for i, name in enumerate(cols["filenames"]):
        row = FileEmbedding(str(name), str(cols["sha256"][i]), float(cols["duration_s"][i]))
        if meta.get("scene"):
            row.scene = cols["scene"][i]
        if meta.get("timestamp") and offsets is not None:
            a, b = int(offsets[i]), int(offsets[i + 1])
            row.timestamp_embeddings = cols["timestamp_embeddings"][a:b]
            row.timestamps = cols["timestamps"][a:b]
        rows.append(row)
    return rows


def _write_npz(path: Path, out: EmbedOutput) -> None:
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(out.meta, sort_keys=True)), **_columns(out))


def _read_npz(path: Path) -> EmbedOutput:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a cola-embed output (format {meta.get('format')!r})")
        cols = {k: z[k] for k in z.files if k != "meta"}
    return EmbedOutput(meta, _rows(meta, cols), list(meta.get("skipped", [])))


def _write_parquet(path: Path, out: EmbedOutput) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = _columns(out)
    arrays = {
        "filename": pa.array(cols["filenames"].tolist(), pa.string()),
        "sha256": pa.array(cols["sha256"].tolist(), pa.string()),
        "duration_s": pa.array(cols["duration_s"], pa.float64()),
    }
    if "scene" in cols:
        scene = cols["scene"]
        arrays["scene"] = pa.FixedSizeListArray.from_arrays(pa.array(scene.reshape(-1)), scene.shape[1])
    if "timestamps" in cols:
        emb, offsets = cols["timestamp_embeddings"], pa.array(cols["timestamp_offsets"].astype(np.int32))
        frames = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1])
        arrays["timestamps"] = pa.ListArray.from_arrays(offsets, pa.array(cols["timestamps"]))
        arrays["timestamp_embeddings"] = pa.ListArray.from_arrays(offsets, frames)
    table = pa.table(arrays).replace_schema_metadata({"cola_embed": json.dumps(out.meta, sort_keys=True)})
    pq.write_table(table, path)


def _read_parquet(path: Path) -> EmbedOutput:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(b"cola_embed")
    if raw is None:
        raise ValueError(f"{path}: not a cola-embed output (no cola_embed metadata)")
    meta = json.loads(raw)
    cols: dict[str, np.ndarray] = {
        "filenames": np.array(table.column("filename").to_pylist(), dtype=str).reshape(-1),
        "sha256": np.array(table.column("sha256").to_pylist(), dtype=str).reshape(-1),
        "duration_s": table.column("duration_s").to_numpy(),
    }
    if meta.get("scene"):
        scene = table.column("scene").combine_chunks()
        cols["scene"] = scene.flatten().to_numpy().reshape(len(table), int(meta["scene_embedding_size"]))
    if meta.get("timestamp"):
        size = int(meta["timestamp_embedding_size"])
        ts = table.column("timestamps").combine_chunks()
        emb = table.column("timestamp_embeddings").combine_chunks()
        cols["timestamps"] = ts.flatten().to_numpy()
        cols["timestamp_embeddings"] = emb.flatten().flatten().to_numpy().reshape(-1, size)
        cols["timestamp_offsets"] = np.concatenate([[0], np.cumsum(ts.value_lengths().to_numpy())]).astype(np.int64)
    return EmbedOutput(meta, _rows(meta, cols), list(meta.get("skipped", [])))
