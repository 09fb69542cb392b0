"""What the tests share: audio and task fixtures, a counting HEAR module, the hear-validator runner and small
pretraining configs. On the test path through pyproject.toml's ``pythonpath`` (``from support.audio import ...``)."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository


def package_dirs() -> dict[str, str]:
    """Installed top-level name -> folder, from setup.cfg's ``package_dir`` (the one place that pairs them)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = [line.split("=") for line in config["options"]["package_dir"].strip().splitlines()]
    return {name.strip(): folder.strip() for name, folder in lines}
