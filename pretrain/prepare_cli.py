"""``cola-pretrain prepare``: the command line of ``cola_pretrain.prepare``."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

from cola_pretrain.prepare import PrepareOptions, prepare
from cola_pretrain.shards import MEMBER_FORMATS

log = logging.getLogger("pretrain")


def prepare_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-pretrain prepare",
        description="Decode folders of audio once to 16 kHz mono WebDataset tar shards plus a manifest "
        "(OUT/shards.json) that training reads with --shards. Run it again after adding files: only the new "
        "or changed files are decoded, into new shards; an interrupted prepare resumes where it stopped.",
    )
    p.add_argument("folders", nargs="+", metavar="DIR", help="audio folder(s), scanned recursively")
    p.add_argument("--out", required=True, metavar="DIR", help="folder of the shards and shards.json")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2; 0: this process)")
    p.add_argument("--format", choices=MEMBER_FORMATS, default="flac", help="16-bit members (default flac)")
    p.add_argument("--clip-seconds", type=float, help="cut files into clips of this length (default: one per file)")
    p.add_argument("--shard-clips", type=int, default=1000, help="clips per shard at most (default 1000)")
    p.add_argument("--shard-mb", type=float, default=512.0, help="encoded MB per shard at most (default 512)")
    p.add_argument("--sample-rate", type=int, default=16000, help="sample rate of the clips (default 16000)")
    p.add_argument("--licence", help="licence recorded for files whose folder does not name one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run_prepare(argv: Sequence[str]) -> int:
    """Parse ``argv``, prepare, print the result as JSON; returns the exit status."""
    args = prepare_parser().parse_args(list(argv))
    options = PrepareOptions(
        sample_rate=args.sample_rate, fmt=args.format, clip_seconds=args.clip_seconds, shard_clips=args.shard_clips,
        shard_mb=args.shard_mb, workers=args.workers, licence=args.licence,
    )  # fmt: skip
    result = prepare(args.folders, args.out, options, progress=not args.no_progress)
    print(json.dumps(result.as_dict()))
    return 0
