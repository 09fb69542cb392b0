"""The named experiments (``experiments.toml``): what each result name stands for and what the report compares.

One declarative file is read by the report (``ReportConfig.from_experiments``) and by
``scripts/experiments.py``, which makes each model's weights and runs its evaluations for
``scripts/reproduce.sh``; so the names are never listed twice by hand.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cola_hear.config import ConfigError

PROTOCOLS = ("linear_probe", "hear", "finetune")
STAGES = ("probe", "longer", "transfer", "peers", "readouts")  # reproduce.sh stages that run linear probes
WEIGHTS = re.compile(r"^(default|random:\d+(:plain)?|control:\d+|run:[\w.-]+@\d+)$")


def _stages(*indices: int) -> list[str]:
    """Mean and standard deviation over time of each of these EfficientNet stages (frequency bins kept)."""
    return [part for i in indices for part in (f"stage{i}", f"stage{i}.std")]


# hear.readout of each read-out name (experiments.toml ``readout``)
READOUTS = {
    "final": ["final"],
    "stage0": _stages(0),
    "stage01": _stages(0, 1),
    "stage012": _stages(0, 1, 2),
    "stage3": _stages(3),
    "stage03": _stages(0, 3),
    "stage6": _stages(6),
    "stage0+final": [*_stages(0), "final"],
    "stage0+stage6": _stages(0, 6),
    "stage036": _stages(0, 3, 6),
    "allstages": _stages(*range(7)),
}


@dataclass(frozen=True)
class Ablation:
    """A claim of the paper: ``better`` beats ``worse`` under ``protocol`` by about ``paper_points``."""

    title: str
    protocol: str
    better: str
    worse: str
    paper_points: float


@dataclass(frozen=True)
class Transfer:
    """A pretrained model against several random inits of the same network, read out the same way."""

    pool: str  # what the model was pretrained on, in words
    model: str
    randoms: tuple[str, ...]


@dataclass(frozen=True)
class ReadoutComparison:
    """A row of the learned-vs-control table: the learned weights and the control's seeds, read out one way."""

    readout: str  # the read-out, in words
    learned: tuple[str, ...]  # names of the learned weights read out this way; the table shows the first measured
    controls: tuple[str, ...]


@dataclass(frozen=True)
class FrozenComparison:
    """Fine-tuned weights against the frozen linear probe of the same weights, read out the same way."""

    finetuned: str  # a fine-tuning result name
    frozen: str  # a linear-probe result name


@dataclass(frozen=True)
class HeadlineRow:
    """A row of the main README's results table, which the report writes from the measured rows."""

    model: str
    label: str  # what the model is, in words (markdown)
    pool: str  # what it was pretrained on, in a few words
    bold: bool = False


@dataclass(frozen=True)
class Model:
    """How one result name is made: a HEAR module, a weights recipe and an optional read-out variant."""

    name: str
    module: str = "cola_hear"
    weights: str = "default"  # "default" | "random:SEED[:plain]" | "control:SEED" | "run:RUN@STEP"
    readout: str | None = None  # a key of READOUTS; None: as the weights are
    set: tuple[str, ...] = ()  # further scripts/weights_variant.py settings
    protocols: tuple[str, ...] = ("linear_probe",)
    init: str = "pretrained"  # fine-tuning start
    finetune: dict = field(default_factory=dict)  # this model's cola-eval finetune options over [finetune]
    stage: str | None = None  # the reproduce.sh stage of its linear probe
    pool: str = ""

    @property
    def is_variant(self) -> bool:
        """Whether the weights are rewritten with another read-out or settings before evaluation."""
        return self.readout is not None or bool(self.set)


@dataclass(frozen=True)
class Experiments:
    main: str
    models: dict[str, Model]
    baselines: tuple[str, ...] = ()
    ablations: tuple[Ablation, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    curve_references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hear: dict[str, object] = field(default_factory=dict)  # cola-eval hear arguments
    finetune: dict[str, object] = field(default_factory=dict)  # cola-eval finetune arguments
    headline: tuple[HeadlineRow, ...] = ()
    readouts: tuple[ReadoutComparison, ...] = ()
    main_table: tuple[str, ...] = ()  # the report's opening table: the few models that matter
    frozen: tuple[FrozenComparison, ...] = ()  # fine-tuned vs frozen probe

    def referenced(self) -> set[str]:
        """Every model name the report's comparisons use."""
        names = {self.main, *self.baselines}
        names |= {n for a in self.ablations for n in (a.better, a.worse)}
        names |= {n for t in self.transfers for n in (t.model, *t.randoms)}
        names |= {h.model for h in self.headline}
        names |= {n for r in self.readouts for n in (*r.learned, *r.controls)} | set(self.main_table)
        names |= {n for f in self.frozen for n in (f.finetuned, f.frozen)}
        return names | {n for models in self.curve_references.values() for n in models}

    def peer_names(self) -> dict[str, str]:
        """Module -> result name of the models that run a module of another project (HEAR peers)."""
        return {m.module: m.name for m in self.models.values() if m.stage == "peers"}


def load_experiments(path: str | Path) -> Experiments:
    """Read and check ``experiments.toml``; ``ConfigError`` names what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        report = data.get("report", {})
        models = {name: _model(name, spec) for name, spec in data.get("models", {}).items()}
        exp = Experiments(
            main=str(data["main"]),
            models=models,
            baselines=tuple(report.get("baselines", ())),
            ablations=tuple(Ablation(**a) for a in report.get("ablations", ())),
            transfers=tuple(Transfer(t["pool"], t["model"], tuple(t["randoms"])) for t in report.get("transfers", ())),
            curve_references={c["label"]: tuple(c["models"]) for c in report.get("curve_references", ())},
            hear=dict(data.get("hear", {})),
            finetune=dict(data.get("finetune", {})),
            headline=tuple(HeadlineRow(**h) for h in report.get("headline", ())),
            main_table=tuple(report.get("main_table", ())),
            readouts=tuple(
                ReadoutComparison(r["readout"], _names(r["learned"]), tuple(r["controls"]))
                for r in report.get("readouts", ())
            ),
            frozen=tuple(FrozenComparison(**f) for f in report.get("finetune_vs_frozen", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc!r}") from exc
    unknown = sorted(exp.referenced() - set(models))
    if unknown:
        raise ConfigError(f"{path}: the report compares models with no [models] entry: {unknown}")
    if len(exp.main_table) > 10:
        raise ConfigError(f"{path}: [report] main_table lists {len(exp.main_table)} models; at most 10")
    bad = [a.title for a in exp.ablations if a.protocol not in PROTOCOLS]
    if bad:
        raise ConfigError(f"{path}: ablations with an unknown protocol: {bad}")
    return exp


def _names(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _model(name: str, spec: dict) -> Model:
    model = Model(
        name=name,
        **{
            **spec,
            "set": tuple(spec.get("set", ())),
            "protocols": tuple(spec.get("protocols", ("linear_probe",))),
        },
    )
    problems = []
    if not WEIGHTS.match(model.weights):
        problems.append(f"weights {model.weights!r} (default | random:SEED[:plain] | control:SEED | run:RUN@STEP)")
    if model.readout is not None and model.readout not in READOUTS:
        problems.append(f"readout {model.readout!r} (one of {sorted(READOUTS)})")
    if model.is_variant and model.module != "cola_hear":
        problems.append("a read-out variant of a module other than cola_hear")
    if set(model.protocols) - set(PROTOCOLS):
        problems.append(f"protocols {list(model.protocols)} (of {list(PROTOCOLS)})")
    if ("linear_probe" in model.protocols) != (model.stage is not None) or (model.stage and model.stage not in STAGES):
        problems.append(f"stage {model.stage!r}: one of {list(STAGES)} exactly when the model has a linear probe")
    if model.init not in ("pretrained", "scratch"):
        problems.append(f"init {model.init!r}")
    if problems:
        raise ValueError(f"model {name!r}: " + "; ".join(problems))
    return model
