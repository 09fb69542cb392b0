"""Smoke test of the benchmark command: a quick run of the in-process sections writes one CSV row per figure.

No timing is asserted (timed checks belong in the benchmark itself); the figures must exist and be positive.
"""

from __future__ import annotations

import csv

import torch

from benchmarks.cli import main
from benchmarks.table import NOT_MEASURED_NO_GPU
from support.audio import write_tone_folder


def test_quick_benchmark_writes_every_figure_of_its_sections(tmp_path, capsys):
    pool = tmp_path / "pool"
    write_tone_folder(pool, n_classes=4, seconds=3.0)
    out = tmp_path / "results" / "benchmarks.csv"

    code = main(["--quick", "--sections", "2,3,4", "--pool", str(pool), "--out", str(out)])

    assert code == 0
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["section", "item", "value", "unit", "ratio", "notes"]
        rows = list(reader)
    items = {(r["section"], r["item"]): r for r in rows}
    machine = {item for section, item in items if section == "machine"}
    for detail in ("CPU model", "CPU cores", "torch version", "CPU bf16 support", "commit"):
        assert detail in machine
    assert {"load average at start (1, 5, 15 min)", "load average at end (1, 5, 15 min)"} <= machine

    def number(section: str, prefix: str, column: str = "value") -> float:
        matches = [r for (s, item), r in items.items() if s == section and item.startswith(prefix)]
        assert len(matches) == 1, (section, prefix, sorted(items))
        return float(matches[0][column])

    # 2: our step against the seed article's model, measured side by side
    assert number("2 pretrain", "seed article model step") > 0
    assert number("2 pretrain", "our step, batch 8, fp32") > 0
    assert number("2 pretrain", "our step, batch 8, fp32", "ratio") > 0
    assert number("2 pretrain", "our best CPU step / seed model") > 0
    for encoder in ("tinynet_d", "tinynet_e"):  # faster encoders of timm's EfficientNet family, same step
        assert number("2 pretrain", f"our step, encoder {encoder}, batch 8", "ratio") > 0
    assert items[("2 pretrain", "our step with torch.compile, batch 8, fp32 channels_last")]["value"].startswith(
        "not measured"
    )  # compiling is left to the full run
    # 3: the loader from its cache (a subset of the given, uncached pool) and decoding on the fly
    assert number("3 loading", "audio pool") > 0
    assert number("3 loading", "loader from decoded-audio cache", "ratio") > 0
    assert number("3 loading", "decoding each crop on the fly") > 0
    # 4: GPU rows are present either way
    gpu = [r for (s, _), r in items.items() if s == "4 gpu"]
    assert len(gpu) == 4
    if not torch.cuda.is_available():
        assert all(r["value"] == NOT_MEASURED_NO_GPU for r in gpu)
    assert items[("machine", "command")]["value"].startswith("python -m benchmarks --quick --sections 2,3,4")
    markdown = out.with_suffix(".md").read_text()
    assert "| 2 pretrain | seed article model step, batch 8, fp32 |" in markdown
    printed = capsys.readouterr().out
    assert "2 pretrain" in printed and "3 loading" in printed and "4 gpu" in printed


def test_hear_cases_measure_the_yardstick_the_front_end_and_any_module():
    from benchmarks.hear_case import run
    from benchmarks.hear_speed import YARDSTICK, cases
    from benchmarks.settings import QUICK, Settings

    for kind, module in ((YARDSTICK, "cola_hear"), ("front end", "cola_hear"), ("timestamp", "cola_hear"),
                         ("scene", "cola_eval.models.baselines.logmel_stats")):  # fmt: skip
        figures = run(kind, clips=1, seconds=2.0, module=module)
        assert figures["kind"] == kind and figures["x_realtime"] > 0 and figures["peak_rss_mb"] > 0
        assert figures["yardstick_x_realtime"] > 0  # the plain front end, timed in the same process
    assert figures["mode"] == "module"
    for folded, per_sound in ((False, False), (True, True)):  # BatchNorm as trained; one sound per call
        figures = run("scene", clips=2, seconds=2.0, precision="fp32", folded=folded, per_sound=per_sound)
        assert figures["x_realtime"] > 0 and figures["precision"] == "fp32"
    settings = Settings(QUICK, True, None, None, None, None, None)
    listed = cases(settings)
    assert listed[0].kind == YARDSTICK and listed[0].target is None
    assert {c.kind for c in listed if c.target} == {"front end", "scene", "timestamp"}
    assert {c.module for c in listed} == {"cola_hear", "cola_eval.models.baselines.logmel_stats"}
    assert all(c.compare in {other.name for other in listed} for c in listed if c.compare)
    assert any(not c.folded for c in listed) and any(c.per_sound for c in listed)


def test_hear_profile_names_where_the_time_goes(tmp_path):
    from benchmarks.hear_speed import profile_hear

    text = profile_hear("", clips=1, seconds=2.0, path=tmp_path / "profile-hear.txt").read_text()
    assert "get_scene_embeddings, 1 x 2 s" in text and "get_timestamp_embeddings, 1 x 2 s" in text
    assert "aten::" in text  # operator rows
