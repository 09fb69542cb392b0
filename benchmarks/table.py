"""Benchmark figures: one ``Row`` per figure, the machine's details, the printed table and the CSV file."""

from __future__ import annotations

import csv
import io
import os
import platform
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from cola_common.provenance import git_commit
from cola_hear.atomic import atomic_write_text
from cola_hear.precision import bf16_supported

REPO_ROOT = Path(__file__).resolve().parent.parent
NOT_MEASURED_NO_GPU = "not measured (no GPU)"


def shown_path(path: str | os.PathLike) -> str:
    """A path as the published tables show it: relative to the repository root, never the machine's
    absolute path (a path outside the repository shows its name only)."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(REPO_ROOT):
        return resolved.relative_to(REPO_ROOT).as_posix()
    return f"{resolved.name} (outside the repository)"


@dataclass(frozen=True)
class Row:
    """One figure. ``ratio`` is this figure over the baseline that ``notes`` names (None: no comparison)."""

    section: str
    item: str
    value: float | str | None
    unit: str = ""
    ratio: float | None = None
    notes: str = ""


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_bf16() -> bool:
    """Whether this CPU runs bfloat16 kernels natively (oneDNN's check: AVX512-BF16 / AMX)."""
    return bf16_supported(torch.device("cpu"))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_rows(stage: str) -> list[Row]:
    """Details of the machine; ``stage`` "start" gives everything, "end" the load average only."""
    load = Row("machine", f"load average at {stage} (1, 5, 15 min)", load_average(), "processes")
    if stage != "start":
        return [load]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        Row("machine", "CPU model", cpu_model()),
        Row("machine", "CPU cores", os.cpu_count() or 0, "cores"),
        Row("machine", "torch threads", torch.get_num_threads(), "threads"),
        Row("machine", "CPU bf16 support", "yes" if cpu_bf16() else "no", notes="oneDNN AVX512-BF16/AMX check"),
        Row("machine", "GPU", gpu),
        Row("machine", "torch version", torch.__version__),
        Row("machine", "python version", platform.python_version()),
        Row("machine", "commit", git_commit(REPO_ROOT, abbrev=12) or "unknown"),
        load,
    ]


def format_value(value: float | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table, grouped by section in order of appearance."""
    header = ("section", "item", "value", "unit", "ratio", "notes")
    cells = [
        (r.section, r.item, format_value(r.value), r.unit, "" if r.ratio is None else f"{r.ratio:.2f}x", r.notes)
        for r in rows
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:-1], widths, strict=True)) + "  notes"]
    lines.append("  ".join("-" * w for w in widths) + "  -----")
    previous = None
    for c in cells:
        section = c[0] if c[0] != previous else ""
        previous = c[0]
        first = [section, c[1]]
        lines.append(
            "  ".join(
                [*(x.ljust(w) for x, w in zip(first, widths[:2], strict=True)), c[2].rjust(widths[2])]
                + [x.ljust(w) for x, w in zip(c[3:5], widths[3:5], strict=True)]
            )
            + "  "
            + c[5]
        )
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: list[Row]) -> str:
    """The rows as a Markdown table (the same cells as the printed table)."""
    lines = ["| section | item | value | unit | ratio | notes |", "|---|---|---:|---|---:|---|"]
    previous = None
    for r in rows:
        cells = [
            r.section if r.section != previous else "",
            r.item,
            format_value(r.value),
            r.unit,
            "" if r.ratio is None else f"{r.ratio:.2f}x",
            r.notes,
        ]
        previous = r.section
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f.name for f in fields(Row)], lineterminator="\n")
    writer.writeheader()
    for r in rows:
        record = asdict(r)
        record["value"] = "" if r.value is None else (f"{r.value:.6g}" if isinstance(r.value, float) else r.value)
        record["ratio"] = "" if r.ratio is None else f"{r.ratio:.4g}"
        writer.writerow(record)
    return buffer.getvalue()


def write_csv(rows: list[Row], path: str | os.PathLike) -> Path:
    """Write the rows to ``path`` atomically (one row per figure)."""
    return atomic_write_text(path, csv_text(rows))


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline`` when both are positive numbers, else None."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def verdict(value: float | None, target: float, unit: str = "x", above: bool = True) -> str:
    """``"target >= 800x: met"``-style text."""
    sign = ">=" if above else "<="
    if value is None:
        return f"target {sign} {target:g}{unit}: not measured"
    met = value >= target if above else value <= target
    return f"target {sign} {target:g}{unit}: {'met' if met else 'NOT met'}"
