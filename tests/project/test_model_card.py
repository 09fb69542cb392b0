"""The model card of the shipped weights is generated and cannot drift from the weights and results/."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
CARD = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(CARD)


def test_the_committed_card_is_what_the_script_writes(capsys):
    assert CARD.main(["--check"]) == 0, capsys.readouterr().out


def test_the_card_has_the_model_card_sections_and_follows_the_result_rows(tmp_path):
    text = CARD.model_card()
    for heading in ("Model details", "Training data", "Training recipe", "Intended use", "Evaluation results",
                    "Limitations"):  # fmt: skip
        assert f"\n## {heading}\n" in text
    for package, _, _ in CARD.DISJOINT_SOURCES:  # every pool source with its licence
        assert f"| {package} | " in text and CARD.SOURCES[package].licence in text
    # the evaluation table is computed from the CSVs: without the HEAR rows its column is empty
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(ROOT / "results" / "linear_probe.csv", results)
    partial = CARD.model_card(results_dir=results)
    row = next(line for line in partial.splitlines() if line.startswith("| `cola`:"))
    assert row.endswith("| – |") and row != next(line for line in text.splitlines() if line.startswith("| `cola`:"))
