"""``cola-pretrain``: train (the default command), export a checkpoint, or time the training step.

Examples::

    cola-pretrain --config smoke --data DIR --out runs/smoke
    cola-pretrain --config default --data DIR --out runs/x --max-minutes 60 --set objective.name=cosine
    cola-pretrain --config default --data DIR --out runs/x --resume          # continue from the last checkpoint
    torchrun --nproc_per_node 4 -m cola_pretrain --config default --data DIR --out runs/x
    cola-pretrain export runs/x/checkpoints/step-00001000.pt weights.safetensors --fp16
    cola-pretrain bench --batch-size 128 --steps 5
    cola-pretrain calibrate --config transfer --data DIR --seed 0 --out control-s0.safetensors  # the control
    cola-pretrain prepare DIR [DIR ...] --out shards/        # decode once into WebDataset tar shards
    cola-pretrain --config default --shards shards/shards.json --out runs/x   # train from them
    cola-pretrain compact --data data/pool --out data/compact   # ~48 MB of Ogg Opus to carry to a GPU machine
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import torch
from tqdm import tqdm

from cola_hear.config import ConfigError, parse_override
from cola_pretrain.config import PretrainConfig, load_config, shipped_configs

log = logging.getLogger("pretrain")

COMMANDS = ("train", "export", "bench", "calibrate", "prepare", "compact")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    _setup_logging()
    try:
        if command == "export":
            return _export(_export_parser().parse_args(argv))
        if command == "prepare":
            from cola_pretrain.prepare_cli import run_prepare

            return run_prepare(argv)
        if command == "compact":
            from cola_pretrain.compact_cli import run_compact

            return run_compact(argv)
        args = _train_parser(command).parse_args(argv)
        config = config_from_args(args)
        if command == "bench":
            return _bench(args, config)
        if command == "calibrate":
            return _calibrate(args, config)
        return _train(args, config)
    except ConfigError as exc:  # a bad value in the config, --set or a flag: a usage error, as argparse's
        log.error("%s", exc)
        return 2
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return 1


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The config file with ``--set`` overrides, then the explicit flags on top."""
    overrides: dict[str, Any] = dict(parse_override(text) for text in args.set)
    flags = {
        "data.folders": args.data,
        "train.out_dir": getattr(args, "out", None),
        "train.max_steps": args.max_steps,
        "train.max_minutes": args.max_minutes,
        "train.batch_size": args.batch_size,
        "train.seed": args.seed,
        "train.device": args.device,
        "objective.name": args.objective,
        "data.cache_dir": args.cache_dir,
        "data.shards": getattr(args, "shards", None),
    }
    overrides.update({k: v for k, v in flags.items() if v is not None})
    if args.no_cache:
        overrides["data.cache"] = False
    if args.no_progress:
        overrides["train.progress"] = False
    return load_config(args.config, overrides)


def _train(args: argparse.Namespace, config: PretrainConfig) -> int:
    from cola_pretrain.train import run_training

    if args.print_config:
        from cola_pretrain.config import dump_toml

        print(dump_toml(config))
        return 0
    result = run_training(config, resume=args.resume)
    if result.weights is not None:
        print(
            json.dumps(
                {
                    "steps": result.steps,
                    "stopped_by": result.stopped_by,
                    "final_loss": result.final_loss,
                    "final_accuracy": result.final_accuracy,
                    "weights": str(result.weights),
                    "skipped_files": len(result.skipped),
                }
            )
        )
    if result.stopped_by == "signal":  # stopped early, with a checkpoint: the shell's status of that signal
        return 128 + (result.signum or signal.SIGTERM)
    return 0


def _bench(args: argparse.Namespace, config: PretrainConfig) -> int:
    from cola_pretrain.bench import benchmark_step

    result = benchmark_step(config, steps=args.steps, warmup=args.warmup)
    print(json.dumps(result))
    return 0


def _calibrate(args: argparse.Namespace, config: PretrainConfig) -> int:
    from cola_pretrain.calibrate import calibrate_batchnorm

    if args.batches < 1:
        raise ConfigError(f"--batches must be at least 1, got {args.batches}")
    path = calibrate_batchnorm(config, args.out, batches=args.batches)
    print(json.dumps({"weights": str(path), "seed": config.train.seed, "batches": args.batches}))
    return 0


def _export(args: argparse.Namespace) -> int:
    from cola_pretrain.checkpoint import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.output, dtype=torch.float16 if args.fp16 else torch.float32)
    log.info("wrote %s (%s)", path, "float16" if args.fp16 else "float32")
    return 0


def _train_parser(command: str) -> argparse.ArgumentParser:
    bench, calibrate = command == "bench", command == "calibrate"
    descriptions = {
        "bench": "Time the COLA training step on synthetic audio (no data needed).",
        "calibrate": "The no-learning control: the seed's initial network with BatchNorm statistics averaged over "
        "training batches of the pool (forward passes only; no weight changes). Writes a cola_hear weights file.",
    }
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-pretrain" if command == "train" else f"cola-pretrain {command}",
        description=descriptions.get(
            command,
            "COLA pretraining on any folder of audio. Other commands: 'cola-pretrain export', "
            "'cola-pretrain bench', 'cola-pretrain calibrate', 'cola-pretrain prepare', 'cola-pretrain compact'.",
        ),
    )
    p.add_argument(
        "--config",
        default="default",
        help=f"TOML config file, or a shipped one by name ({', '.join(shipped_configs())}); default: default",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any config value, e.g. --set objective.name=cosine (repeatable)",
    )
    p.add_argument("--data", nargs="+", metavar="DIR", help="audio folder(s), scanned recursively (data.folders)")
    p.add_argument(
        "--shards",
        nargs="+",
        metavar="MANIFEST_OR_URL",
        help="prepared shards (data.shards): shards.json files or folders from 'cola-pretrain prepare', or tar URLs "
        "(brace patterns, pipe:, fsspec), instead of --data",
    )
    if calibrate:
        p.add_argument("--out", required=True, metavar="FILE", help="weights file to write (.safetensors, float16)")
        p.add_argument("--batches", type=int, default=100, help="training batches to average (default 100)")
    elif not bench:
        p.add_argument("--out", metavar="DIR", help="output folder for logs, checkpoints and weights (train.out_dir)")
        p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the output folder")
        p.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    p.add_argument("--max-steps", type=int, help="stop after this many steps in total (train.max_steps)")
    p.add_argument("--max-minutes", type=float, help="stop after this many minutes (train.max_minutes)")
    p.add_argument("--batch-size", type=int, help="pairs per step and process (train.batch_size)")
    p.add_argument("--seed", type=int, help="random seed (train.seed)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    p.add_argument("--objective", choices=("bilinear", "cosine", "triplet"), help="objective.name")
    p.add_argument("--cache-dir", help="decoded-audio cache folder (data.cache_dir)")
    p.add_argument("--no-cache", action="store_true", help="decode into memory, no cache (data.cache=false)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar; log a line per log step instead")
    if bench:
        p.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
        p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    return p


def _export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-pretrain export",
        description="Write the encoder and front end of a training checkpoint as a cola_hear weights file.",
    )
    p.add_argument("checkpoint", help="a checkpoints/step-NNNNNNNN.pt file")
    p.add_argument("output", help="weights file to write (.safetensors)")
    p.add_argument("--fp16", action="store_true", help="store float16 tensors (half the size)")
    return p


class _TqdmHandler(logging.StreamHandler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _setup_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    handler = _TqdmHandler()
    prefix = f"[rank {rank}] " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if rank == 0 else logging.ERROR)


if __name__ == "__main__":
    raise SystemExit(main())
