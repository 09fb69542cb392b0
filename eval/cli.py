"""``cola-eval``: evaluate any HEAR module on a folder of HEAR tasks and publish the results.

    cola-eval probe --module cola_hear --weights W --tasks-dir D [--name NAME] [--seeds 3]
    cola-eval hear --module cola_hear --weights W --tasks-dir D [--grid default --grid-points 8]
    cola-eval finetune --weights W --tasks-dir D --task T [--name NAME] [--seeds 3]
    cola-eval random-weights --seed 0 --out runs/weights/random-init-s0.safetensors
    cola-eval report [--allow-dirty] [--readme README.md]
    cola-eval archive

Every evaluation appends rows to ``results/<protocol>.csv``; ``report`` rebuilds
``results/README.md`` and the plots from those files (and, with ``--readme``, the headline table
of the main README).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from cola_eval.protocols.rows import DEFAULT_CACHE_DIR, DEFAULT_HEAR_DIR, DEFAULT_RESULTS_DIR

log = logging.getLogger("cola-eval")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(level)  # also when logging was configured before (basicConfig is then a no-op)
    start = time.perf_counter()
    try:
        args.func(args)
    except (ValueError, RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return 1
    log.info("done in %.1f s", time.perf_counter() - start)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog="cola-eval",
        description="Evaluate any HEAR module on a folder of HEAR tasks and publish the results.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)

    probe = sub.add_parser("probe", allow_abbrev=False, help="linear probe on frozen embeddings (COLA protocol)")
    _model_args(probe)
    _task_args(probe)
    probe.add_argument("--seeds", type=int, default=3, help="seeds per train/valid/test task (k-fold: all folds)")
    probe.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    probe.add_argument("--batch-seconds", type=float, default=120.0, help="audio seconds per embedding call")
    probe.set_defaults(func=_probe)

    hear = sub.add_parser(
        "hear", allow_abbrev=False, help="HEAR protocol: heareval's embeddings and predictions runners"
    )
    _model_args(hear)
    _task_args(hear)
    hear.add_argument("--grid", choices=("default", "fast", "faster"), default="default")
    hear.add_argument("--grid-points", type=int, default=8)
    hear.add_argument("--work-dir", type=Path, default=DEFAULT_HEAR_DIR, help="heareval embeddings and logs")
    hear.set_defaults(func=_hear)

    finetune = sub.add_parser(
        "finetune", allow_abbrev=False, help="fine-tune the whole encoder: pretrained weights vs random init"
    )
    finetune.add_argument("--weights", type=Path, required=True, help="cola_hear weights file")
    finetune.add_argument("--name", default="", help="model name for the pretrained run (default: weights stem)")
    finetune.add_argument("--scratch-name", default="scratch", help="model name of the random-init run")
    finetune.add_argument("--init", choices=("both", "pretrained", "scratch"), default="both")
    _task_args(finetune)
    finetune.add_argument("--seeds", type=int, default=3)
    finetune.add_argument("--epochs", type=int, default=20)
    finetune.add_argument("--batch-size", type=int, default=32)
    finetune.add_argument("--encoder-lr", type=float, default=1e-4)
    finetune.add_argument(
        "--head-on",
        choices=("final", "readout"),
        default="final",
        help="the head on the encoder's final layer (the seed article) or on the weights' hear.readout (default final)",
    )
    finetune.add_argument(
        "--probe-epochs", type=int, default=0, help="epochs training the head alone before the encoder (default 0)"
    )
    finetune.add_argument(
        "--head-init",
        choices=("crops", "linear_probe"),
        default="crops",
        help="the starting head: new, trained --probe-epochs on random crops, or the frozen linear probe of the "
        "read-out (with --head-on readout; default crops)",
    )
    finetune.set_defaults(func=_finetune)

    rnd = sub.add_parser(
        "random-weights", allow_abbrev=False, help="write a seeded random-init cola_hear weights file (baseline)"
    )
    rnd.add_argument("--seed", type=int, default=0)
    rnd.add_argument("--out", type=Path, required=True)
    rnd.add_argument("--like", type=Path, default=None, help="copy architecture and front end from this weights file")
    rnd.set_defaults(func=_random_weights)

    report = sub.add_parser(
        "report", allow_abbrev=False, help="regenerate results/README.md and the plots from the CSVs"
    )
    report.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    report.add_argument(
        "--experiments",
        type=Path,
        default=Path("experiments.toml"),
        help="the named experiments: main model, baselines, ablations, transfers, peers (skipped when absent)",
    )
    report.add_argument("--main-model", default=None, help="model the text compares against the others")
    report.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also rewrite the headline table ([[report.headline]] of --experiments) between its markers in this file",
    )
    report.add_argument(
        "--allow-dirty", action="store_true", help="publish rows measured with uncommitted code changes (marked)"
    )
    report.set_defaults(func=_report)

    archive = sub.add_parser(
        "archive",
        allow_abbrev=False,
        help="move rows of earlier weights under a re-used model name to results/archive/ (kept, not reported)",
    )
    archive.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    archive.set_defaults(func=_archive)
    return parser


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--module", required=True, help="import name of a HEAR module, e.g. cola_hear")
    p.add_argument("--weights", type=Path, default=None, help="weights file passed to load_model")
    p.add_argument("--name", default="", help="model name in the result tables (default: module[:weights stem])")


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks-dir", type=Path, required=True, help="folder of HEAR task folders")
    p.add_argument("--task", action="append", default=None, help="only this task (repeatable)")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR)
    p.add_argument("--no-write", action="store_true", help="print the scores, append nothing to the CSVs")


def _probe(args: argparse.Namespace) -> None:
    from cola_eval.models.hear_module import ModuleSpec
    from cola_eval.protocols.runner import TasksFailed, run_linear_probe

    spec = ModuleSpec(args.module, args.weights, args.name)
    try:
        rows = run_linear_probe(
            spec,
            args.tasks_dir,
            args.task,
            seeds=args.seeds,
            cache_dir=args.cache_dir,
            results_dir=None if args.no_write else args.results_dir,
            batch_seconds=args.batch_seconds,
        )
    except TasksFailed as failed:
        _print_summary(failed.rows)  # the tasks that ran; the error (exit status 1) names the others
        raise
    _print_summary(rows)


def _hear(args: argparse.Namespace) -> None:
    from cola_eval.models.hear_module import HearModel, ModuleSpec
    from cola_eval.protocols.hear_bridge import run_hear_protocol
    from cola_eval.protocols.rows import ResultRow, append_rows, run_context
    from cola_eval.protocols.tasks import find_tasks

    spec = ModuleSpec(args.module, args.weights, args.name)
    tasks = {t.name: t for t in find_tasks(args.tasks_dir, args.task)}
    scores = run_hear_protocol(spec, list(tasks.values()), args.work_dir, args.grid, args.grid_points)
    # heareval embeds in its own process; the model loaded here states the same read-out and precision
    model = HearModel(spec)
    context, sha = {**run_context(), **model.description}, model.weights_checksum
    checksums = {name: task.checksum() for name, task in tasks.items()}
    rows = []
    for s in scores:
        task = tasks[s.task]
        split = next(sp for sp in task.data_splits() if sp.name == s.fold)
        rows.append(
            ResultRow(
                protocol="hear",
                task=s.task,
                model=spec.display_name,
                module=spec.module,
                weights_sha256=sha,
                seed=42,
                fold=s.fold,
                metric=s.metric,
                score=s.score,
                primary=s.metric == task.primary_metric,
                n_train=sum(len(task.split_labels(x)) for x in split.train),
                n_test=sum(len(task.split_labels(x)) for x in split.test),
                details=s.details,
                task_sha256=checksums[s.task],
                **context,
            )
        )
    if not args.no_write:
        append_rows(rows, args.results_dir)
    _print_summary(rows)


def _finetune(args: argparse.Namespace) -> None:
    from cola_eval.models.hear_module import ModuleSpec
    from cola_eval.protocols.finetune import FinetuneConfig, finetune_task
    from cola_eval.protocols.rows import append_rows
    from cola_eval.protocols.runner import probe_rows
    from cola_eval.protocols.tasks import find_tasks
    from cola_hear.weights import load_weights

    config = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        encoder_lr=args.encoder_lr,
        head_on=args.head_on,
        probe_epochs=args.probe_epochs,
        head_init=args.head_init,
    )
    readout = config.readout(load_weights(args.weights))
    inits = ("pretrained", "scratch") if args.init == "both" else (args.init,)
    all_rows = []
    for task in find_tasks(args.tasks_dir, args.task):
        for init in inits:
            name = (args.name or args.weights.stem) if init == "pretrained" else args.scratch_name
            spec = ModuleSpec("cola_hear", args.weights, name)
            results = finetune_task(args.weights, task, init, list(range(args.seeds)), config)
            # the whole encoder is trained, with a head on its final layer (the seed article's experiment) or on
            # the weights' read-out, in fp32
            rows = probe_rows(
                results, task, spec, spec.weights_checksum(), "finetune", {"readout": readout, "precision": "fp32"}
            )
            if not args.no_write:
                append_rows(rows, args.results_dir)
            all_rows += rows
    _print_summary(all_rows)


def _random_weights(args: argparse.Namespace) -> None:
    from cola_common.provenance import weights_sha256
    from cola_eval.models.baselines.random_init import write_random_init_weights

    path = write_random_init_weights(args.out, args.seed, args.like)
    print(f"{path}  weights sha256 {weights_sha256(path)}")


def _report(args: argparse.Namespace) -> None:
    from cola_eval.models.experiments import load_experiments
    from cola_eval.report.page import ReportConfig, generate_report

    changes: dict[str, object] = {
        "results_dir": args.results_dir,
        "allow_dirty": args.allow_dirty,
        "readme": args.readme,
    }
    if args.main_model:
        changes["main_model"] = args.main_model
    if args.experiments.is_file():
        config = ReportConfig.from_experiments(load_experiments(args.experiments), **changes)
    else:
        log.info("%s not found: tables only, no comparisons named there", args.experiments)
        config = ReportConfig(**changes)  # type: ignore[arg-type]
    print(generate_report(config))


def _archive(args: argparse.Namespace) -> None:
    from cola_eval.protocols.rows import ARCHIVE_DIR, archive_superseded

    for protocol, n in archive_superseded(args.results_dir).items():
        print(f"{protocol}: {n} row(s) of earlier weights moved to {args.results_dir / ARCHIVE_DIR / protocol}.csv")


def _print_summary(rows: list) -> None:
    """Mean +- std of each (task, model)'s primary metric, on stdout."""
    import numpy as np

    groups: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        if r.primary:
            groups.setdefault((r.task, r.model, r.metric), []).append(r.score)
    for (task, model, metric), values in sorted(groups.items()):
        std = np.std(values, ddof=1) if len(values) > 1 else 0.0
        print(f"{task:32s} {model:24s} {metric:24s} {np.mean(values):.4f} +- {std:.4f} (n={len(values)})")


if __name__ == "__main__":
    sys.exit(main())
