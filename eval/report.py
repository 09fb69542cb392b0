"""Regenerate ``results/README.md`` and its plots from the result CSVs.

Tables show each task's primary metric, mean +- std over seeds/folds, in points
(percent) where the metric is a rate. The suite average is the mean over tasks;
its +- is the propagated spread, sqrt(sum of per-task variances) / n_tasks. A
model "wins" a comparison when its mean is higher by more than the combined
spread sqrt(std_a^2 + std_b^2); every verdict in the text is computed here.
Nothing date-dependent is written, so the same CSVs give the same files.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cola_hear.atomic import atomic_write_text
from cola_hear.provenance import commit_contains
from eval.experiments import Ablation, Experiments, Transfer
from eval.metrics import higher_is_better
from eval.results import (
    ARCHIVE_DIR,
    DEFAULT_RESULTS_DIR,
    ResultRow,
    csv_path,
    dirty_rows,
    identity_conflicts,
    read_rows,
)

log = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"^(?P<run>.+)@(?P<step>\d+)$")  # "cola@2000": run "cola" after 2000 steps
SCREEN_PREFIX = "screen-"  # recipe screening runs: the selection table only, not the result tables
PERCENT_METRICS = ("top1_acc", "pitch_acc", "chroma_acc", "mAP", "aucroc")
PROTOCOL_TITLES = {
    "linear_probe": "Linear probe (COLA protocol)",
    "hear": "HEAR protocol (heareval shallow MLP)",
    "finetune": "Fine-tuning (whole encoder)",
}


@dataclass(frozen=True)
class ReportConfig:
    """What the report shows beside the tables; ``from_experiments`` fills it from ``experiments.toml``."""

    results_dir: Path = DEFAULT_RESULTS_DIR
    main_model: str = "cola"
    baselines: tuple[str, ...] = ()  # columns next to the main model, in this order
    ablations: tuple[Ablation, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    # horizontal lines of the probe-vs-steps plot (their mean when several)
    curve_references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    peers: dict[str, str] = field(default_factory=dict)  # HEAR peer module -> its result name
    pretrain_logs: str = "pretrain/*.csv"  # glob under results_dir; columns step, loss, acc (or accuracy)
    extra_text: dict[str, str] = field(default_factory=dict)
    allow_dirty: bool = False  # publish rows measured with uncommitted code changes (marked), instead of refusing

    @classmethod
    def from_experiments(cls, experiments: Experiments, **changes: object) -> ReportConfig:
        """The comparisons and names of ``experiments`` (main model, baselines, ablations, transfers, plot
        references, peers), with ``changes`` on top."""
        fields = dict(
            main_model=experiments.main,
            baselines=experiments.baselines,
            ablations=experiments.ablations,
            transfers=experiments.transfers,
            curve_references=experiments.curve_references,
            peers=experiments.peer_names(),
        )
        return cls(**{**fields, **changes})  # type: ignore[arg-type]


class ReportError(ValueError):
    """The result files cannot be published as they are (mixed identities under one name, dirty rows)."""


# Since this commit, timestamp embeddings of cola_hear stage read-outs pool shared full-length passes instead of
# one encoder pass per window (README, Performance); event-task rows from before it are marked in the tables.
SHARED_STAGE_PATH_COMMIT = "fd35d945e76f429b36581f6baffa3ff5f3fe989f"


def event_path_note(rows: pd.DataFrame, models: list[str]) -> list[str]:
    """A note naming the cola_hear models among ``models`` whose event-task rows predate the shared stage path."""
    if rows.empty:
        return []
    events = rows[
        rows["metric"].astype(str).str.startswith("event_")
        & (rows["module"] == "cola_hear")
        & rows["model"].isin(models)
    ]
    before = {c: commit_contains(c, SHARED_STAGE_PATH_COMMIT) is False for c in set(events["commit"].astype(str))}
    older = sorted({r.model for r in events.itertuples() if before[str(r.commit)]})
    if not older:
        return []
    return [
        "",
        f"Event-task cells of {', '.join(f'`{m}`' for m in older)} were measured before commit "
        f"{SHARED_STAGE_PATH_COMMIT[:7]}: for a stage read-out they come from one encoder pass per timestamp "
        "window (now: windows pooled from shared passes; README, Performance). Final-layer read-outs are "
        "computed as before.",
    ]


LEADERBOARD_CSV = "hear2021_leaderboard.csv"  # peers' published HEAR 2021 scores, cited row by row


def leaderboard_section(
    results_dir: Path, summary: pd.DataFrame, peers: dict[str, str], main: str = "cola"
) -> list[str]:
    """The peers' published HEAR 2021 scores next to the nearest suite task and the peer's probe score here
    (``peers``: module -> result name)."""
    path = results_dir / LEADERBOARD_CSV
    if not path.exists():
        return []
    published = pd.read_csv(path)
    md = [
        "",
        "## Peers' published HEAR 2021 scores (context)",
        "",
        "Scores from the HEAR 2021 leaderboard data (source column), under HEAR's own protocol (a shallow MLP) "
        "on HEAR's datasets. Our tasks are built from other recordings, so these numbers are context for the "
        "peers' rows, not a comparison with them.",
        "",
        f"| peer | HEAR 2021 task | published | nearest suite task | this peer here (linear probe) | `{main}` here |",
        "|---|---|---:|---|---:|---:|",
    ]
    for r in published.itertuples():
        here = {}
        for model in (r.module, main):
            rows = summary[
                (summary["model"].astype(str) == peers.get(model, model))
                & summary["task"].astype(str).str.startswith(f"{r.nearest_suite_task}-")
            ]
            here[model] = f"{rows['mean'].iloc[0]:.1f}" if len(rows) else "not measured yet"
        md.append(
            f"| {r.peer} | {r.hear_task} ({r.metric}) | {100 * r.score:.1f} | {r.nearest_suite_task} | "
            f"{here[r.module]} | {here[main]} |"
        )
    md += ["", f"Sources: {'; '.join(sorted(set(published['source'])))}."]
    return md


def is_percent(metric: str) -> bool:
    return metric in PERCENT_METRICS or metric.endswith("_fms")


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
    return out.rename(columns={"mean": "valid", "count": "n_tasks"}).sort_values("valid", ascending=False)


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


def model_order(summary: pd.DataFrame, config: ReportConfig) -> list[str]:
    present = sorted(set(summary["model"]))
    first = [m for m in dict.fromkeys((config.main_model, *config.baselines)) if m in present]
    return first + [m for m in present if m not in first]


def results_table(summary: pd.DataFrame, models: list[str]) -> str:
    """Markdown table: one row per task, one column per model, plus the suite average."""
    tasks = sorted(set(summary["task"]))
    cells = {(r.task, r.model): r for r in summary.itertuples()}
    lines = ["| task | metric | " + " | ".join(f"`{m}`" for m in models) + " |", "|---|---|" + "---:|" * len(models)]
    for task in tasks:
        metric = next(cells[(task, m)].metric for m in models if (task, m) in cells)
        row = [_cell(cells.get((task, m))) for m in models]
        lines.append(f"| {task} | {metric}{' (x100)' if is_percent(metric) else ''} | " + " | ".join(row) + " |")
    rate_tasks = [t for t in tasks if is_percent(next(cells[(t, m)].metric for m in models if (t, m) in cells))]
    averages = []
    for m in models:
        mean, std, n = suite_average(summary, m)
        note = "" if n == len(rate_tasks) else f" ({n}/{len(rate_tasks)} tasks)"
        single = all(cells[(t, m)].n <= 1 for t in tasks if (t, m) in cells)
        spread = "" if single else f" ± {std:.1f}"
        averages.append("–" if not n else f"**{mean:.1f}{spread}**{note}")
    lines.append("| **suite average** | points | " + " | ".join(averages) + " |")
    return "\n".join(lines)


def _cell(r: object | None) -> str:
    if r is None or math.isnan(r.mean):  # type: ignore[attr-defined]
        return "–"
    digits = 1 if is_percent(r.metric) else 3  # type: ignore[attr-defined]
    text = f"{r.mean:.{digits}f}"  # type: ignore[attr-defined]
    if r.n > 1:  # type: ignore[attr-defined]
        text += f" ± {r.std:.{digits}f}"  # type: ignore[attr-defined]
    return text


def wins_losses_text(summary: pd.DataFrame, main: str, others: list[str]) -> list[str]:
    """One plain sentence per comparison of ``main`` against another model, computed from the table."""
    lines = []
    for other in others:
        c = compare(summary, main, other)
        if not c["common"]:
            continue
        parts = [f"`{main}` vs `{other}`: "]
        if c["single"]:
            parts.append(f"ahead on {len(c['wins'])} task(s){_names(c['wins'])}, ")
            parts.append(f"behind on {len(c['losses'])}{_names(c['losses'])}, ")
            parts.append(f"equal on {len(c['ties'])}{_names(c['ties'])} (one run a task: no seed spread).")
        else:
            parts.append(f"wins on {len(c['wins'])} task(s){_names(c['wins'])}, ")
            parts.append(f"loses on {len(c['losses'])}{_names(c['losses'])}, ")
            parts.append(f"ties within the seed spread on {len(c['ties'])}{_names(c['ties'])}.")
        if c["n_avg"]:
            spread = "" if c["single"] else f", spread {c['spread']:.1f}"
            parts.append(
                f" Suite average over {c['n_avg']} common task(s): {c['avg_a']:.1f} vs {c['avg_b']:.1f} "
                f"({c['diff']:+.1f} points{spread}): **`{main}` {verdict(c['diff'], c['spread'], c['single'])}**."
            )
        lines.append("- " + "".join(parts))
    return lines


def summary_lines(tables: dict[str, pd.DataFrame], config: ReportConfig) -> list[str]:
    """Suite-average verdicts of the main model against the baselines, per protocol."""
    lines = []
    for protocol, title in PROTOCOL_TITLES.items():
        summary = tables[protocol]
        if summary.empty or config.main_model not in set(summary["model"]):
            continue
        mean, std, n = suite_average(summary, config.main_model)
        parts = []
        for other in [m for m in model_order(summary, config) if m != config.main_model]:
            c = compare(summary, config.main_model, other)
            if c["n_avg"]:
                spread = "" if c["single"] else f"spread {c['spread']:.1f}, "
                parts.append(
                    f"vs `{other}` {c['diff']:+.1f} ({spread}{c['n_avg']} tasks): "
                    f"{verdict(c['diff'], c['spread'], c['single'])}"
                )
        if n:
            single = int(summary.loc[summary["model"] == config.main_model, "n"].max()) <= 1
            average = f"{mean:.1f}" if single else f"{mean:.1f} ± {std:.1f}"
            lines.append(
                f"- {title}: `{config.main_model}` suite average {average} over {n} tasks; "
                + ("; ".join(parts) if parts else "no other model yet")
                + "."
            )
    return lines or ["- No results for the main model yet."]


def ablation_table(tables: dict[str, pd.DataFrame], ablations: tuple[Ablation, ...]) -> str:
    lines = ["| comparison | protocol | paper | measured (suite average) | verdict |", "|---|---|---:|---:|---|"]
    for ab in ablations:
        summary = tables.get(ab.protocol)
        c = compare(summary, ab.better, ab.worse) if summary is not None and not summary.empty else None
        if not c or not c["n_avg"]:
            measured, result = "not run", f"needs rows for `{ab.better}` and `{ab.worse}`"
        else:
            spread = "" if c["single"] else f" ± {c['spread']:.1f}"
            measured = f"{c['diff']:+.1f}{spread} ({c['n_avg']} tasks)"
            v = verdict(c["diff"], c["spread"], c["single"])
            result = {"wins": "same direction as the paper", "loses": "opposite of the paper"}.get(
                v,
                f"{v.split(',')[0]} of `{ab.worse}`, one run each (no spread)"
                if c["single"]
                else "inconclusive (within the spread)",
            )
        lines.append(
            f"| `{ab.better}` vs `{ab.worse}` ({ab.title}) | {ab.protocol} | +{ab.paper_points:.1f} "
            f"| {measured} | {result} |"
        )
    return "\n".join(lines)


def transfer_table(summary: pd.DataFrame, transfers: tuple[Transfer, ...]) -> tuple[str, list[str]]:
    """The in- vs out-of-domain table (test suite averages, differences to each random init with their spread)
    and one summary sentence per pool."""
    randoms = list(dict.fromkeys(r for t in transfers for r in t.randoms))
    lines = [
        "| pretraining pool | model | suite average | " + " | ".join(f"vs `{r}`" for r in randoms) + " | verdict |",
        "|---|---|---:|" + "---:|" * len(randoms) + "---|",
    ]
    sentences = []
    for t in transfers:
        mean, std, n = suite_average(summary, t.model) if not summary.empty else (math.nan, math.nan, 0)
        if not n:
            lines.append(f"| {t.pool} | `{t.model}` | not run |" + " |" * len(randoms) + " needs rows |")
            continue
        cells, verdicts = [], []
        for r in randoms:
            c = compare(summary, t.model, r) if r in t.randoms else None
            if not c or not c["n_avg"]:
                cells.append("–")
                continue
            v = verdict(c["diff"], c["spread"], c["single"])
            verdicts.append(v)
            cells.append(f"{c['diff']:+.1f} ± {c['spread']:.1f} ({v})")
        missing = len(t.randoms) - len(verdicts)
        if missing:
            overall = f"{missing} random init(s) not run"
        elif all(v == "wins" for v in verdicts):
            overall = "**beats every random init by more than the spread**"
        elif any(v == "loses" for v in verdicts):
            overall = "loses to a random init"
        else:
            overall = "does not beat every random init by more than the spread"
        lines.append(f"| {t.pool} | `{t.model}` | {mean:.1f} ± {std:.1f} | " + " | ".join(cells) + f" | {overall} |")
        sentences.append(f"- Pretrained on {t.pool}: `{t.model}` {mean:.1f} ± {std:.1f} over {n} tasks; {overall}.")
    return "\n".join(lines), sentences


def models_table(rows: dict[str, pd.DataFrame]) -> str:
    """What each model name in the tables stands for, per protocol: module, weights checksum, read-out and
    precision (as recorded; "–" where rows predate those columns). A name whose weights differ between
    protocols is flagged, and rows measured with uncommitted changes are marked."""
    entries: dict[str, dict[str, tuple[str, ...]]] = {}
    for protocol, df in rows.items():
        for model, group in df.groupby("model", sort=True) if not df.empty else ():
            values = tuple(
                ", ".join(sorted({str(v) for v in group[c] if str(v)})) or "–"
                for c in ("module", "weights_sha256", "readout", "precision")
            )
            dirty = bool(group["commit"].astype(str).str.endswith("+dirty").any())
            entries.setdefault(str(model), {})[protocol] = (*values, "yes" if dirty else "")
    lines = [
        "| model | protocol | module | weights sha256 (first 12) | read-out | precision | uncommitted code |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in sorted(entries):
        sums = {v[1] for v in entries[model].values()}
        flag = " (other weights per protocol)" if len(sums) > 1 else ""
        for protocol, (module, sha, readout, precision, dirty) in entries[model].items():
            lines.append(
                f"| `{model}`{flag} | {protocol} | `{module}` | {sha[:12]} | {readout} | {precision} | {dirty} |"
            )
    return "\n".join(lines)


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


def checkpoint_curves(summary: pd.DataFrame) -> dict[str, list[tuple[int, float, float]]]:
    """Suite average against pretraining step for models named ``<run>@<step>``: run -> [(step, mean, std)]."""
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for model in sorted(set(summary["model"])):
        match = CHECKPOINT_NAME.match(model)
        if match:
            mean, std, _ = suite_average(summary, model)
            curves.setdefault(match["run"], []).append((int(match["step"]), mean, std))
    return {run: sorted(points) for run, points in curves.items()}


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


def generate_report(config: ReportConfig | None = None) -> Path:
    """Write ``README.md`` and the PNG plots into ``config.results_dir``; returns the README path."""
    config = config or ReportConfig()
    out_dir = Path(config.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_rows = {p: load_rows(out_dir, p, config.allow_dirty) for p in PROTOCOL_TITLES}
    all_tables = {p: summarize(rows) for p, rows in all_rows.items()}
    # checkpoints of a run ("cola@2000") get their own curve, screening runs the selection table: not columns
    tables = {
        p: t[
            ~t["model"].astype(str).str.match(CHECKPOINT_NAME.pattern)
            & ~t["model"].astype(str).str.startswith(SCREEN_PREFIX)
        ]
        if not t.empty
        else t
        for p, t in all_tables.items()
    }
    transfer_md, transfer_lines = transfer_table(tables["linear_probe"], config.transfers)
    md = [
        "# Results",
        "",
        "Generated by `cola-eval report` from the CSV files in this folder (one row per task, model, "
        "seed or fold, metric); do not edit by hand. Scores are each task's primary metric, mean ± std over "
        "seeds (train/valid/test tasks) or folds (k-fold tasks), in points for rates. The suite average is "
        "the mean over tasks with its propagated spread; a model *wins* a comparison when it is ahead by more "
        "than the combined spread.",
        "",
        "## Summary",
        "",
        *summary_lines(tables, config),
        *transfer_lines,
        "",
        "## Models",
        "",
        "What each name stands for (rows of earlier weights under a re-used name are moved to "
        f"`{ARCHIVE_DIR}/` and not shown):",
        "",
        models_table(all_rows),
    ]
    for protocol, title in PROTOCOL_TITLES.items():
        summary = tables[protocol]
        md += ["", f"## {title}", ""]
        if config.extra_text.get(protocol):
            md += [config.extra_text[protocol], ""]
        if summary.empty:
            md.append(f"No rows yet in `{protocol}.csv`.")
            continue
        models = model_order(summary, config)
        md.append(results_table(summary, models))
        md += event_path_note(all_rows[protocol], models)
        png = plot_tasks(summary, models, out_dir / f"{protocol}.png", title)
        md += ["", f"![{title}]({png.name})", ""]
        main = config.main_model if config.main_model in models else None
        if main:
            md += wins_losses_text(summary, main, [m for m in models if m != main])
        else:
            md.append(f"(no rows for the main model `{config.main_model}` yet)")
    md += ["", "## In-domain vs out-of-domain pretraining", ""]
    if config.extra_text.get("transfer"):
        md += [config.extra_text["transfer"], ""]
    md.append(transfer_md)
    md += ["", "## Ablations against the paper's claims", "", ablation_table(tables, config.ablations)]
    md += leaderboard_section(out_dir, tables["linear_probe"], config.peers, config.main_model)
    probe_rows = all_tables["linear_probe"]
    curves = (
        checkpoint_curves(probe_rows[~probe_rows["model"].astype(str).str.startswith(SCREEN_PREFIX)])
        if not probe_rows.empty
        else {}
    )
    if curves:
        references = {}
        for label, models in config.curve_references.items():
            values = [suite_average(tables["linear_probe"], m)[0] for m in models]
            if values and not any(math.isnan(v) for v in values):
                references[label] = float(np.mean(values))
        png = plot_checkpoint_curves(curves, references, out_dir / "probe_vs_steps.png")
        md += ["", "## Linear probe against pretraining steps", "", "| run | step | suite average |", "|---|---:|---:|"]
        md += [
            f"| `{run}` | {step} | {mean:.1f} ± {std:.1f} |"
            for run, points in curves.items()
            for step, mean, std in points
        ]
        md += ["", f"![linear probe against pretraining steps]({png.name})"]
    valid = validation_averages(all_rows["linear_probe"])
    if not valid.empty:
        md += [
            "",
            "## Model selection on the validation splits",
            "",
            "The linear probe's validation score (accuracy, or mean average precision where the task's metric "
            "is not an accuracy; frame mAP on event tasks), averaged over seeds and then tasks. The shipped "
            "weights are chosen on this column; test scores play no part.",
            "",
            "| model | validation average (points) | test average (points) | tasks |",
            "|---|---:|---:|---:|",
        ]
        for r in valid.itertuples():
            test, std, _ = suite_average(all_tables["linear_probe"], r.model)
            md.append(f"| `{r.model}` | {r.valid:.1f} | {test:.1f} ± {std:.1f} | {r.n_tasks} |")
    logs = sorted(out_dir.glob(config.pretrain_logs))
    png = plot_pretraining(logs, out_dir / "pretraining.png") if logs else None
    md += ["", "## Pretraining curve", ""]
    md.append(
        f"![pretraining loss and accuracy]({png.name})"
        if png
        else f"No pretraining log yet (`{config.pretrain_logs}` with columns step, loss, acc)."
    )
    readme = atomic_write_text(out_dir / "README.md", "\n".join(md) + "\n")
    log.info("wrote %s", readme)
    return readme


def _names(tasks: list[str], limit: int = 8) -> str:
    if not tasks:
        return ""
    shown = ", ".join(tasks[:limit]) + (f" and {len(tasks) - limit} more" if len(tasks) > limit else "")
    return f" ({shown})"


def _save_figure(fig, path: Path) -> None:
    """Write a figure as PNG without a software/date stamp (reproducible bytes) and free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
