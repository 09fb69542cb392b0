"""The main README's results table: suite averages of the models ``experiments.toml`` lists under
``[[report.headline]]``, written by ``cola-eval report`` between two marker lines, so the
README's numbers are always those of the result CSVs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from cola_eval.models.experiments import HeadlineRow
from cola_eval.report.scores import ReportError, suite_average
from cola_hear.atomic import atomic_write_text

BEGIN = "<!-- headline table: written by `cola-eval report` from experiments.toml [[report.headline]] -->"
END = "<!-- end of headline table -->"


def headline_table(tables: dict[str, pd.DataFrame], valid: pd.DataFrame, rows: Sequence[HeadlineRow]) -> str:
    """One line per row: linear probe test average ± spread and validation average, HEAR-protocol average
    (one seed, so no spread); the number of tasks is named where it is not the most any row has."""
    cells = []
    for row in rows:
        probe = _average(tables.get("linear_probe"), row.model, spread=True)
        hear = _average(tables.get("hear"), row.model, spread=False)
        found = valid[valid["model"] == row.model]["valid"] if not valid.empty else pd.Series(dtype=float)
        cells.append((row, probe, f"{found.iloc[0]:.1f}" if len(found) else "–", hear))
    most = {i: max((c[i][1] for c in cells), default=0) for i in (1, 3)}
    lines = [
        "| model | pretraining pool | linear probe, test | linear probe, valid | HEAR protocol |",
        "|---|---|---:|---:|---:|",
    ]
    for row, probe, valid_cell, hear in cells:
        parts = [f"`{row.model}`: {row.label}", row.pool, _shown(*probe, most[1]), valid_cell, _shown(*hear, most[3])]
        if row.bold:
            parts = [f"**{p}**" if p != "–" else p for p in parts]
        lines.append("| " + " | ".join(parts) + " |")
    return "\n".join(lines)


def _average(summary: pd.DataFrame | None, model: str, spread: bool) -> tuple[str, int]:
    if summary is None or summary.empty:
        return "–", 0
    mean, std, n = suite_average(summary, model)
    if not n:
        return "–", 0
    return (f"{mean:.1f} ± {std:.1f}" if spread else f"{mean:.1f}"), n


def _shown(text: str, n: int, most: int) -> str:
    return text if n in (0, most) else f"{text} ({n}/{most} tasks)"


def write_headline(path: str | Path, table: str) -> Path:
    """Put ``table`` between the marker lines of ``path`` (a ``ReportError`` when they are missing)."""
    path = Path(path)
    text = path.read_text()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ReportError(f"{path}: no headline block; add the lines\n{BEGIN}\n{END}\nwhere the table belongs")
    return atomic_write_text(path, text[: start + len(BEGIN)] + "\n" + table + "\n" + text[end:])
