"""Regenerate ``results/README.md`` and its plots from the result CSVs.

Tables show each task's primary metric, mean +- std over seeds/folds; the statistics and
verdicts come from ``cola_eval.report.scores``, the figures from ``cola_eval.report.plots``, the names and comparisons
from ``experiments.toml`` (``ReportConfig.from_experiments``). Every verdict in the text is
computed; nothing date-dependent is written, so the same CSVs give the same files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cola_common.provenance import commit_contains
from cola_eval.models.experiments import (
    Ablation,
    Experiments,
    FrozenComparison,
    HeadlineRow,
    ReadoutComparison,
    Transfer,
)
from cola_eval.protocols.rows import ARCHIVE_DIR, DEFAULT_RESULTS_DIR, IDENTITY_COLUMNS
from cola_eval.report.headline import headline_table, write_headline
from cola_eval.report.plots import plot_checkpoint_curves, plot_pretraining, plot_tasks
from cola_eval.report.scores import (
    CHECKPOINT_NAME,
    ReportError,
    checkpoint_curves,
    compare,
    is_percent,
    load_rows,
    suite_average,
    summarize,
    validation_averages,
    verdict,
)
from cola_hear.atomic import atomic_write_text

__all__ = ["ReportConfig", "ReportError", "generate_report"]

log = logging.getLogger(__name__)

SCREEN_PREFIX = "screen-"  # recipe screening runs: the selection table only, not the result tables
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
    readouts: tuple[ReadoutComparison, ...] = ()  # the learned-vs-control table
    main_table: tuple[str, ...] = ()  # the models of the opening table (at most ten)
    # horizontal lines of the probe-vs-steps plot (their mean when several)
    curve_references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    peers: dict[str, str] = field(default_factory=dict)  # HEAR peer module -> its result name
    pretrain_logs: str = "pretrain/*.csv"  # glob under results_dir; columns step, loss, acc (or accuracy)
    extra_text: dict[str, str] = field(default_factory=dict)
    allow_dirty: bool = False  # publish rows measured with uncommitted code changes (marked), instead of refusing
    headline: tuple[HeadlineRow, ...] = ()  # the main README's results table
    readme: Path | None = None  # where to write that table (between its markers); None: not written
    frozen: tuple[FrozenComparison, ...] = ()  # fine-tuned weights vs their frozen linear probe

    @classmethod
    def from_experiments(cls, experiments: Experiments, **changes: object) -> ReportConfig:
        """The comparisons and names of ``experiments`` (main model, baselines, ablations, transfers, plot
        references, peers), with ``changes`` on top."""
        fields = dict(
            main_model=experiments.main,
            baselines=experiments.baselines,
            ablations=experiments.ablations,
            transfers=experiments.transfers,
            readouts=experiments.readouts,
            main_table=experiments.main_table,
            curve_references=experiments.curve_references,
            peers=experiments.peer_names(),
            headline=experiments.headline,
            frozen=experiments.frozen,
        )
        return cls(**{**fields, **changes})  # type: ignore[arg-type]


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


def model_order(summary: pd.DataFrame, config: ReportConfig) -> list[str]:
    present = sorted(set(summary["model"]))
    first = [m for m in dict.fromkeys((config.main_model, *config.baselines)) if m in present]
    return first + [m for m in present if m not in first]


def _short(task: str) -> str:
    """A task's name without its version and mode suffix ("pitch-v1.0.0-full" -> "pitch")."""
    return task.split("-v")[0] if "-v" in task else task


def results_table(summary: pd.DataFrame, models: list[str]) -> str:
    """Markdown table: one row per model with its suite average, then one column per task."""
    tasks = sorted(set(summary["task"]))
    cells = {(r.task, r.model): r for r in summary.itertuples()}
    metrics = {t: next(cells[(t, m)].metric for m in set(summary["model"]) if (t, m) in cells) for t in tasks}
    rate_tasks = [t for t in tasks if is_percent(metrics[t])]
    head = [f"{_short(t)} ({metrics[t]}{', x100' if is_percent(metrics[t]) else ''})" for t in tasks]
    lines = ["| model | suite average (points) | " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(tasks)]
    for m in models:
        mean, std, n = suite_average(summary, m)
        note = "" if n == len(rate_tasks) else f" ({n}/{len(rate_tasks)} tasks)"
        single = all(cells[(t, m)].n <= 1 for t in tasks if (t, m) in cells)
        spread = "" if single else f" ± {std:.1f}"
        average = "–" if not n else f"**{mean:.1f}{spread}**{note}"
        lines.append(f"| `{m}` | {average} | " + " | ".join(_cell(cells.get((t, m))) for t in tasks) + " |")
    return "\n".join(lines)


def _cell(r: object | None) -> str:
    if r is None or math.isnan(r.mean):  # type: ignore[attr-defined]
        return "–"
    digits = 1 if is_percent(r.metric) else 3  # type: ignore[attr-defined]
    text = f"{r.mean:.{digits}f}"  # type: ignore[attr-defined]
    if r.n > 1:  # type: ignore[attr-defined]
        text += f" ± {r.std:.{digits}f}"  # type: ignore[attr-defined]
    return text


def comparison_table(summary: pd.DataFrame, main: str, others: list[str]) -> str:
    """``main`` against each other model, one row each: suite-average difference over the tasks both have, its
    spread, the verdict, and the tasks won / tied / lost (ahead / equal / behind with one run a side)."""
    lines = [
        f"| `{main}` vs | tasks | difference (points) | spread | verdict | tasks won / tied / lost |",
        "|---|---:|---:|---:|---|---|",
    ]
    for other in others:
        c = compare(summary, main, other)
        if not c["common"]:
            continue
        spread = "–" if c["single"] else f"{c['spread']:.1f}"
        diff = f"{c['diff']:+.1f}" if c["n_avg"] else "–"
        v = verdict(c["diff"], c["spread"], c["single"]) if c["n_avg"] else "no rate tasks in common"
        counts = f"{len(c['wins'])} / {len(c['ties'])} / {len(c['losses'])}"
        lines.append(f"| `{other}` | {c['n_avg']} | {diff} | {spread} | {v} | {counts}{_lost(c['losses'])} |")
    return "\n".join(lines)


def _lost(tasks: list[str]) -> str:
    return f" (lost: {', '.join(_short(t) for t in tasks)})" if tasks else ""


def summary_lines(tables: dict[str, pd.DataFrame], config: ReportConfig) -> list[str]:
    """The main model's suite average per protocol (its comparisons are tables in each protocol's section)."""
    lines = []
    for protocol, title in PROTOCOL_TITLES.items():
        summary = tables[protocol]
        if summary.empty or config.main_model not in set(summary["model"]):
            continue
        mean, std, n = suite_average(summary, config.main_model)
        if n:
            single = int(summary.loc[summary["model"] == config.main_model, "n"].max()) <= 1
            average = f"{mean:.1f}" if single else f"{mean:.1f} ± {std:.1f}"
            lines.append(f"- {title}: `{config.main_model}` suite average {average} over {n} tasks.")
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


def frozen_table(tables: dict[str, pd.DataFrame], pairs: tuple[FrozenComparison, ...]) -> str:
    """Fine-tuned weights against the frozen linear probe of the same weights, per task and on average over the
    tasks both have (fine-tuning should not lose what the frozen encoder already gives)."""
    lines = [
        "| fine-tuned | frozen linear probe | tasks | fine-tuned | frozen | difference | verdict "
        "| tasks won / tied / lost |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for pair in pairs:
        # keyed by protocol, so one name can stand on both sides (a model fine-tuned against its own probe)
        sides = ((tables["finetune"], pair.finetuned, "finetune"), (tables["linear_probe"], pair.frozen, "frozen"))
        parts = [t[t["model"] == name].assign(model=key) for t, name, key in sides if not t.empty]
        both = pd.concat(parts) if parts else pd.DataFrame()
        c = compare(both, "finetune", "frozen") if not both.empty else None
        if not c or not c["n_avg"]:
            lines.append(f"| `{pair.finetuned}` | `{pair.frozen}` | 0 | – | – | – | not run | – |")
            continue
        v = verdict(c["diff"], c["spread"], c["single"])
        counts = f"{len(c['wins'])} / {len(c['ties'])} / {len(c['losses'])}{_lost(c['losses'])}"
        lines.append(
            f"| `{pair.finetuned}` | `{pair.frozen}` | {c['n_avg']} | {c['avg_a']:.1f} | {c['avg_b']:.1f} "
            f"| {c['diff']:+.1f} ± {c['spread']:.1f} | {v} | {counts} |"
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


def main_table_section(summary: pd.DataFrame, config: ReportConfig, out_dir: Path) -> list[str]:
    """The report's opening: the linear probe of the few models that matter (``[report] main_table``), models
    as rows and tasks as columns, and its plot."""
    models = [m for m in config.main_table if not summary.empty and m in set(summary["model"])]
    if not models:
        return []
    title = "Linear probe, main models"
    png = plot_tasks(summary, models, out_dir / "summary.png", title)
    return [
        "",
        "## Main table",
        "",
        f"Linear probe (COLA protocol), the shipped weights `{config.main_model}` against the strongest controls, "
        "the baselines and peers; every other model, the HEAR protocol and fine-tuning follow below.",
        "",
        results_table(summary, models),
        "",
        f"![{title}]({png.name})",
    ]


def control_average(
    summary: pd.DataFrame, controls: tuple[str, ...], tasks: list[str] | None = None
) -> tuple[float, float, int]:
    """The control's suite average (over ``tasks``, default all) over its seeds, its spread (the spread of the
    seeds' averages combined with the mean probe spread) and the number of seeds measured."""
    averages = [suite_average(summary, c, tasks) for c in controls]
    measured = [(m, s) for m, s, n in averages if n]
    if not measured:
        return math.nan, math.nan, 0
    means = np.array([m for m, _ in measured])
    seed_spread = float(means.std(ddof=1)) if len(means) > 1 else 0.0
    return float(means.mean()), math.hypot(seed_spread, float(np.mean([s for _, s in measured]))), len(measured)


def readout_table(
    summary: pd.DataFrame, valid: pd.DataFrame, comparisons: tuple[ReadoutComparison, ...]
) -> tuple[str, list[str]]:
    """Learned weights vs the no-learning control at each read-out (test suite averages; the learned side's
    validation average beside them, on which a read-out is chosen), and the summary sentence: the learned
    read-out chosen on validation against the strongest control at any read-out."""
    lines = [
        "| read-out | learned | valid | control (seeds) | learned − control | verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    valid_of = dict(zip(valid["model"], valid["valid"], strict=True)) if not valid.empty else {}
    full = summary["task"][summary["metric"].map(is_percent)].nunique() if not summary.empty else 0
    chosen, strongest = None, None
    for r in comparisons:
        measured = [m for m in r.learned if not summary.empty and suite_average(summary, m)[2]]
        name = measured[0] if measured else r.learned[0]
        # the control is shown at every read-out, also where the learned weights were not read out that way
        tasks = _common_tasks(summary, [name, *r.controls] if measured else list(r.controls))
        mean, std, n = suite_average(summary, name, tasks) if measured else (math.nan, math.nan, 0)
        cmean, cstd, seeds = control_average(summary, r.controls, tasks) if tasks else (math.nan, math.nan, 0)
        learned = f"`{name}` {mean:.1f} ± {std:.1f}" if n else f"`{name}` not run"
        learned += f" ({n} of {full} tasks)" if n and n < full else ""
        control = f"{cmean:.1f} ± {cstd:.1f} ({seeds})" if seeds else "not run"
        diff, spread = mean - cmean, math.hypot(std, cstd)
        v = verdict(diff, spread) if n and seeds else "needs rows"
        cells = f"{diff:+.1f} ± {spread:.1f}" if n and seeds else "–"
        v_learned = valid_of.get(name, math.nan)
        valid_cell = "–" if math.isnan(v_learned) else f"{v_learned:.1f}"
        lines.append(f"| {r.readout} | {learned} | {valid_cell} | {control} | {cells} | {v} |")
        if n and not math.isnan(v_learned) and (chosen is None or v_learned > chosen[3]):
            chosen = (r, name, (mean, std), v_learned)
        if seeds and (strongest is None or cmean > strongest[1][0]):
            strongest = (r, (cmean, cstd), seeds)
    sentences = []
    if chosen and strongest:
        (r, name, (mean, std), v_learned), (rc, (cmean, cstd), seeds) = chosen, strongest
        v = verdict(mean - cmean, math.hypot(std, cstd))
        sentences.append(
            f"- Learned vs the strongest no-learning control: the learned read-out chosen on validation "
            f"({r.readout}, `{name}`, valid {v_learned:.1f}) scores {mean:.1f} ± {std:.1f} on test; the "
            f"strongest control at any read-out ({rc.readout}, {seeds} seeds) {cmean:.1f} ± {cstd:.1f}: "
            f"{mean - cmean:+.1f} ± {math.hypot(std, cstd):.1f}, **learned {v}**."
        )
    return "\n".join(lines), sentences


def _common_tasks(summary: pd.DataFrame, models: list[str]) -> list[str]:
    """Tasks that every one of ``models`` that has rows was measured on."""
    present = [set(summary.loc[summary["model"] == m, "task"]) for m in models]
    present = [tasks for tasks in present if tasks]
    return sorted(set.intersection(*present)) if present else []


def models_table(rows: dict[str, pd.DataFrame]) -> str:
    """What each model name in the tables stands for, per protocol: module, weights checksum, read-out and
    precision (as recorded; "–" where rows predate those columns). A name whose weights differ between
    protocols is flagged, and rows measured with uncommitted changes are marked."""
    entries: dict[str, dict[str, tuple[str, ...]]] = {}
    for protocol, df in rows.items():
        for model, group in df.groupby("model", sort=True) if not df.empty else ():
            values = tuple(", ".join(sorted({str(v) for v in group[c] if str(v)})) or "–" for c in IDENTITY_COLUMNS)
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


def generate_report(config: ReportConfig | None = None) -> Path:
    """Write ``README.md`` and the PNG plots into ``config.results_dir``, and the headline table into
    ``config.readme`` when set; returns the results README's path."""
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
    valid = validation_averages(all_rows["linear_probe"])
    readout_md, readout_lines = readout_table(tables["linear_probe"], valid, config.readouts)
    md = [
        "# Results",
        "",
        "Generated by `cola-eval report` from the CSV files in this folder (one row per task, model, "
        "seed or fold, metric); do not edit by hand. Scores are each task's primary metric, mean ± std over "
        "seeds (train/valid/test tasks) or folds (k-fold tasks), in points for rates. The suite average is "
        "the mean over tasks with its propagated spread; a model *wins* a comparison when it is ahead by more "
        "than the combined spread.",
        *main_table_section(tables["linear_probe"], config, out_dir),
        "",
        "## Summary",
        "",
        *readout_lines,
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
            md.append(comparison_table(summary, main, [m for m in models if m != main]))
        else:
            md.append(f"(no rows for the main model `{config.main_model}` yet)")
        if protocol == "finetune" and config.frozen:
            md += ["", "Fine-tuned against the frozen linear probe of the same weights and read-out:", ""]
            md.append(frozen_table(tables, config.frozen))
    if config.readouts:
        md += [
            "",
            "## Learned vs the no-learning control, by read-out",
            "",
            "The shipped weights read out in several ways, against the same network at random initialisation "
            "with only its BatchNorm statistics taken from the same pool (`cola-pretrain calibrate`, no weight "
            "change), read out the same way, for several initialisation seeds. Linear probe, test suite "
            "averages; *valid* is the learned weights' validation average, on which a read-out is chosen. The "
            "control's spread combines the spread of its seeds' averages with the probe spread.",
            "",
            readout_md,
        ]
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
    if config.readme is not None:
        if not config.headline:
            raise ReportError(f"no [[report.headline]] rows to write into {config.readme}")
        log.info("wrote %s", write_headline(config.readme, headline_table(all_tables, valid, config.headline)))
    return readme
