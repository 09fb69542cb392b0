"""Make a finished pretraining run the shipped default weights, with its provenance under results/.

    python scripts/ship_default_weights.py runs/default-v1 [--step N] [--command "cola-pretrain ..."]
    python scripts/ship_default_weights.py runs/other --step N --log-only    # only publish its loss log
    python scripts/ship_default_weights.py --weights W.safetensors     # a weights file, e.g. a read-out variant

Exports the run's newest checkpoint (or the one of step N) as fp16 to
``cola_hear/assets/default.safetensors``, copies its loss log up to that step to
``results/pretrain/<objective>.csv`` and writes ``results/default_weights.md`` from the
provenance stored in the weights file. Nothing in the output is typed by hand.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import torch

from cola_common.provenance import file_sha256
from cola_hear.atomic import atomic_write_text
from cola_hear.hear import default_weights_path
from cola_hear.weights import load_weights, read_config, save_weights
from cola_pretrain.audio_cache import pool_identity
from cola_pretrain.checkpoint import checkpoint_path, export_weights, latest_checkpoint, load_checkpoint

MAX_BYTES = 20_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, nargs="?", help="pretraining output folder (holds checkpoints/ and log.csv)")
    parser.add_argument("--weights", type=Path, help="ship this cola_hear weights file instead of a run's checkpoint")
    parser.add_argument("--step", type=int, help="ship this step's checkpoint (default: the newest readable one)")
    parser.add_argument("--command", help="the training command, when the run's provenance lacks it")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--log-only", action="store_true", help="publish the run's loss log only, ship nothing")
    parser.add_argument("--log-name", help="file name of the published loss log (default: <objective>.csv)")
    args = parser.parse_args(argv)

    if (args.run is None) == (args.weights is None):
        parser.error("give a run folder or --weights, not both")
    if args.weights is not None:
        return _ship_weights_file(args.weights, args.results, args.log_name)
    if args.step is not None:
        ckpt_path = checkpoint_path(args.run / "checkpoints", args.step)
        if not ckpt_path.is_file():
            parser.error(f"no checkpoint of step {args.step}: {ckpt_path} does not exist")
        state = load_checkpoint(ckpt_path)
    else:
        found = latest_checkpoint(args.run / "checkpoints")
        if found is None:
            parser.error(f"no readable checkpoint under {args.run / 'checkpoints'}")
        ckpt_path, state = found
    if args.command:
        state["provenance"].setdefault("command", args.command)
    log_name = args.log_name or f"{state['provenance'].get('objective', 'cola')}.csv"
    log_path = args.results / "pretrain" / log_name
    _copy_log(args.run / "log.csv", log_path, int(state["step"]))
    if args.log_only:
        print(f"{args.run / 'log.csv'} up to step {state['step']} -> {log_path}")
        return 0
    out = export_weights(state, default_weights_path(), dtype=torch.float16)
    _publish(out, f"`{ckpt_path.name}` of the run", log_path, args.results)
    print(f"shipped {ckpt_path} -> {out}")
    return 0


def _ship_weights_file(weights: Path, results: Path, log_name: str | None = None) -> int:
    model = load_weights(weights)
    out = save_weights(model, default_weights_path(), dtype=torch.float16)
    log_path = results / "pretrain" / (log_name or f"{model.config.provenance.get('objective', 'cola')}.csv")
    _publish(out, f"weights file `{weights.name}`", log_path, results)
    print(f"shipped {weights} -> {out}")
    return 0


def _publish(out: Path, source: str, log_path: Path, results: Path) -> None:
    """Check the shipped file's size and write ``results/default_weights.md`` from its provenance."""
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{out} is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit for shipped weights")
    digest = file_sha256(out)
    config = read_config(out)
    text = _markdown(config.provenance, config.hear.readout, source, out, size, digest, log_path)
    atomic_write_text(results / "default_weights.md", text)
    print(f"{out}: {size / 1e6:.1f} MB, sha256 {digest[:12]}")


def _copy_log(src: Path, dst: Path, last_step: int) -> None:
    """The run's CSV log up to ``last_step`` (the shipped checkpoint), header included."""
    with src.open(newline="") as f:
        reader = csv.DictReader(f)
        kept = [row for row in reader if int(row["step"]) <= last_step]
        columns = reader.fieldnames or []
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_text(dst, out.getvalue())


def _markdown(p: dict, readout: tuple[str, ...], source: str, out: Path, size: int, digest: str, log_path: Path) -> str:
    data = p.get("data", {})
    rows = [
        ("weights file", f"`{out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}` (fp16)"),
        ("size / sha256", f"{size / 1e6:.1f} MB / `{digest}`"),
        ("made from", source),
        ("command", f"`{p.get('command', 'not recorded')}`"),
        ("recipe", _recipe(p.get("config"))),
        ("objective", p.get("objective")),
        ("steps / batch / processes", f"{p.get('steps')} / {p.get('batch_size')} / {p.get('world_size')}"),
        ("pairs seen", p.get("pairs_seen")),
        ("seed", p.get("seed")),
        ("final loss / contrastive accuracy", f"{_num(p.get('final_loss'))} / {_num(p.get('final_accuracy'))}"),
        ("data", f"{data.get('files')} files, {_num(data.get('hours'))} h, manifest `{data.get('manifest_sha256')}`"),
        ("pretraining pool", _pools(data)),
        ("git commit", f"`{p.get('git_commit')}`"),
        ("torch", p.get("torch")),
        ("created (UTC)", p.get("created_utc")),
        ("HEAR read-out", " + ".join(f"`{part}`" for part in readout)),
    ]
    if p.get("variant"):
        changes = ", ".join(f"`{k}` = `{json.dumps(v)}`" for k, v in p["variant"].items())
        rows.append(("changed after training", changes))
    if p.get("init_weights"):
        init = p["init_weights"]
        rows.append(
            (
                "initialised from",
                f"`{init.get('path')}` (sha256 `{str(init.get('sha256'))[:12]}`, "
                f"{init.get('steps')} steps of {init.get('objective')})",
            )
        )
    lines = [
        "# Provenance of the shipped default weights",
        "",
        "Generated by `python scripts/ship_default_weights.py` from the provenance stored in the weights file.",
        f"The loss and contrastive-accuracy log of the run is `{log_path.as_posix()}`; the shipped weights are "
        f"its step {p.get('steps')}.",
        "",
        "| item | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        "## Pretraining config",
        "",
        "```json",
        json.dumps(p.get("config", {}), indent=1, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def _recipe(config: dict | None) -> str:
    """The shipped config (``pretrain/configs``) whose training settings the run's config equals, if any."""
    from cola_pretrain.config import PretrainConfig, load_config, shipped_configs
    from cola_pretrain.start import config_differences

    if not config:
        return "not recorded"
    try:
        ours = PretrainConfig.from_dict(config).to_dict()
    except ValueError as exc:
        return f"unreadable config ({exc})"
    ours.pop("hear", None)
    start = ours["train"].pop("init_weights", None)  # the starting weights get a row of their own
    for name in shipped_configs():
        theirs = load_config(name, {"data.folders": ours["data"]["folders"]}).to_dict()
        theirs.pop("hear", None)
        theirs["train"].pop("init_weights", None)
        if not config_differences(ours, theirs):
            started = ", started from the weights named below" if start else ""
            return f"the training settings of `pretrain/configs/{name}.toml` (budget and logging aside){started}"
    return "no shipped config (see the config below)"


def _pools(data: dict) -> str:
    """Which ``cola-suite pool`` the run read: from the provenance, or from the folders' manifests when they
    still hold the same number of files (runs made before the provenance recorded it)."""
    pools = data.get("pools")
    if pools is None and data.get("folders"):
        pools = pool_identity(data["folders"], data.get("files"))
    if not pools:
        return "not recorded (not a `cola-suite pool` folder, or rebuilt since)"
    return "; ".join(
        f"`{_relative(p['folder'])}`: {p['domain']} (`{p['name']}`, {p['hours']} h, sha256 `{p['sha256'][:16]}`)"
        for p in pools
    )


def _relative(folder: str) -> str:
    path = Path(folder)
    return path.relative_to(Path.cwd()).as_posix() if path.is_absolute() and path.is_relative_to(Path.cwd()) else folder


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


if __name__ == "__main__":
    sys.exit(main())
