"""Write a copy of a cola_hear weights file with other settings that need no new tensors.

    python scripts/weights_variant.py IN.safetensors OUT.safetensors --set encoder.pooling=avg

Settings that only change how the trained network is read out (``encoder.pooling``, the
``hear.*`` options) can be compared on the same weights this way. The tensors are written as
float32 (float16 with ``--fp16``); the provenance is kept, with the changes recorded under
``provenance.variant``.
"""

from __future__ import annotations

import argparse

import torch

from cola_hear import ColaModel, load_weights, save_weights
from cola_hear.config import ConfigError, ModelConfig, parse_override


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights")
    parser.add_argument("out")
    parser.add_argument("--fp16", action="store_true", help="store float16 tensors (as shipped weights are)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        required=True,
        help='a config change; VALUE is read as TOML (3, 1e-3, true, ["a", "b"], "x"), else a string',
    )
    args = parser.parse_args(argv)
    model = load_weights(args.weights)
    config = model.config.to_dict()
    changes = {}
    for item in args.set:
        try:
            key, value = parse_override(item)
        except ConfigError as exc:
            parser.error(str(exc))
        section, _, name = key.partition(".")
        if not name or section not in config or not isinstance(config[section], dict):
            parser.error(f"expected SECTION.KEY=VALUE with a config section, got {item!r}")
        if name not in config[section]:
            parser.error(f"{section} has no setting {name!r}; known: {sorted(config[section])}")
        config[section][name] = changes[key] = value
    config.setdefault("provenance", {})["variant"] = changes
    variant = ColaModel(ModelConfig.from_dict(config))
    variant.load_state_dict(model.state_dict())
    save_weights(variant, args.out, dtype=torch.float16 if args.fp16 else torch.float32)
    print(f"wrote {args.out} with {changes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
