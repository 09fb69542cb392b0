"""The report's statistics: result rows read for publication, per-task summaries, suite averages and verdicts.

Scores are each task's primary metric, in points (percent) where the metric is a rate. The
suite average is the mean over tasks; its +- is the propagated spread, sqrt(sum of per-task
variances) / n_tasks. A model "wins" a comparison when its mean is higher by more than the
combined spread sqrt(std_a^2 + std_b^2).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cola_eval.protocols.metrics import higher_is_better
from cola_eval.protocols.rows import ARCHIVE_DIR, ResultRow, csv_path, dirty_rows, identity_conflicts, read_rows

PERCENT_METRICS = ("top1_acc", "pitch_acc", "chroma_acc", "mAP", "aucroc")


CHECKPOINT_NAME = re.compile(r"^(?P<run>.+)@(?P<step>\d+)$")  # "cola@2000": run "cola" after 2000 steps


def is_percent(metric: str) -> bool:
    return metric in PERCENT_METRICS or metric.endswith("_fms")


class ReportError(ValueError):
    """The result files cannot be published as they are (mixed identities under one name, dirty rows)."""


def load_rows(results_dir: Path, protocol: str, allow_dirty: bool = False) -> pd.DataFrame:
    """Primary-metric rows of one protocol; a re-run (same task, model, seed, fold, metric) replaces the older row.

    Refuses (``ReportError``) a file where one model name stands for two things (``identity_conflicts``:
    e.g. two weights checksums; ``cola-eval archive`` moves superseded rows out) and, unless
    ``allow_dirty``, rows measured with uncommitted code changes.
    """
    path = csv_path(protocol, results_dir)
    if not path.exists():
        return pd.DataFrame(columns=ResultRow.columns())
    rows = read_rows(path)
    conflicts = identity_conflicts(rows)
    if conflicts:
        raise ReportError(
            f"{path}: a model name must stand for one model; " + "; ".join(conflicts) + ". Give new weights a "
            f"new --name, or move the superseded rows to {ARCHIVE_DIR}/ with `cola-eval archive`."
        )
    dirty = sorted({r.model for r in dirty_rows(rows)})
    if dirty and not allow_dirty:
        raise ReportError(
            f"{path}: rows of {', '.join(dirty)} were measured with uncommitted changes (commit ending in +dirty); "
            "re-run them from a clean commit, or pass --allow-dirty to publish them marked."
        )
    df = pd.DataFrame([r.__dict__ for r in rows])
    if df.empty:
        return df
    df = df[df["primary"]]
    return df.drop_duplicates(subset=["task", "model", "seed", "fold", "metric"], keep="last").reset_index(drop=True)


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (task, model): metric, mean and std (in display units: points for rates), number of runs."""
    if rows.empty:
        return pd.DataFrame(columns=["task", "model", "metric", "mean", "std", "n"])
    out = []
    for (task, model), group in rows.groupby(["task", "model"], sort=True):
        metric = group["metric"].iloc[0]
        values = group["score"].to_numpy(dtype=float) * (100.0 if is_percent(metric) else 1.0)
        values = values[np.isfinite(values)]
        out.append(
            {
                "task": task,
                "model": model,
                "metric": metric,
                "mean": float(values.mean()) if len(values) else math.nan,
                "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "n": len(values),
            }
        )
    return pd.DataFrame(out)


def suite_average(summary: pd.DataFrame, model: str, tasks: list[str] | None = None) -> tuple[float, float, int]:
    """Mean over tasks of a model's per-task means (rate metrics only), propagated std, number of tasks."""
    s = summary[(summary["model"] == model) & summary["metric"].map(is_percent) & summary["mean"].notna()]
    if tasks is not None:
        s = s[s["task"].isin(tasks)]
    if s.empty:
        return math.nan, math.nan, 0
    return float(s["mean"].mean()), float(np.sqrt((s["std"] ** 2).sum()) / len(s)), len(s)


VALID_SCORE = re.compile(r"\bvalid_(?:score|frame_map)=(?P<value>[-+0-9.eE]+|nan)")


def validation_averages(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model: the linear probe's validation score (the selection metric it recorded, in points)
    averaged over seeds, then over tasks. Weights are chosen on this, never on the test scores."""
    if rows.empty:
        return pd.DataFrame(columns=["model", "valid", "n_tasks"])
    values = rows["details"].astype(str).str.extract(VALID_SCORE)["value"].astype(float) * 100.0
    per_task = rows.assign(valid=values).dropna(subset=["valid"]).groupby(["model", "task"])["valid"].mean()
    out = per_task.groupby(level="model").agg(["mean", "count"]).reset_index()
    out = out.rename(columns={"mean": "valid", "count": "n_tasks"})
    # ties (the same weights under two names) in name order, so adding a row never reorders the others
    return out.sort_values(["valid", "model"], ascending=[False, True], kind="stable")


def compare(summary: pd.DataFrame, a: str, b: str) -> dict[str, object]:
    """``a`` vs ``b`` per task and on the suite average over the tasks both have."""
    sa = summary[summary["model"] == a].set_index("task")
    sb = summary[summary["model"] == b].set_index("task")
    common = sorted(set(sa.index) & set(sb.index))
    wins, losses, ties = [], [], []
    for task in common:
        sign = 1.0 if higher_is_better(sa.loc[task, "metric"]) else -1.0
        diff = sign * (sa.loc[task, "mean"] - sb.loc[task, "mean"])
        spread = math.hypot(sa.loc[task, "std"], sb.loc[task, "std"])
        (wins if diff > spread else losses if diff < -spread else ties).append(task)
    mean_a, std_a, n = suite_average(summary, a, common)
    mean_b, std_b, _ = suite_average(summary, b, common)
    # one run a task on both sides (e.g. one HEAR seed): there is no spread to test a difference against
    single = bool(common) and int(sa.loc[common, "n"].max()) <= 1 and int(sb.loc[common, "n"].max()) <= 1
    return {
        "common": common,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "n_avg": n,
        "single": single,
        "avg_a": mean_a,
        "avg_b": mean_b,
        "diff": mean_a - mean_b,
        "spread": math.hypot(std_a, std_b),
    }


def verdict(diff: float, spread: float, single: bool = False) -> str:
    """ "wins" / "loses" only when the difference exceeds the spread; with one run a side, "ahead" / "behind"."""
    if math.isnan(diff):
        return "no common tasks"
    if single:
        return (
            "ahead, one run each (no spread)"
            if diff > 0
            else "behind, one run each (no spread)"
            if diff < 0
            else "equal, one run each"
        )
    if diff > spread:
        return "wins"
    if diff < -spread:
        return "loses"
    return "ties within the spread"


def checkpoint_curves(summary: pd.DataFrame) -> dict[str, list[tuple[int, float, float]]]:
    """Suite average against pretraining step for models named ``<run>@<step>``: run -> [(step, mean, std)]."""
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for model in sorted(set(summary["model"])):
        match = CHECKPOINT_NAME.match(model)
        if match:
            mean, std, _ = suite_average(summary, model)
            curves.setdefault(match["run"], []).append((int(match["step"]), mean, std))
    return {run: sorted(points) for run, points in curves.items()}
