"""Result CSVs and the generated results/README.md on fixture rows with known numbers."""

from __future__ import annotations

import pytest

from eval.report import DEFAULT_ABLATIONS, Ablation, ReportConfig, generate_report
from eval.results import ResultRow, append_rows, read_rows


def _row(protocol, task, model, seed, score, metric="top1_acc"):
    return ResultRow(
        protocol=protocol, task=task, model=model, module="cola_hear", weights_sha256=f"{model:0<64}"[:64],
        seed=seed, fold="test", metric=metric, score=score, primary=True, n_train=10, n_test=5, details="",
        commit="abc", command="cola-eval probe", date="2026-01-01T00:00:00+00:00",
    )


def _probe_rows():
    scores = {  # (task, metric) -> model -> per-seed scores
        ("task-a", "top1_acc"): {"cola": [0.80, 0.90, 0.85], "random-init": [0.6] * 3,
                                 "logmel-stats": [0.90, 0.92, 0.94], "cola-cosine": [0.8] * 3},
        ("task-b", "mAP"): {"cola": [0.7] * 3, "random-init": [0.50, 0.52, 0.54], "logmel-stats": [0.71, 0.70, 0.72]},
    }
    rows = [_row("linear_probe", "task-a", "cola", 0, 0.10)]  # an older run, replaced by the re-run below
    for (task, metric), by_model in scores.items():
        for model, values in by_model.items():
            rows += [_row("linear_probe", task, model, s, v, metric) for s, v in enumerate(values)]
    return rows


@pytest.fixture
def results_dir(tmp_path):
    append_rows(_probe_rows(), tmp_path)
    append_rows([_row("finetune", "task-a", "cola", s, v) for s, v in enumerate([0.55, 0.56, 0.54])]
                + [_row("finetune", "task-a", "scratch", s, v) for s, v in enumerate([0.50, 0.51, 0.52])], tmp_path)
    append_rows([_row("hear", "task-a", "cola", 42, float("nan")), _row("hear", "task-b", "cola", 42, 0.5, "mAP")],
                tmp_path)
    (tmp_path / "pretrain").mkdir()
    log = "step,loss,accuracy\n0,4.8,0.01\n100,3.0,0.2\n200,2.1,0.4\n"  # pretrain's metrics log columns
    (tmp_path / "pretrain" / "cola-default.csv").write_text(log)
    return tmp_path


def test_tables_hold_the_expected_cells(results_dir):
    text = generate_report(ReportConfig(results_dir=results_dir)).read_text()
    assert "| task | metric | `cola` | `random-init` | `logmel-stats` | `cola-cosine` |" in text
    assert "| task-a | top1_acc (x100) | 85.0 ± 5.0 | 60.0 ± 0.0 | 92.0 ± 2.0 | 80.0 ± 0.0 |" in text
    assert "| task-b | mAP (x100) | 70.0 ± 0.0 | 52.0 ± 2.0 | 71.0 ± 1.0 | – |" in text
    assert ("| **suite average** | points | **77.5 ± 2.5** | **56.0 ± 1.0** | **81.5 ± 1.1** "
            "| **80.0 ± 0.0** (1/2 tasks) |") in text
    # HEAR table: a NaN score is left out of the mean
    assert "| task-b | mAP (x100) | 50.0 |" in text and "| task-a | top1_acc (x100) | – |" in text


# the paper's ablations with "cola" as the bilinear model, as the fixture rows name it
ABLATIONS = (
    Ablation("bilinear vs cosine similarity", "linear_probe", "cola", "cola-cosine", 7.0),
    Ablation("COLA vs triplet loss", "linear_probe", "cola", "triplet", 20.0),
    *DEFAULT_ABLATIONS[2:],
)


def test_text_states_wins_and_losses_from_the_numbers(results_dir):
    assert [(a.better, a.worse) for a in DEFAULT_ABLATIONS[:2]] == [("cola-bilinear", "cola-cosine"),
                                                                      ("cola-bilinear", "triplet")]
    text = generate_report(ReportConfig(results_dir=results_dir, ablations=ABLATIONS)).read_text()
    assert ("- Linear probe (COLA protocol): `cola` suite average 77.5 ± 2.5 over 2 tasks; vs `random-init` +21.5 "
            "(spread 2.7, 2 tasks): wins; vs `logmel-stats` -4.0 (spread 2.7, 2 tasks): loses; vs `cola-cosine` +5.0 "
            "(spread 5.0, 1 tasks): ties within the spread.") in text
    assert ("- `cola` vs `random-init`: wins on 2 task(s) (task-a, task-b), loses on 0, ties within the seed spread "
            "on 0. Suite average over 2 common task(s): 77.5 vs 56.0 (+21.5 points, spread 2.7): "
            "**`cola` wins**.") in text
    assert ("- `cola` vs `logmel-stats`: wins on 0 task(s), loses on 1 (task-a), ties within the seed spread on 1 "
            "(task-b). Suite average over 2 common task(s): 77.5 vs 81.5 (-4.0 points, spread 2.7): "
            "**`cola` loses**.") in text
    assert ("| `cola` vs `cola-cosine` (bilinear vs cosine similarity) | linear_probe | +7.0 | +5.0 ± 5.0 (1 tasks) "
            "| inconclusive (within the spread) |") in text
    assert "| `cola` vs `triplet` (COLA vs triplet loss) | linear_probe | +20.0 | not run |" in text
    assert ("| `cola` vs `scratch` (fine-tuning: COLA-pretrained vs from scratch) | finetune | +1.2 | +4.0 ± 1.4 "
            "(1 tasks) | same direction as the paper |") in text


def test_checkpoints_of_a_run_form_a_curve_not_columns(results_dir):
    append_rows([_row("linear_probe", task, f"cola@{step}", 0, score, metric)
                 for step, score in ((100, 0.3), (200, 0.5)) for task, metric in (("task-a", "top1_acc"),
                                                                                  ("task-b", "mAP"))], results_dir)
    text = generate_report(ReportConfig(results_dir=results_dir)).read_text()
    assert "| `cola` | 100 | 30.0 ± 0.0 |" in text and "| `cola` | 200 | 50.0 ± 0.0 |" in text
    probe_table = text.split("## Linear probe (COLA protocol)")[1].split("## HEAR")[0]
    assert "cola@" not in probe_table
    assert (results_dir / "probe_vs_steps.png").read_bytes().startswith(b"\x89PNG")


def test_report_is_reproducible_and_draws_the_plots(results_dir):
    first = generate_report(ReportConfig(results_dir=results_dir)).read_bytes()
    plots = {p.name: p.read_bytes() for p in results_dir.glob("*.png")}
    assert sorted(plots) == ["finetune.png", "hear.png", "linear_probe.png", "pretraining.png"]
    assert all(data.startswith(b"\x89PNG") for data in plots.values())
    assert generate_report(ReportConfig(results_dir=results_dir)).read_bytes() == first
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
    text = generate_report(ReportConfig(results_dir=tmp_path)).read_text()
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
    text = generate_report(ReportConfig(results_dir=results_dir)).read_text()
    assert ("- HEAR protocol (heareval shallow MLP): `cola` suite average 50.0 over 1 tasks; vs `logmel-stats` "
            "+10.0 (1 tasks): ahead, one run each (no spread).") in text
    assert ("- `cola` vs `logmel-stats`: ahead on 1 task(s) (task-b), behind on 0, equal on 0 (one run a task: "
            "no seed spread). Suite average over 1 common task(s): 50.0 vs 40.0 (+10.0 points): "
            "**`cola` ahead, one run each (no spread)**.") in text


def test_models_table_lists_the_weights_of_the_rows_in_the_tables(tmp_path):
    old = ResultRow(**{**_row("linear_probe", "task-a", "cola", 0, 0.1).__dict__, "weights_sha256": "0" * 64})
    append_rows([old, _row("linear_probe", "task-a", "cola", 0, 0.8)], tmp_path)
    models = generate_report(ReportConfig(results_dir=tmp_path)).read_text().split("## Models")[1].split("##")[0]
    assert "| `cola` | `cola_hear` | cola00000000 |" in models
    assert "000000000000" not in models  # the row the re-run replaced does not list its weights


def test_transfer_section_compares_each_pool_with_every_random_init(tmp_path):
    from eval.report import RANDOM_STAGE0

    scores = {"insuite": 0.70, "disjoint-cosine-stage0": 0.62, RANDOM_STAGE0[0]: 0.60, RANDOM_STAGE0[1]: 0.58}
    rows = [_row("linear_probe", task, model, seed, value + 0.01 * seed)
            for model, value in scores.items() for task in ("task-a", "task-b") for seed in range(3)]
    append_rows(rows, tmp_path)
    text = generate_report(ReportConfig(results_dir=tmp_path)).read_text()
    section = text.split("## In-domain vs out-of-domain pretraining")[1].split("##")[0]
    insuite = next(line for line in section.splitlines() if "`insuite`" in line)
    # 71 vs 61: +10.0 with spread sqrt(2) * 1.0 / sqrt(2) = 1.0
    assert "| 71.0 ± 0.7 | +10.0 ± 1.0 (wins) | +12.0 ± 1.0 (wins) | – | – | 2 random init(s) not run |" in insuite
    append_rows([_row("linear_probe", t, m, s, 0.625) for m in (RANDOM_STAGE0[2], "random-init-stage0-bn")
                 for t in ("task-a", "task-b") for s in range(3)], tmp_path)
    text = generate_report(ReportConfig(results_dir=tmp_path)).read_text()
    section = text.split("## In-domain vs out-of-domain pretraining")[1].split("##")[0]
    assert "**beats every random init by more than the spread**" in next(
        line for line in section.splitlines() if "`insuite`" in line)
    disjoint = next(line for line in section.splitlines() if "`disjoint-cosine-stage0`" in line)
    assert "+2.0 ± 1.0 (wins)" in disjoint and "(ties within the spread)" in disjoint
    assert disjoint.endswith("| does not beat every random init by more than the spread |")
    assert ("- Pretrained on packages no suite task uses (out-of-domain, `cola-suite pool`), 1,000 steps: "
            "`disjoint-cosine-stage0` 63.0") in text
    assert "| `disjoint` | not run |" in section  # the longer run has no rows here
