"""Result CSVs and the generated results/README.md on fixture rows with known numbers.

The report's sentences are checked for what they state (models, tasks, numbers in order, verdicts),
not for their wording; tables are checked cell by cell.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cola_eval.models.experiments import Ablation, load_experiments
from cola_eval.protocols.rows import ResultRow, append_rows, read_rows
from cola_eval.report.page import ReportConfig, ReportError, generate_report

EXPERIMENTS = load_experiments(Path(__file__).resolve().parents[2] / "experiments.toml")
RANDOM_STAGE0 = EXPERIMENTS.curve_references["random init, stage-0 read-out (3 seeds)"]


def _config(**changes):
    """The report of the repository's experiments.toml."""
    return ReportConfig.from_experiments(EXPERIMENTS, **changes)


def _row(protocol, task, model, seed, score, metric="top1_acc"):
    return ResultRow(
        protocol=protocol,
        task=task,
        model=model,
        module="cola_hear",
        weights_sha256=f"{model:0<64}"[:64],
        seed=seed,
        fold="test",
        metric=metric,
        score=score,
        primary=True,
        n_train=10,
        n_test=5,
        details="",
        commit="abc",
        command="cola-eval probe",
        date="2026-01-01T00:00:00+00:00",
    )


def _probe_rows():
    scores = {  # (task, metric) -> model -> per-seed scores
        ("task-a", "top1_acc"): {
            "cola": [0.80, 0.90, 0.85],
            "random-init": [0.6] * 3,
            "logmel-stats": [0.90, 0.92, 0.94],
            "cola-cosine": [0.8] * 3,
        },
        ("task-b", "mAP"): {"cola": [0.7] * 3, "random-init": [0.50, 0.52, 0.54], "logmel-stats": [0.71, 0.70, 0.72]},
    }
    rows = [_row("linear_probe", "task-a", "cola", 0, 0.10)]  # an older run, replaced by the re-run below
    for (task, metric), by_model in scores.items():
        for model, values in by_model.items():
            rows += [_row("linear_probe", task, model, s, v, metric) for s, v in enumerate(values)]
    return rows


NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
VERDICT_FORMS = {  # verdict word -> the forms a sentence may use for it
    "wins": ("wins", "win", "won"),
    "loses": ("loses", "lose", "lost"),
    "ties": ("ties", "tie", "tied"),
    "ahead": ("ahead",),
    "behind": ("behind",),
    "equal": ("equal",),
    "inconclusive": ("inconclusive",),
    "same direction": ("same direction",),
    "opposite": ("opposite",),
    "does not beat": ("does not beat", "doesn't beat"),
    "beats": ("beats", "beat"),
}
VERDICT_OF = {form: verdict for verdict, forms in VERDICT_FORMS.items() for form in forms}
VERDICT = re.compile(r"\b(" + "|".join(sorted(map(re.escape, VERDICT_OF), key=len, reverse=True)) + r")\b")


def _section(text: str, heading: str) -> str:
    """The text under ``## heading``, up to the next heading."""
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _bullet(text: str, *needles: str) -> str:
    """The one bullet line (``- ...``) of ``text`` that holds every needle (model names, a protocol's title)."""
    found = [line for line in text.splitlines() if line.startswith("- ") and all(n in line for n in needles)]
    assert len(found) == 1, f"{len(found)} bullet lines hold {needles}: {found}"
    return found[0]


def _cells(text: str, *needles: str) -> list[str]:
    """The cells of the one table row of ``text`` that holds every needle."""
    found = [line for line in text.splitlines() if line.startswith("|") and all(n in line for n in needles)]
    assert len(found) == 1, f"{len(found)} table rows hold {needles}: {found}"
    return [cell.strip() for cell in found[0].strip().strip("|").split("|")]


def _facts(sentence: str) -> dict[str, list[str]]:
    """What a sentence states, whatever its wording: the models it names (in backticks), the tasks, the numbers
    (in order, signs kept) and the verdict words, with the bold (overall) verdict also on its own."""
    plain = re.sub(r"`[^`]*`", " ", sentence)
    return {
        "models": re.findall(r"`([^`]+)`", sentence),
        "tasks": re.findall(r"\btask-\w+", plain),
        "numbers": NUMBER.findall(plain),
        "verdicts": [VERDICT_OF[v] for v in VERDICT.findall(plain)],
        "bold": [VERDICT_OF[v] for bold in re.findall(r"\*\*(.+?)\*\*", sentence) for v in VERDICT.findall(bold)],
    }


def test_facts_of_a_sentence_ignore_its_wording():
    worded = "- `a` vs `b`: wins on 2 task(s) (task-a, task-x), 1,000 steps, 77.5 vs 81.5 (-4.0, x100): **`a` ties**."
    reworded = "- `a` against `b`: won 2 (task-a and task-x) after 1,000 steps; x100 77.5 to 81.5, -4.0 → **tied**"
    expected = {
        "models": ["a", "b", "a"],
        "tasks": ["task-a", "task-x"],
        "numbers": ["2", "1,000", "77.5", "81.5", "-4.0"],
        "verdicts": ["wins", "ties"],
        "bold": ["ties"],
    }
    assert _facts(worded) == expected
    assert _facts(reworded) == {**expected, "models": ["a", "b"]}
    assert _facts(worded.replace("81.5", "81.6")) != expected and _facts(worded.replace("ties", "wins")) != expected


@pytest.fixture
def results_dir(tmp_path):
    append_rows(_probe_rows(), tmp_path)
    append_rows(
        [_row("finetune", "task-a", "cola", s, v) for s, v in enumerate([0.55, 0.56, 0.54])]
        + [_row("finetune", "task-a", "scratch", s, v) for s, v in enumerate([0.50, 0.51, 0.52])],
        tmp_path,
    )
    append_rows(
        [_row("hear", "task-a", "cola", 42, float("nan")), _row("hear", "task-b", "cola", 42, 0.5, "mAP")], tmp_path
    )
    (tmp_path / "pretrain").mkdir()
    log = "step,loss,accuracy\n0,4.8,0.01\n100,3.0,0.2\n200,2.1,0.4\n"  # pretrain's metrics log columns
    (tmp_path / "pretrain" / "cola-default.csv").write_text(log)
    return tmp_path


def test_tables_hold_the_expected_cells(results_dir):
    text = generate_report(_config(results_dir=results_dir)).read_text()
    probe = _section(text, "Linear probe (COLA protocol)")
    # models as rows, the suite average first, then a column per task
    assert "| model | suite average (points) | task-a (top1_acc, x100) | task-b (mAP, x100) |" in probe
    assert _cells(probe, "`cola`", "**")[1:] == ["**77.5 ± 2.5**", "85.0 ± 5.0", "70.0 ± 0.0"]
    assert _cells(probe, "`random-init`", "**")[1:] == ["**56.0 ± 1.0**", "60.0 ± 0.0", "52.0 ± 2.0"]
    assert _cells(probe, "`logmel-stats`", "**")[1:] == ["**81.5 ± 1.1**", "92.0 ± 2.0", "71.0 ± 1.0"]
    assert _cells(probe, "`cola-cosine`", "**")[1:] == ["**80.0 ± 0.0** (1/2 tasks)", "80.0 ± 0.0", "–"]
    # HEAR table: a NaN score is left out of the mean
    assert _cells(_section(text, "HEAR protocol (heareval shallow MLP)"), "`cola`", "**")[1:] == [
        "**50.0** (1/2 tasks)",
        "–",
        "50.0",
    ]
    # the opening table: the models of [report] main_table that have rows, in that order
    main = _section(text, "Main table")
    assert [line.split("|")[1].strip() for line in main.splitlines() if line.startswith("| `")] == [
        f"`{m}`" for m in EXPERIMENTS.main_table if m in {"cola", "random-init", "logmel-stats", "cola-cosine"}
    ]
    assert "![Linear probe, main models](summary.png)" in main


# the paper's ablations with "cola" as the bilinear model, as the fixture rows name it
ABLATIONS = (
    Ablation("bilinear vs cosine similarity", "linear_probe", "cola", "cola-cosine", 7.0),
    Ablation("COLA vs triplet loss", "linear_probe", "cola", "triplet", 20.0),
    *EXPERIMENTS.ablations[2:],
)


def test_text_states_wins_and_losses_from_the_numbers(results_dir):
    assert [(a.better, a.worse) for a in EXPERIMENTS.ablations[:2]] == [
        ("cola-bilinear", "cola-cosine"),
        ("cola-bilinear", "triplet"),
    ]
    text = generate_report(_config(results_dir=results_dir, ablations=ABLATIONS)).read_text()
    # summary: the main model's suite average (mean, spread, tasks)
    assert _facts(_bullet(_section(text, "Summary"), "Linear probe")) == {
        "models": ["cola"],
        "tasks": [],
        "numbers": ["77.5", "2.5", "2"],
        "verdicts": [],
        "bold": [],
    }
    # one comparison row per model: tasks in common, difference, spread, verdict, tasks won / tied / lost
    probe = _section(text, "Linear probe (COLA protocol)")
    assert _cells(probe, "`random-init`", "wins")[1:] == ["2", "+21.5", "2.7", "wins", "2 / 0 / 0"]
    assert _cells(probe, "`logmel-stats`", "loses")[1:] == ["2", "-4.0", "2.7", "loses", "0 / 1 / 1 (lost: task-a)"]
    assert _cells(probe, "`cola-cosine`", "ties")[1:] == ["1", "+5.0", "5.0", "ties within the spread", "0 / 1 / 0"]
    # ablations: protocol, the paper's points, measured difference ± spread (tasks), verdict against the paper
    ablations = _section(text, "Ablations against the paper's claims")
    cosine = _cells(ablations, "`cola`", "`cola-cosine`")
    assert cosine[1:3] == ["linear_probe", "+7.0"] and _facts(cosine[3])["numbers"] == ["+5.0", "5.0", "1"]
    assert _facts(cosine[4])["verdicts"] == ["inconclusive"]
    triplet = _cells(ablations, "`cola`", "`triplet`")
    assert triplet[1:4] == ["linear_probe", "+20.0", "not run"] and _facts(triplet[4])["verdicts"] == []
    scratch = _cells(ablations, "`cola`", "`scratch`")
    assert scratch[1:3] == ["finetune", "+1.2"] and _facts(scratch[3])["numbers"] == ["+4.0", "1.4", "1"]
    assert _facts(scratch[4])["verdicts"] == ["same direction"]


def test_checkpoints_of_a_run_form_a_curve_not_columns(results_dir):
    append_rows(
        [
            _row("linear_probe", task, f"cola@{step}", 0, score, metric)
            for step, score in ((100, 0.3), (200, 0.5))
            for task, metric in (("task-a", "top1_acc"), ("task-b", "mAP"))
        ],
        results_dir,
    )
    text = generate_report(_config(results_dir=results_dir)).read_text()
    assert "| `cola` | 100 | 30.0 ± 0.0 |" in text and "| `cola` | 200 | 50.0 ± 0.0 |" in text
    probe_table = text.split("## Linear probe (COLA protocol)")[1].split("## HEAR")[0]
    assert "cola@" not in probe_table
    assert (results_dir / "probe_vs_steps.png").read_bytes().startswith(b"\x89PNG")


def test_report_is_reproducible_and_draws_the_plots(results_dir):
    first = generate_report(_config(results_dir=results_dir)).read_bytes()
    plots = {p.name: p.read_bytes() for p in results_dir.glob("*.png")}
    assert sorted(plots) == ["finetune.png", "hear.png", "linear_probe.png", "pretraining.png", "summary.png"]
    assert all(data.startswith(b"\x89PNG") for data in plots.values())
    assert generate_report(_config(results_dir=results_dir)).read_bytes() == first
    assert "2026" not in first.decode()  # no dates in the generated text


def test_rows_round_trip_and_a_foreign_csv_is_refused(tmp_path):
    rows = _probe_rows()[:3]
    append_rows(rows, tmp_path)
    assert read_rows(tmp_path / "linear_probe.csv") == rows
    (tmp_path / "hear.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="has columns"):
        append_rows([_row("hear", "t", "m", 0, 0.5)], tmp_path)


def test_model_selection_table_averages_the_recorded_validation_scores(tmp_path):
    rows = []
    for model, valid in (("cola@100", (0.2, 0.4)), ("cola@200", (0.6, 0.8)), ("screen-eq", (0.5, 0.5))):
        for task, value in zip(("task-a", "task-b"), valid, strict=True):
            for seed in (0, 1):
                row = _row("linear_probe", task, model, seed, value / 2 + 0.1 * seed)
                key = "valid_frame_map" if task == "task-b" else "valid_score"
                rows.append(ResultRow(**{**row.__dict__, "details": f"l2=0.01 {key}={value + 0.02 * seed}"}))
    append_rows(rows, tmp_path)
    text = generate_report(_config(results_dir=tmp_path)).read_text()
    selection = text.split("## Model selection on the validation splits")[1]
    # next to it the test average: tasks at 35 +- 7.1 and 45 +- 7.1 (cola@200), 15 and 25 (cola@100)
    assert "| `cola@200` | 71.0 | 40.0 ± 5.0 | 2 |" in selection
    assert "| `cola@100` | 31.0 | 20.0 ± 5.0 | 2 |" in selection
    assert selection.index("cola@200") < selection.index("cola@100")  # best first
    # a screening run is in the selection table, never a column of the result tables or a curve
    probe_table = text.split("## Linear probe (COLA protocol)")[1].split("## HEAR")[0]
    assert "| `screen-eq` | 51.0 |" in selection and "screen-eq" not in probe_table
    assert "screen-eq" not in text.split("## Linear probe against pretraining steps")[-1].split("## Model")[0]


def test_one_run_a_side_reports_ahead_or_behind_not_a_win(results_dir):
    append_rows([_row("hear", "task-b", "logmel-stats", 42, 0.4, "mAP")], results_dir)
    text = generate_report(_config(results_dir=results_dir)).read_text()
    # one run a side: no spread, "ahead" / "behind" / "equal" instead of wins and losses
    assert _facts(_bullet(_section(text, "Summary"), "HEAR protocol"))["numbers"] == ["50.0", "1"]
    hear = _section(text, "HEAR protocol (heareval shallow MLP)")
    assert _cells(hear, "`logmel-stats`", "ahead")[1:] == [
        "1",
        "+10.0",
        "–",
        "ahead, one run each (no spread)",
        "1 / 0 / 0",
    ]


def test_a_name_re_used_for_new_weights_is_refused_until_the_old_rows_are_archived(tmp_path):
    from cola_eval.protocols.rows import archive_superseded
    from cola_eval.report.page import ReportError

    old = ResultRow(**{**_row("linear_probe", "task-a", "cola", 0, 0.1).__dict__, "weights_sha256": "0" * 64})
    append_rows(
        [old, _row("linear_probe", "task-a", "cola", 0, 0.8), _row("linear_probe", "task-a", "x", 0, 0.5)], tmp_path
    )
    with pytest.raises(ReportError, match="`cola` has 2 values of weights_sha256: 000000000000, cola00000000"):
        generate_report(_config(results_dir=tmp_path))
    assert archive_superseded(tmp_path) == {"linear_probe": 1}
    assert read_rows(tmp_path / "archive" / "linear_probe.csv") == [old]  # kept, out of the tables
    assert [r.model for r in read_rows(tmp_path / "linear_probe.csv")] == ["cola", "x"]
    models = generate_report(_config(results_dir=tmp_path)).read_text().split("## Models")[1].split("##")[0]
    assert "| `cola` | linear_probe | `cola_hear` | cola00000000 | – | – |  |" in models
    assert "000000000000" not in models
    assert archive_superseded(tmp_path) == {"linear_probe": 0}  # idempotent


def test_read_outs_precisions_and_task_checksums_must_agree_under_one_name(tmp_path):
    from cola_eval.report.page import ReportError

    def row(task, **changes):
        return ResultRow(**{**_row("linear_probe", task, "cola", 0, 0.5).__dict__, **changes})

    recorded = dict(readout="stage0+stage0.std", precision="bf16", task_sha256="a" * 64)
    append_rows([row("task-a", **recorded), row("task-b")], tmp_path)  # empty: not recorded, no conflict
    models = generate_report(_config(results_dir=tmp_path)).read_text().split("## Models")[1].split("##")[0]
    assert "| `cola` | linear_probe | `cola_hear` | cola00000000 | stage0+stage0.std | bf16 |  |" in models
    for change, what in [
        ({"readout": "final"}, "readout"),
        ({"precision": "fp32"}, "precision"),
        ({"task_sha256": "b" * 64}, "task_sha256 of task-a"),
    ]:
        other = tmp_path / what.replace(" ", "-")
        append_rows([row("task-a", **recorded), row("task-a", **{**recorded, "seed": 1, **change})], other)
        with pytest.raises(ReportError, match=f"`cola` has 2 values of {what}"):
            generate_report(_config(results_dir=other))


def test_rows_from_uncommitted_code_are_refused_or_published_marked(tmp_path):
    from cola_eval.report.page import ReportError

    dirty = ResultRow(**{**_row("linear_probe", "task-a", "cola", 0, 0.5).__dict__, "commit": "abc+dirty"})
    append_rows([dirty, _row("linear_probe", "task-a", "x", 0, 0.4)], tmp_path)
    with pytest.raises(ReportError, match="rows of cola were measured with uncommitted changes"):
        generate_report(_config(results_dir=tmp_path))
    text = generate_report(_config(results_dir=tmp_path, allow_dirty=True)).read_text()
    models = text.split("## Models")[1].split("##")[0]
    assert "| `cola` | linear_probe | `cola_hear` | cola00000000 | – | – | yes |" in models
    assert "| `x` | linear_probe | `cola_hear` | x00000000000 | – | – |  |" in models


def test_a_csv_from_before_the_identity_columns_is_migrated_on_append(tmp_path):
    from cola_eval.protocols.rows import LATER_COLUMNS

    first = _row("linear_probe", "task-a", "cola", 0, 0.5)
    old_columns = [c for c in ResultRow.columns() if c not in LATER_COLUMNS]
    path = tmp_path / "linear_probe.csv"
    path.write_text(",".join(old_columns) + "\n" + ",".join(str(first.__dict__[c]) for c in old_columns) + "\n")
    assert read_rows(path) == [first]  # read as not recorded
    new = ResultRow(**{**first.__dict__, "seed": 1, "readout": "final", "precision": "fp32", "task_sha256": "c" * 64})
    append_rows([new], tmp_path)
    assert path.read_text().splitlines()[0].split(",") == ResultRow.columns()
    assert read_rows(path) == [first, new]
    path.write_text("protocol,task\nlinear_probe,t\n")
    with pytest.raises(ValueError, match="has columns"):
        append_rows([new], tmp_path)


def test_transfer_section_compares_each_pool_with_every_random_init(tmp_path):
    scores = {"insuite": 0.70, "disjoint-cosine-stage0": 0.62, RANDOM_STAGE0[0]: 0.60, RANDOM_STAGE0[1]: 0.58}
    rows = [
        _row("linear_probe", task, model, seed, value + 0.01 * seed)
        for model, value in scores.items()
        for task in ("task-a", "task-b")
        for seed in range(3)
    ]
    append_rows(rows, tmp_path)
    text = generate_report(_config(results_dir=tmp_path)).read_text()
    section = _section(text, "In-domain vs out-of-domain pretraining")
    insuite = _cells(section, "`insuite`")
    # 71 vs 61: +10.0 with spread sqrt(2) * 1.0 / sqrt(2) = 1.0
    assert insuite[2:7] == ["71.0 ± 0.7", "+10.0 ± 1.0 (wins)", "+12.0 ± 1.0 (wins)", "–", "–"]
    assert _facts(insuite[7]) == {"models": [], "tasks": [], "numbers": ["2"], "verdicts": [], "bold": []}
    append_rows(
        [
            _row("linear_probe", t, m, s, 0.625)
            for m in (RANDOM_STAGE0[2], "random-init-stage0-bn")
            for t in ("task-a", "task-b")
            for s in range(3)
        ],
        tmp_path,
    )
    text = generate_report(_config(results_dir=tmp_path)).read_text()
    section = _section(text, "In-domain vs out-of-domain pretraining")
    assert _facts(_cells(section, "`insuite`")[-1])["bold"] == ["beats"]
    disjoint = _cells(section, "`disjoint-cosine-stage0`")
    assert [(_facts(c)["numbers"], _facts(c)["verdicts"]) for c in disjoint[2:7]] == [
        (["63.0", "0.7"], []),
        (["+2.0", "1.0"], ["wins"]),
        (["+4.0", "1.0"], ["wins"]),
        (["+0.5", "0.7"], ["ties"]),
        (["+0.5", "0.7"], ["ties"]),
    ]
    assert _facts(disjoint[7])["verdicts"] == ["does not beat"]
    # one sentence per pool: pool (with its steps), model, suite average ± spread, tasks, verdict
    assert _facts(_bullet(text, "`insuite`")) == {
        "models": ["cola-suite pool --domain suite", "insuite"],
        "tasks": [],
        "numbers": ["1,000", "71.0", "0.7", "2"],
        "verdicts": ["beats"],
        "bold": ["beats"],
    }
    assert _facts(_bullet(text, "`disjoint-cosine-stage0`")) == {
        "models": ["cola-suite pool", "disjoint-cosine-stage0"],
        "tasks": [],
        "numbers": ["1,000", "63.0", "0.7", "2"],
        "verdicts": ["does not beat"],
        "bold": [],
    }
    assert _cells(section, "`disjoint`")[2] == "not run"  # the longer run has no rows here


def test_the_readme_headline_table_is_written_from_the_rows_between_its_markers(results_dir, tmp_path):
    from cola_eval.models.experiments import HeadlineRow
    from cola_eval.report.headline import BEGIN, END

    readme = tmp_path / "MAIN.md"
    readme.write_text(f"# Project\n\nintro\n\n{BEGIN}\n| stale | table |\n{END}\n\nafter\n")
    headline = (
        HeadlineRow("cola", "the shipped weights", "disjoint", bold=True),
        HeadlineRow("cola-cosine", "cosine", "in-domain"),
        HeadlineRow("never-run", "not measured", "none"),
    )
    generate_report(_config(results_dir=results_dir, readme=readme, headline=headline))
    text = readme.read_text()
    assert text.startswith("# Project\n\nintro\n\n" + BEGIN + "\n") and text.endswith(END + "\n\nafter\n")
    assert "stale" not in text
    # cola: tasks 85.0 +- 5.0 and 70.0 +- 0.0 -> 77.5 +- 2.5; HEAR: task-a NaN left out, task-b 50.0 (1 of 2 tasks)
    assert "| **`cola`: the shipped weights** | **disjoint** | **77.5 ± 2.5** | – | **50.0** |" in text
    assert "| `cola-cosine`: cosine | in-domain | 80.0 ± 0.0 (1/2 tasks) | – | – |" in text
    assert "| `never-run`: not measured | none | – | – | – |" in text
    before = text
    generate_report(_config(results_dir=results_dir, readme=readme, headline=headline))
    assert readme.read_text() == before  # the same rows give the same file

    readme.write_text("# no markers\n")
    with pytest.raises(ReportError, match="no headline block"):
        generate_report(_config(results_dir=results_dir, readme=readme, headline=headline))
    assert readme.read_text() == "# no markers\n"


def test_the_repository_readme_shows_the_headline_table_of_its_result_csvs(tmp_path):
    root = Path(__file__).resolve().parents[2]
    results = tmp_path / "results"
    shutil.copytree(root / "results", results, ignore=shutil.ignore_patterns("*.png", "README.md"))
    readme = tmp_path / "README.md"
    shutil.copy(root / "README.md", readme)
    generate_report(_config(results_dir=results, readme=readme))
    assert readme.read_text() == (root / "README.md").read_text(), "run: cola-eval report --readme README.md"


def test_fine_tuning_is_set_against_the_frozen_probe_of_the_same_weights(tmp_path):
    pair = EXPERIMENTS.frozen[0]
    ft = {"task-a": [0.80, 0.82], "task-b": [0.60, 0.62]}  # fine-tuned: ahead on a, behind on b
    frozen = {"task-a": [0.70, 0.72, 0.71], "task-b": [0.70, 0.71, 0.72]}
    rows = [_row("finetune", t, pair.finetuned, s, v) for t, vs in ft.items() for s, v in enumerate(vs)]
    rows += [_row("linear_probe", t, pair.frozen, s, v) for t, vs in frozen.items() for s, v in enumerate(vs)]
    append_rows(rows, tmp_path)
    section = _section(generate_report(_config(results_dir=tmp_path)).read_text(), "Fine-tuning (whole encoder)")
    cells = _cells(section, f"| `{pair.finetuned}` | `{pair.frozen}` |")  # the same name may stand on both sides
    # 71.0 vs 71.0 on average: a tie, one task won and one lost
    assert cells[2:5] == ["2", "71.0", "71.0"]
    assert _facts(cells[6])["verdicts"] == ["ties"]
    assert cells[7].startswith("1 / 0 / 1")
    others = [p for p in EXPERIMENTS.frozen[1:] if p.finetuned != pair.finetuned]
    assert all(_cells(section, f"| `{p.finetuned}` | `{p.frozen}` |")[6] == "not run" for p in others)
