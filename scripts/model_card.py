"""Write the model card of the shipped default weights (results/model_card.md), from what cannot drift.

    python scripts/model_card.py            # writes results/model_card.md
    python scripts/model_card.py --check    # exit 1 when the committed card differs from what it would write

Sections as a Hugging Face model card has them: model details, training data (the pretraining pool's
source packages and licences), training recipe, intended use, evaluation results, limitations. Every
value comes from the weights file's stored config and provenance, the pool's source list
(``cola_suite.pools.disjoint``, ``cola_suite.sources``) and the result CSVs (``cola_eval.report.scores``,
the same statistics as results/README.md); the prose around them states no number of its own.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cola_hear
from cola_common.provenance import weights_sha256
from cola_eval.models.experiments import load_experiments
from cola_eval.report.scores import load_rows, suite_average, summarize
from cola_hear.weights import read_config
from cola_suite.pools.disjoint import DISJOINT_SOURCES
from cola_suite.sources import SOURCES

ROOT = Path(__file__).resolve().parents[1]

CARD = ROOT / "results" / "model_card.md"


def _started_from(init: dict | None, steps: int | None) -> list[str]:
    """The recipe line of a run that started from earlier weights (``train.init_weights``), if it did."""
    if not init:
        return []
    return [
        f"- Started from earlier weights (sha256 `{str(init.get('sha256'))[:12]}`, {init.get('steps')} steps of "
        f"`{init.get('objective')}`): {(init.get('steps') or 0) + (steps or 0)} steps in all."
    ]


# rows of the evaluation table: the shipped weights and what they are measured against
COMPARED = (
    ("cola", "the shipped weights"),
    (
        "random-init-stage03-bn-s0",
        "no-learning control: the initial network, BatchNorm statistics of the pool, same read-out",
    ),
    ("random-init-stage0-bn", "the strongest no-learning control: as above, read out at stage 0"),
    ("random-init-stage03", "the initial network (random init, seed 0), same read-out"),
    ("logmel-stats", "log-mel statistics (mean and std of the 64 bands)"),
    ("crepe", "CREPE (`hearbaseline.torchcrepe`), a HEAR 2021 peer"),
)


def _relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def details(weights: Path) -> list[str]:
    config = read_config(weights)
    prov = config.provenance
    readout = " + ".join(f"`{p}`" for p in config.hear.readout)
    model = cola_hear.load_model(str(weights))
    return [
        "## Model details",
        "",
        f"- Weights: `{_relative(weights)}` ({weights.stat().st_size / 1e6:.1f} MB, safetensors); checksum "
        f"`{weights_sha256(weights)[:12]}` (tensors and config, as result rows record it).",
        f"- Architecture: timm `{config.encoder.name}` with one input channel ({config.encoder.pooling} pooling at "
        f"the final layer) on {config.frontend.n_mels}-band log-mel windows of {config.frontend.segment_frames} "
        f"frames at {config.frontend.sample_rate} Hz.",
        f"- HEAR read-out: {readout}; {model.scene_embedding_size}-d scene and timestamp embeddings "
        f"(timestamps every {config.hear.timestamp_hop_ms:g} ms).",
        f"- Trained with `{prov.get('producer', '?')}` at commit `{prov.get('git_commit', '?')}` "
        f"(torch {prov.get('torch', '?')}).",
        "",
    ]


def training_data(weights: Path) -> list[str]:
    data = read_config(weights).provenance.get("data", {})
    lines = [
        "## Training data",
        "",
        f"Unlabelled audio: {data.get('files', '?')} files, {data.get('hours', math.nan):.2f} hours, resampled "
        f"to 16 kHz mono (pool manifest sha256 `{str(data.get('manifest_sha256', '?'))[:16]}`), from Debian packages "
        "that share no binary or source package with any task of the evaluation suite (`cola-suite pool`). "
        "Per-source hours: results/datasheet.md.",
        "",
        "| package | holds | licence |",
        "|---|---|---|",
    ]
    for package, _folder, holds in sorted(DISJOINT_SOURCES):
        lines.append(f"| {package} | {holds} | {SOURCES[package].licence} |")
    return [*lines, ""]


def recipe(weights: Path) -> list[str]:
    prov = read_config(weights).provenance
    cfg = prov.get("config", {})
    aug = {k: v for k, v in cfg.get("augment", {}).items() if v}
    obj = cfg.get("objective", {})
    return [
        "## Training recipe",
        "",
        f"- COLA: two random crops of one clip are anchor and positive, the other positives of the batch are "
        f"distractors; objective `{obj.get('name', '?')}` (head `{obj.get('head', '?')}`, temperature "
        f"{obj.get('temperature', '?')}), Adam lr {cfg.get('optim', {}).get('lr', '?')}.",
        f"- {prov.get('steps', '?')} steps of {prov.get('batch_size', '?')} pairs on {prov.get('world_size', 1)} "
        f"process(es): {prov.get('pairs_seen', '?')} pairs seen, seed {prov.get('seed', '?')}; final loss "
        f"{prov.get('final_loss', math.nan):.3f}, contrastive accuracy {prov.get('final_accuracy', math.nan):.3f}.",
        *_started_from(prov.get("init_weights"), prov.get("steps")),
        "- Augmentations: " + ", ".join(f"{k} {v}" for k, v in sorted(aug.items())) + ".",
        f"- Command: `{prov.get('command', '?')}`; changed after training: "
        + ", ".join(f"`{k}` = `{v}`" for k, v in prov.get("variant", {}).items())
        + ". Full provenance: results/default_weights.md.",
        "",
    ]


def evaluation(results_dir: Path) -> list[str]:
    lines = [
        "## Evaluation results",
        "",
        "The offline suite of 10 HEAR-format tasks (results/datasheet.md), suite average of each task's primary "
        "metric in points; linear probe: 3 seeds, mean ± propagated spread; HEAR protocol: heareval's MLP, one "
        "run. Generated from results/*.csv like results/README.md, which has every task and comparison.",
        "",
        "| model | linear probe | HEAR protocol |",
        "|---|---:|---:|",
    ]
    tables = {p: summarize(load_rows(results_dir, p)) for p in ("linear_probe", "hear")}
    for name, words in COMPARED:
        cells = []
        for protocol, table in tables.items():
            mean, std, n = suite_average(table, name) if not table.empty else (0.0, 0.0, 0)
            cells.append("–" if not n else f"{mean:.1f}" + (f" ± {std:.1f}" if protocol == "linear_probe" else ""))
        lines.append(f"| `{name}`: {words} | " + " | ".join(cells) + " |")
    return [*lines, ""]


INTENDED_USE = [
    "## Intended use",
    "",
    "General-purpose audio embeddings through the HEAR 2021 API (`cola_hear.load_model()`, "
    "`get_scene_embeddings`, `get_timestamp_embeddings`) for frozen-feature probes and as a starting point for "
    "fine-tuning, on 16 kHz mono audio, offline and on a CPU. A reference implementation for research on COLA "
    "pretraining, not a production classifier.",
    "",
]

LIMITATIONS = [
    "## Limitations",
    "",
    "- The weights are small-scale: a short CPU run on about a day of game and voice-acting audio, far from the "
    "AudioSet scale of the paper.",
    "- Learned vs not learned: compare with the no-learning control row above (the same network with only its "
    "BatchNorm statistics taken from the pool). results/README.md has the learned-vs-control table by read-out.",
    "- The evaluation suite is built from packaged audio (synthetic speech, sampled instruments, game audio); "
    "scores on it do not transfer one to one to field recordings.",
    "- Some pool sources carry licences with conditions (attribution, share-alike, per-file terms); see the "
    "training data table.",
    "",
]


def model_card(weights: Path | None = None, results_dir: Path | None = None) -> str:
    """The card's Markdown."""
    weights = Path(weights or cola_hear.default_weights_path())
    results_dir = Path(results_dir or ROOT / "results")
    load_experiments(ROOT / "experiments.toml")  # the names compared here must stay declared
    title = [
        "# Model card: cola-hear default weights",
        "",
        "Generated by `python scripts/model_card.py` from the weights file's metadata and the result CSVs; do not "
        "edit by hand (a test fails when it drifts).",
        "",
    ]
    parts = title + details(weights) + training_data(weights) + recipe(weights) + INTENDED_USE
    return "\n".join(parts + evaluation(results_dir) + LIMITATIONS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed card, write nothing")
    args = parser.parse_args(argv)
    text = model_card()
    if args.check:
        same = CARD.exists() and CARD.read_text() == text
        print(f"{_relative(CARD)} is {'up to date' if same else 'out of date: run python scripts/model_card.py'}")
        return 0 if same else 1
    CARD.write_text(text)
    print(f"wrote {_relative(CARD)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
