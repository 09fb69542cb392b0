"""``cola-pretrain compact``: the command line of ``cola_pretrain.compact``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from cola_hear.config import ConfigError
from cola_pretrain.compact import CompactOptions, make_compact_pool


def compact_parser() -> argparse.ArgumentParser:
    defaults = CompactOptions()
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-pretrain compact",
        description="A seeded, source-stratified part of a pool re-encoded as 16 kHz mono Ogg Opus within a size "
        "budget (OUT/<source>/*.opus + OUT/manifest.json), small enough to travel to a lent GPU machine; train on "
        "it with --data OUT. Run it again to resume an interrupted run; a finished OUT is replaced only with --force.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="the pool: one folder per source, scanned recursively")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the compact pool")
    p.add_argument(
        "--size-mb",
        type=float,
        default=defaults.size_mb,
        help=f"size budget of the audio files in MB of 10^6 bytes (default {defaults.size_mb:g})",
    )
    p.add_argument(
        "--bitrate",
        type=float,
        default=defaults.kbps,
        help=f"Opus bitrate in kbit/s, 6-256 (default {defaults.kbps:g})",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"selection seed (default {defaults.seed})")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=defaults.max_seconds,
        help=f"crop longer files to this length (default {defaults.max_seconds:g}; raised for a source "
        "with too few files to fill its share)",
    )
    p.add_argument(
        "--min-seconds",
        type=float,
        default=defaults.min_seconds,
        help=f"leave out a source's last crop when shorter (default {defaults.min_seconds:g})",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help=f"decoding and encoding threads (default {defaults.workers})",
    )
    p.add_argument("--force", action="store_true", help="replace a finished OUT made with other settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p  # fmt: skip


def run_compact(argv: Sequence[str]) -> int:
    """Parse ``argv``, make the compact pool, print its summary as JSON; returns the exit status."""
    args = compact_parser().parse_args(list(argv))
    try:
        options = CompactOptions(
            size_mb=args.size_mb, kbps=args.bitrate, seed=args.seed, max_seconds=args.max_seconds,
            min_seconds=args.min_seconds, workers=args.workers,
        )  # fmt: skip
    except ValueError as exc:  # a bad option value: a usage error (exit 2), as argparse's
        raise ConfigError(str(exc)) from exc
    manifest = make_compact_pool(args.data, args.out, options, force=args.force, progress=not args.no_progress)
    keys = ("num_files", "total_hours", "total_mb", "sha256")
    summary = {k: manifest[k] for k in keys} | {"skipped": len(manifest["skipped"]), "out": args.out}
    print(json.dumps(summary | {"left_out": len(manifest["left_out"])}))
    return 0
