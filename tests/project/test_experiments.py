"""experiments.toml: one declarative list of result names, read by the report and by scripts/experiments.py."""

from __future__ import annotations

import csv
import importlib.util
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from cola_eval.models.experiments import READOUTS, load_experiments
from cola_eval.protocols.rows import current_module_name
from cola_hear.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = load_experiments(ROOT / "experiments.toml")
STAGES = ("probe", "longer", "transfer", "readouts", "peers", "hear", "finetune")


def _load_script():
    spec = importlib.util.spec_from_file_location("experiments_script", ROOT / "scripts" / "experiments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()


def _dry_run(stage: str, capsys, monkeypatch) -> list[list[str]]:
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    assert SCRIPT.main(["--runs", "R", "--suite", "S", "run", stage, "--dry-run"]) == 0
    return [shlex.split(line.removeprefix("[experiments] ")) for line in capsys.readouterr().err.splitlines()]


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_every_published_name_is_declared_with_its_protocol():
    for protocol in ("linear_probe", "hear", "finetune"):
        with open(ROOT / "results" / f"{protocol}.csv", newline="") as f:
            published = {(r["model"], current_module_name(r["module"])) for r in csv.DictReader(f)}
        for name, module in published:
            model = EXPERIMENTS.models.get(name)
            assert model is not None, f"{name} ({protocol}) has no [models] entry"
            assert protocol in model.protocols and model.module == module, name
    assert EXPERIMENTS.referenced() <= set(EXPERIMENTS.models)


def test_the_dry_run_evaluates_each_declared_model_once_per_protocol_with_its_recipe(capsys, monkeypatch):
    evaluated = []
    for stage in STAGES:
        commands = _dry_run(stage, capsys, monkeypatch)
        made: dict[str, list[str]] = {}  # weights file -> the command that makes it
        for args in commands:
            if args[:2] in (["cola-eval", "probe"], ["cola-eval", "hear"]):
                protocol = "linear_probe" if args[1] == "probe" else "hear"
                evaluated.append((_option(args, "--name"), protocol))
                model = EXPERIMENTS.models[_option(args, "--name")]
                assert _option(args, "--module") == model.module and _option(args, "--tasks-dir") == "S"
                weights = _option(args, "--weights")
                assert (weights is None) == (model.weights == "default" and not model.is_variant)
                if model.is_variant:  # a variant of the recipe's file, with its read-out
                    variant = made[weights]
                    assert variant[1] == "scripts/weights_variant.py" and variant[3] == weights
                    if model.readout:
                        assert f"hear.readout={READOUTS[model.readout]}".replace("'", '"') in " ".join(variant)
                    weights = variant[2]
                if model.weights.startswith("run:"):
                    run, step = model.weights[4:].split("@")
                    assert made[weights][:2] == ["cola-pretrain", "export"]
                    assert made[weights][2] == f"R/{run}/checkpoints/step-{int(step):08d}.pt"
                elif model.weights.startswith("random:"):
                    assert made[weights][:2] == ["cola-eval", "random-weights"]
                    assert _option(made[weights], "--seed") == model.weights.split(":")[1]
                    assert ("--like" in made[weights]) == (not model.weights.endswith(":plain"))
                elif model.weights.startswith("control:"):
                    assert made[weights][:2] == ["cola-pretrain", "calibrate"]
                    assert _option(made[weights], "--seed") == model.weights.split(":")[1]
                    assert _option(made[weights], "--config") == "transfer"
            elif args[0] == "OMP_NUM_THREADS=1":
                assert args[1:3] == ["cola-eval", "finetune"]
                name = _option(args, "--name") or _option(args, "--scratch-name")
                assert _option(args, "--init") == EXPERIMENTS.models[name].init
                evaluated.append((name, "finetune"))
            else:  # a weights file: random-weights --out OUT; export CHECKPOINT OUT; weights_variant.py IN OUT
                made[_option(args, "--out") or args[3]] = args
    tasks = len(EXPERIMENTS.finetune["tasks"])
    expected = [
        (m.name, p)
        for m in EXPERIMENTS.models.values()
        for p in m.protocols
        for _ in range(tasks if p == "finetune" else 1)
    ]
    assert sorted(evaluated) == sorted(expected)


STUB = """#!/usr/bin/env bash
# records the command it stands for, one shell-quoted line written at once (runs in the background append
# side by side); the weights step prints a path
line=$(printf '%q ' "${0##*/}" "$@"); printf '%s\n' "$line" >>"$COMMANDS_LOG"
[[ "$*" == *" weights run:"* ]] && echo "R/weights/exported.safetensors"
exit 0
"""


def _reproduce(tmp_path: Path, *stages: str) -> list[list[str]]:
    """The commands ``scripts/reproduce.sh STAGES`` runs, with every tool it calls replaced by a recorder
    (the script puts ``.venv/bin`` first on ``PATH``: a copy of it runs in a folder whose ``.venv/bin``
    holds the recorders)."""
    work = tmp_path / "checkout"
    (work / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "reproduce.sh", work / "scripts" / "reproduce.sh")
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("cola-suite", "cola-pretrain", "cola-eval", "python"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "commands.log"
    log.write_text("")
    env = {**os.environ, "COMMANDS_LOG": str(log), "COLA_SUITE": "S", "COLA_POOL": "P", "COLA_POOL_SUITE": "PS"}
    env["COLA_RUNS"] = "R"
    proc = subprocess.run(
        ["bash", str(work / "scripts" / "reproduce.sh"), *stages], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return [shlex.split(line) for line in log.read_text().splitlines()]


def test_reproduce_evaluates_each_stage_through_experiments_toml(tmp_path):
    for stage in STAGES:
        evaluations = [c for c in _reproduce(tmp_path / stage, stage) if c[1:2] == ["scripts/experiments.py"]]
        runs = [c for c in evaluations if "run" in c]
        assert len(runs) == 1, (stage, evaluations)
        args = runs[0]
        assert args[args.index("run") + 1] == stage and _option(args, "--suite") == "S"
        assert _option(args, "--runs") == "R" and _option(args, "--pool") == "P"


def test_reproduce_runs_all_stages_in_order_and_keeps_no_result_name(tmp_path):
    commands = _reproduce(tmp_path)
    evaluated = [c[c.index("run") + 1] for c in commands if c[1:2] == ["scripts/experiments.py"] and "run" in c]
    assert evaluated == ["probe", "longer", "transfer", "readouts", "peers", "finetune", "hear"]
    assert not [c for c in commands if "--name" in c], "a result name kept by hand in reproduce.sh"
    assert ["cola-eval", "report", "--readme", "README.md"] in commands
    assert ["python", "scripts/model_card.py"] in commands
    # every checkpoint experiments.toml names is trained: a run of that name, to at least that step
    trained: dict[str, int] = {}
    for c in commands:
        if c[0] == "cola-pretrain" and "--out" in c and "--max-steps" in c:
            run = Path(_option(c, "--out")).name
            trained[run] = max(trained.get(run, 0), int(_option(c, "--max-steps")))
    for model in EXPERIMENTS.models.values():
        if model.weights.startswith("run:"):
            run, step = model.weights[4:].split("@")
            assert trained.get(run, 0) >= int(step), f"{model.name}: no run {run} of {step} steps in reproduce.sh"


def test_reproduce_refuses_an_unknown_stage(tmp_path):
    bash = ["bash", str(ROOT / "scripts" / "reproduce.sh"), "nonsense"]
    env = {**os.environ, "COLA_RUNS": str(tmp_path / "R")}
    proc = subprocess.run(bash, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown stage 'nonsense'" in proc.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('main = "nobody"', r"no \[models\] entry: \['nobody'\]"),
        ('[models.x]\nweights = "run:x"\nstage = "probe"', "weights 'run:x'"),
        ('[models.x]\nreadout = "stage9"\nstage = "probe"', "readout 'stage9'"),
        ('[models.x]\nprotocols = ["hear"]\nstage = "probe"', "exactly when the model has a linear probe"),
        ('[models.x]\nmodule = "m"\nreadout = "final"\nstage = "probe"', "variant of a module other than cola_hear"),
        ('[[report.headline]]\nmodel = "ghost"\nlabel = "g"\npool = "none"', r"no \[models\] entry: \['ghost'\]"),
    ],
)
def test_a_bad_entry_is_named(tmp_path, change, message):
    text = (ROOT / "experiments.toml").read_text()
    text = text.replace('main = "cola"', change) if change.startswith("main") else text + "\n" + change + "\n"
    path = tmp_path / "experiments.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_experiments(path)


def test_only_runs_the_models_whose_names_match(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    args = ["--runs", "R", "--suite", "S", "run", "readouts", "--dry-run", "--only", "cola-final", "*-bn-s2"]
    assert SCRIPT.main(args) == 0
    names = {_option(shlex.split(line), "--name") for line in capsys.readouterr().err.splitlines() if " probe " in line}
    expected = {"cola-final"} | {m for m in EXPERIMENTS.models if m.endswith("-bn-s2") and m.startswith("random-init")}
    assert names == expected and {"cola-final", "random-init-stage0-bn-s2", "random-init-final-bn-s2"} <= names
    with pytest.raises(SystemExit, match="no model of stage"):
        SCRIPT.main(["--runs", "R", "--suite", "S", "run", "readouts", "--dry-run", "--only", "nothing*"])


def test_a_models_finetune_options_override_the_shared_recipe(capsys, monkeypatch):
    commands = _dry_run("finetune", capsys, monkeypatch)
    by_name = {}
    for args in commands:
        if args[1:3] == ["cola-eval", "finetune"]:
            by_name.setdefault(_option(args, "--name") or _option(args, "--scratch-name"), args)
    shared = EXPERIMENTS.finetune
    for name, args in by_name.items():
        own = EXPERIMENTS.models[name].finetune
        assert _option(args, "--head-on") == own.get("head_on", shared.get("head_on")), name
        probe_epochs = own.get("probe_epochs", shared.get("probe_epochs"))
        assert _option(args, "--probe-epochs") == (None if probe_epochs is None else str(probe_epochs))
        assert float(_option(args, "--encoder-lr")) == own.get("encoder_lr", shared["encoder_lr"])
        assert _option(args, "--epochs") == str(own.get("epochs", shared["epochs"]))
    assert {"cola-ft-readout", "scratch-ft-readout", "scratch"} <= set(by_name)


def test_weights_names_a_result_names_variant_file_and_a_recipes_file(tmp_path, capsys):
    """`weights NAME` gives the read-out variant that NAME is evaluated with (what reproduce.sh ships),
    `weights RECIPE` the recipe's own file; files that exist are reused, so nothing runs here."""
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("continued-1000", "cola-2000-stage03"):
        (weights / f"{name}.safetensors").write_bytes(b"")
    capsys.readouterr()
    assert SCRIPT.main(["--runs", str(tmp_path), "weights", "cola-2000-stage03"]) == 0
    assert SCRIPT.main(["--runs", str(tmp_path), "weights", "run:continued@1000"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(weights / "cola-2000-stage03.safetensors"), str(weights / "continued-1000.safetensors")]
