"""``cola-embed``: embeddings of a folder of audio with any HEAR module, in one ``.npz`` or ``.parquet`` file.

    cola-embed data/clips -o clips.npz                        # scene embeddings, shipped cola_hear weights
    cola-embed data/clips -o clips.parquet --scene --timestamp --weights runs/x/model.safetensors
    cola-embed --file-list files.txt -o out.npz --module hearbaseline.torchcrepe

Re-running the same command resumes: files already in the output (same name, same content,
same module, weights and settings) are reused. Exit status: 0 every file embedded; 3 done, but
some files were unreadable and skipped (listed in the output's metadata and on stderr);
1 error (bad input or output, the module failed; work done so far is saved); 2 bad arguments;
130 interrupted (Ctrl-C; work done so far is saved).
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-embed",
        description="Embed a folder (recursive) or a list of audio files with any HEAR module.",
        epilog="Exit status: 0 all files embedded; 3 some unreadable files skipped (the rest is written); "
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
    p.add_argument("-o", "--output", type=Path, required=True, help="output file: .npz, or .parquet (pyarrow)")
    p.add_argument("--module", default="cola_hear", help="import name of a HEAR module (default: cola_hear)")
    p.add_argument("--weights", type=Path, default=None, help="weights file passed to load_model")
    p.add_argument("--scene", action="store_true", help="scene embeddings, one per file (the default)")
    p.add_argument("--timestamp", action="store_true", help="timestamp embeddings and their times (ms)")
    p.add_argument(
        "--batch-seconds",
        type=float,
        default=120.0,
        help="audio seconds per module call for short files of equal length (default 120)",
    )
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=600.0,
        help="files longer than this are embedded chunk by chunk (default 600)",
    )
    p.add_argument(
        "--context-seconds",
        type=float,
        default=5.0,
        help="audio decoded on each side of a chunk, so its edge windows see real audio (default 5)",
    )
    p.add_argument(
        "--checkpoint-seconds", type=float, default=300.0, help="write progress to the output this often (default 300)"
    )
    p.add_argument("--no-resume", action="store_true", help="ignore an existing output; embed every file")
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

    from eval.embed import EmbedConfig, EmbedError, collect_audio_files, embed_files, output_format
    from eval.modules import HearModel, ModuleError, ModuleSpec

    start = time.perf_counter()
    try:
        output_format(args.output)
        files = collect_audio_files(args.inputs, args.file_list)
        if not files:
            raise EmbedError("no audio files found (extensions: .wav .flac .ogg .mp3 ...)")
        config = EmbedConfig(
            scene=args.scene or not args.timestamp,
            timestamp=args.timestamp,
            batch_seconds=args.batch_seconds,
            chunk_seconds=args.chunk_seconds,
            context_seconds=args.context_seconds,
            checkpoint_seconds=args.checkpoint_seconds,
            resume=not args.no_resume,
            progress=not args.quiet,
        )
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
