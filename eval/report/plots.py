"""The report's plots: grouped bars per task, probe score against pretraining steps, pretraining curves.

Figures are written without a software or date stamp, so the same rows give the same bytes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cola_eval.report.scores import is_percent, suite_average

log = logging.getLogger(__name__)


def plot_tasks(summary: pd.DataFrame, models: list[str], path: Path, title: str) -> Path:
    """Grouped bars per task (and the suite average) with std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted(set(summary["task"]))
    groups = [*tasks, "suite average"]
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.9 * len(groups) + 2)), 5.0))
    for i, model in enumerate(models):
        means, stds = [], []
        for task in tasks:
            r = summary[(summary["task"] == task) & (summary["model"] == model)]
            means.append(float(r["mean"].iloc[0]) if len(r) else np.nan)
            stds.append(float(r["std"].iloc[0]) if len(r) else 0.0)
        mean, std, n = suite_average(summary, model)
        complete = n == len([t for t in tasks if is_percent(summary[summary["task"] == t]["metric"].iloc[0])])
        means.append(mean if complete else np.nan)  # an average over fewer tasks is not comparable
        stds.append(std if complete else 0.0)
        x = np.arange(len(groups)) + (i - (len(models) - 1) / 2) * width
        ax.bar(x, means, width, yerr=stds, capsize=2, label=model)
    top = np.nanmax([b.get_height() for b in ax.patches] + [1.0])
    ax.set_ylim(0, top * 1.25)
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right")
    ax.set_ylabel("primary metric (points)")
    ax.set_title(title)
    ax.legend(fontsize="small", ncols=min(4, len(models)))
    _save_figure(fig, path)
    return path


def plot_checkpoint_curves(
    curves: dict[str, list[tuple[int, float, float]]], references: dict[str, float], path: Path
) -> Path:
    """Linear-probe suite average against pretraining steps, with baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run, points in curves.items():
        steps, means, stds = zip(*points, strict=True)
        ax.errorbar(steps, means, yerr=stds, marker="o", capsize=3, label=run)
    for name, value in references.items():
        ax.axhline(
            value,
            linestyle="--",
            linewidth=1,
            color="gray" if "random" in name else "black",
            label=f"{name}: {value:.1f}",
        )
    ax.set(xlabel="pretraining step", ylabel="linear-probe suite average (points)", title="Pretraining helps?")
    ax.legend(fontsize="small")
    _save_figure(fig, path)
    return path


def plot_pretraining(logs: list[Path], path: Path) -> Path | None:
    """Loss and accuracy against step from pretraining CSV logs (columns step, loss, acc or accuracy)."""
    curves = []
    for log_path in logs:
        df = pd.read_csv(log_path)
        missing = {"step", "loss"} - set(df.columns)
        if missing:
            log.warning("%s: not a pretraining log (missing %s); skipped", log_path, sorted(missing))
            continue
        curves.append((log_path.stem, df))
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for name, df in curves:
        ax_loss.plot(df["step"], df["loss"], label=name)
        acc = next((c for c in ("acc", "accuracy") if c in df.columns), None)
        if acc:
            ax_acc.plot(df["step"], df[acc], label=name)
    ax_loss.set(xlabel="step", ylabel="contrastive loss", title="pretraining loss")
    ax_acc.set(xlabel="step", ylabel="in-batch accuracy", title="pretraining accuracy")
    ax_loss.legend(fontsize="small")
    _save_figure(fig, path)
    return path


def _save_figure(fig, path: Path) -> None:
    """Write a figure as PNG without a software/date stamp (reproducible bytes) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
