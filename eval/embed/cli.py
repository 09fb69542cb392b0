"""``cola-embed``: embeddings of a folder of audio with any HEAR module, in one ``.npz`` or ``.parquet`` file.

    cola-embed data/clips -o clips.npz                        # scene embeddings, shipped cola_hear weights
    cola-embed data/clips -o clips.parquet --scene --timestamp --weights runs/x/model.safetensors
    cola-embed --file-list files.txt -o out.npz --module hearbaseline.torchcrepe

Re-running the same command resumes: files already in the output (same name, same content,
same module, weights and settings) are reused. An existing output made with other settings is
never replaced unless ``--overwrite`` is given. Exit status: 0 every file embedded; 3 done, but
some files found were not embedded (unreadable, broken symlinks; listed in the output's metadata
and on stderr); 1 error (bad input or output, the module failed; work done so far is saved);
2 bad arguments; 130 interrupted (Ctrl-C; work done so far is saved).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger("cola-embed")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _output_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".npz", ".parquet"):
        raise argparse.ArgumentTypeError(f"{text}: use a .npz or .parquet file name")
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-embed",
        description="Embed a folder (recursive) or a list of audio files with any HEAR module.",
        epilog="Without --scene or --timestamp: scene embeddings only. Exit status: 0 all files embedded; "
        "3 some files found were not embedded (unreadable, broken symlinks; the rest is written); "
        "1 error; 2 bad arguments; 130 interrupted (progress saved).",
    )
    p.add_argument("inputs", nargs="*", type=Path, help="audio files and folders (searched recursively)")
    p.add_argument(
        "--file-list",
        action="append",
        type=Path,
        default=[],
        help="file with one audio path a line, relative to the list's folder (repeatable)",
    )
    p.add_argument("-o", "--output", type=_output_path, required=True, help="output file: .npz, or .parquet (pyarrow)")
    p.add_argument("--module", default="cola_hear", help="import name of a HEAR module (default: cola_hear)")
    p.add_argument("--weights", type=Path, default=None, help="weights file passed to load_model")
    p.add_argument(
        "--scene",
        action="store_true",
        help="scene embeddings, one per file (what you get when neither --scene nor --timestamp is given)",
    )
    p.add_argument(
        "--timestamp",
        action="store_true",
        help="timestamp embeddings and their times (ms); alone it gives no scene embeddings: "
        "--scene --timestamp gives both",
    )
    p.add_argument(
        "--batch-seconds",
        type=_positive,
        default=120.0,
        help="audio seconds per module call for short files of equal length (default 120)",
    )
    p.add_argument(
        "--chunk-seconds",
        type=_positive,
        default=600.0,
        help="files longer than this are embedded chunk by chunk (default 600)",
    )
    p.add_argument(
        "--context-seconds",
        type=_non_negative,
        default=5.0,
        help="audio decoded on each side of a chunk, so its edge windows see real audio (default 5)",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=_non_negative,
        default=300.0,
        help="write progress to the output this often (default 300)",
    )
    p.add_argument("--no-resume", action="store_true", help="embed every file again, even those already in the output")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output made with other settings (module, weights, --scene/--timestamp, "
        "chunking) or not by cola-embed; without it such an output is never touched",
    )
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar; only warnings and errors")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.inputs and not args.file_list:
        parser.error("give audio files or folders, or --file-list")
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(level)

    from cola_eval.embed.folder import (
        EmbedConfig,
        EmbedError,
        check_output_path,
        collect_audio_files,
        embed_files,
        output_format,
    )
    from cola_eval.models.hear_module import HearModel, ModuleError, ModuleSpec

    try:  # usage errors: the command line itself is wrong, whatever is on disk
        output_format(args.output)
        config = EmbedConfig(
            scene=args.scene or not args.timestamp,
            timestamp=args.timestamp,
            batch_seconds=args.batch_seconds,
            chunk_seconds=args.chunk_seconds,
            context_seconds=args.context_seconds,
            checkpoint_seconds=args.checkpoint_seconds,
            resume=not args.no_resume,
            progress=not args.quiet,
            overwrite=args.overwrite,
        )
    except EmbedError as exc:
        parser.error(str(exc))
    if not config.scene:
        log.info("timestamp embeddings only (add --scene for scene embeddings too)")
    start = time.perf_counter()
    try:
        check_output_path(args.output)  # before loading the module or reading any file
        files = collect_audio_files(args.inputs, args.file_list)
        if not files:
            raise EmbedError("no audio files found (extensions: .wav .flac .ogg .mp3 ...)")
        model = HearModel(ModuleSpec(args.module, args.weights), device=args.device)
        report = embed_files(model, files, args.output, config)
    except (EmbedError, ModuleError, ValueError, RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        log.error("interrupted; the files embedded so far are saved in %s: re-run to continue", args.output)
        return EXIT_INTERRUPTED
    n = len(report.embedded) + len(report.reused)
    print(
        f"{args.output}: {n} files ({len(report.embedded)} embedded, {len(report.reused)} reused), "
        f"{len(report.skipped)} skipped, in {time.perf_counter() - start:.1f} s"
    )
    for s in report.skipped:
        print(f"skipped {s['file']}: {s['error']}", file=sys.stderr)
    return EXIT_SKIPPED if report.skipped else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
