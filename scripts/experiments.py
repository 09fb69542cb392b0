"""Make the weights of the named experiments (experiments.toml) and run their evaluations.

    python scripts/experiments.py run STAGE [--dry-run] [--only PATTERN ...]   # STAGE: probe longer transfer
                                                          # readouts peers hear finetune
    python scripts/experiments.py weights RECIPE|NAME     # print the weights file of a recipe or a result name,
                                                          # making it if needed
    python scripts/experiments.py list [STAGE]            # the result names a stage produces

``probe``, ``longer``, ``transfer`` and ``peers`` run the linear probes of the models of that stage; ``hear``
runs the HEAR protocol of every model that lists it, ``finetune`` the fine-tuning. Weights come from
the recipe: the module's own, a seeded random init (``cola-eval random-weights``), the no-learning
control (a seeded random init with BatchNorm statistics from the pool, ``cola-pretrain calibrate``), or a
pretraining run's checkpoint (``cola-pretrain export --fp16``), then a read-out variant
(``scripts/weights_variant.py``) where the entry asks for one. Files that exist are reused, so every
command is safe to run again. scripts/reproduce.sh calls this after training the runs a stage needs.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from cola_eval.models.experiments import READOUTS, STAGES, Experiments, Model, load_experiments

ROOT = Path(__file__).resolve().parents[1]


def _here(path: Path) -> str:
    """``path`` relative to the working directory where it is below it (commands recorded in result rows)."""
    return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)


DEFAULT_WEIGHTS = ROOT / "cola_hear" / "assets" / "default.safetensors"
# The control's data pipeline: the recipe of the shipped weights (crops, augmentations, batch size).
CONTROL_CONFIG = "transfer"
CONTROL_BATCHES = 100
# the experiments.toml fine-tuning settings passed on to cola-eval finetune
FINETUNE_OPTIONS = ("seeds", "epochs", "encoder_lr", "head_on", "probe_epochs", "head_init")


class Runner:
    """Resolves recipes to weights files and runs (or, with ``dry_run``, prints) the commands."""

    def __init__(
        self, experiments: Experiments, suite: Path, runs: Path, dry_run: bool = False, pool: Path = Path("data/pool")
    ) -> None:
        self.exp, self.suite, self.runs, self.dry_run, self.pool = experiments, suite, runs, dry_run, pool
        self.weights_dir = runs / "weights"
        if not dry_run:
            self.weights_dir.mkdir(parents=True, exist_ok=True)

    def command(self, args: list[str], env: dict[str, str] | None = None) -> None:
        prefix = " ".join(f"{k}={v}" for k, v in (env or {}).items())
        print(f"[experiments] {prefix + ' ' if prefix else ''}{shlex.join(args)}", file=sys.stderr, flush=True)
        if not self.dry_run:
            subprocess.run(args, check=True, env={**os.environ, **(env or {})})

    def weights(self, recipe: str) -> Path | None:
        """The weights file of ``recipe`` (None: the module's own weights)."""
        if recipe == "default":
            return None
        kind, _, spec = recipe.partition(":")
        if kind == "random":
            seed, _, plain = spec.partition(":")
            name = f"random-init-s{seed}" if plain else f"random-init-like-default-s{seed}"
            out = self.weights_dir / f"{name}.safetensors"
            if self.dry_run or not out.exists():
                like = [] if plain else ["--like", _here(DEFAULT_WEIGHTS)]
                self.command(["cola-eval", "random-weights", "--seed", seed, *like, "--out", str(out)])
            return out
        if kind == "control":
            out = self.weights_dir / f"control-s{spec}.safetensors"
            if self.dry_run or not out.exists():
                self.command(
                    ["cola-pretrain", "calibrate", "--config", CONTROL_CONFIG, "--data", str(self.pool), "--seed", spec,
                     "--batches", str(CONTROL_BATCHES), "--no-progress", "--out", str(out)]
                )  # fmt: skip
            return out
        run, _, step = spec.partition("@")
        out = self.weights_dir / f"{run}-{step}.safetensors"
        if self.dry_run or not out.exists():
            checkpoint = self.runs / run / "checkpoints" / f"step-{int(step):08d}.pt"
            self.command(["cola-pretrain", "export", str(checkpoint), str(out), "--fp16"])
        return out

    def model_weights(self, model: Model) -> Path | None:
        """The file a model is evaluated with: its recipe's, or a read-out variant of it."""
        source = self.weights(model.weights)
        if not model.is_variant:
            return source
        if source is None:
            source = DEFAULT_WEIGHTS
        out = self.weights_dir / f"{model.name}.safetensors"
        if self.dry_run or not out.exists():
            changes = [f"hear.readout={json.dumps(READOUTS[model.readout])}"] if model.readout else []
            sets = [arg for change in (*changes, *model.set) for arg in ("--set", change)]
            script = _here(ROOT / "scripts" / "weights_variant.py")
            self.command(["python", script, _here(source), str(out), "--fp16", *sets])
        return out

    def evaluate(self, model: Model, protocol: str) -> None:
        weights = self.model_weights(model)
        where = ["--tasks-dir", str(self.suite)]
        if protocol == "finetune":
            ft = {**self.exp.finetune, **model.finetune}
            start = _here(weights or DEFAULT_WEIGHTS)
            names = ["--name", model.name] if model.init == "pretrained" else ["--scratch-name", model.name]
            recipe = _options(ft, FINETUNE_OPTIONS)  # absent: cola-eval finetune's defaults
            for task in ft.get("tasks", ()):
                self.command(
                    ["cola-eval", "finetune", "--weights", str(start), "--init", model.init, *names, *where,
                     "--task", str(task), *recipe],
                    env={"OMP_NUM_THREADS": "1"},
                )  # fmt: skip
            return
        args = ["cola-eval", "probe" if protocol == "linear_probe" else "hear", "--module", model.module]
        args += ["--weights", str(weights)] if weights else []
        args += ["--name", model.name, *where]
        if protocol == "hear":
            args += _options(self.exp.hear, ("grid", "grid_points"))  # absent: cola-eval hear's defaults
        self.command(args)


def _options(table: dict[str, object], keys: tuple[str, ...]) -> list[str]:
    """``--key value`` for each of ``keys`` that ``table`` sets (an experiments.toml section)."""
    return [arg for k in keys if k in table for arg in (f"--{k.replace('_', '-')}", str(table[k]))]


def _selected(name: str, patterns: list[str] | None) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def stage_models(experiments: Experiments, stage: str) -> list[tuple[Model, str]]:
    """(model, protocol) pairs a reproduce.sh stage evaluates, in the file's order."""
    if stage in STAGES:
        return [(m, "linear_probe") for m in experiments.models.values() if m.stage == stage]
    if stage in ("hear", "finetune"):
        return [(m, stage) for m in experiments.models.values() if stage in m.protocols]
    raise SystemExit(f"unknown stage {stage!r} (one of {', '.join((*STAGES, 'hear', 'finetune'))})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiments", type=Path, default=ROOT / "experiments.toml")
    parser.add_argument("--suite", type=Path, default=Path(os.environ.get("COLA_SUITE", "data/suite")))
    parser.add_argument("--runs", type=Path, default=Path(os.environ.get("COLA_RUNS", "runs/repro")))
    parser.add_argument("--pool", type=Path, default=Path(os.environ.get("COLA_POOL", "data/pool")),
                        help="pool of the control's BatchNorm statistics (control:SEED recipes)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", allow_abbrev=False, help="evaluate the models of a stage")
    run.add_argument("stage")
    run.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    run.add_argument("--only", nargs="+", metavar="PATTERN", help="only the result names matching these globs")
    weights = sub.add_parser("weights", allow_abbrev=False, help="print the weights file of a recipe or result name")
    weights.add_argument("recipe", help="random:SEED[:plain] | control:SEED | run:RUN@STEP | a result name")
    listing = sub.add_parser("list", allow_abbrev=False, help="result names, of one stage or all")
    listing.add_argument("stage", nargs="?")
    args = parser.parse_args(argv)
    experiments = load_experiments(args.experiments)
    if args.command == "list":
        pairs = stage_models(experiments, args.stage) if args.stage else [(m, "") for m in experiments.models.values()]
        print("\n".join(dict.fromkeys(m.name for m, _ in pairs)))
        return 0
    runner = Runner(experiments, args.suite, args.runs, dry_run=getattr(args, "dry_run", False), pool=args.pool)
    if args.command == "weights":
        model = experiments.models.get(args.recipe)
        print(runner.model_weights(model) if model else runner.weights(args.recipe))
        return 0
    chosen = [(m, p) for m, p in stage_models(experiments, args.stage) if _selected(m.name, args.only)]
    if args.only and not chosen:
        raise SystemExit(f"no model of stage {args.stage!r} matches {args.only}")
    for model, protocol in chosen:
        runner.evaluate(model, protocol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
