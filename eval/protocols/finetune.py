"""Whole-encoder fine-tuning on a scene task: pretrained weights vs the same architecture from random init.

The seed article's experiment. Both starts use one recipe: the encoder plus a
linear head trained end to end with Adam on random ~1 s log-mel crops of the
training clips; after each epoch the clip-level validation score (head on the mean
of the clip's non-overlapping window embeddings) is taken and the best epoch's model
is scored on the test split. Fine-tuning needs the model's internals, so it applies to
``cola_hear`` weights files only.

Where the head sits (``FinetuneConfig.head_on``):

- ``"final"`` (the seed article): on the encoder's final layer whatever the weights'
  ``hear.readout``; BatchNorm statistics train with the rest. Rows say read-out "final".
- ``"readout"``: on the weights' own read-out (what the frozen linear probe sees), standardised
  with the training windows' statistics at the start, as the probe standardises its features.
  The first ``probe_epochs`` epochs train the head alone (a linear probe as the starting head);
  then the encoder trains too, at ``encoder_lr``. BatchNorm statistics stay as the weights have
  them (a read-out near the input owes much to them). The best epoch is chosen on validation
  across both phases, so the result is never chosen below the probe phase's best. Rows record
  the read-out.

``head_init="linear_probe"`` (with the head on the read-out) starts from the frozen protocol's own
probe instead: ``fit_linear`` on the clips' mean read-out (the scene embedding), L2 and epoch chosen
on validation, the same seed. It is scored on validation as epoch 0, so fine-tuning keeps the frozen
result unless an epoch beats it there (linear probe, then fine-tune).
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from cola_common.audio_files import load_audio
from cola_eval.models.baselines.random_init import random_init_model
from cola_eval.protocols.linear import fit_linear
from cola_eval.protocols.metrics import multi_hot, scene_score, selection_score
from cola_eval.protocols.probe import ProbeResult
from cola_eval.protocols.tasks import Split, Task
from cola_hear import ColaModel, load_weights

log = logging.getLogger(__name__)

Features = Callable[[torch.Tensor], torch.Tensor]  # a bound method of the model: windows -> embeddings


@dataclass(frozen=True)
class FinetuneConfig:
    """Recipe shared by the pretrained and the random-init runs."""

    epochs: int = 20
    batch_size: int = 32
    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 5  # stop after this many epochs without a better validation score
    eval_batch_windows: int = 256
    head_on: str = "final"  # "final": the encoder's final layer | "readout": the weights' hear.readout
    probe_epochs: int = 0  # epochs that train the head alone (encoder frozen) before the encoder trains too
    head_init: str = "crops"  # "crops": a fresh head (trained on random crops) | "linear_probe": the frozen probe's

    def __post_init__(self) -> None:
        if self.head_on not in ("final", "readout"):
            raise ValueError(f"head_on must be 'final' or 'readout', got {self.head_on!r}")
        if self.head_init not in ("crops", "linear_probe"):
            raise ValueError(f"head_init must be 'crops' or 'linear_probe', got {self.head_init!r}")
        if self.head_init == "linear_probe" and self.head_on != "readout":
            raise ValueError("head_init='linear_probe' needs head_on='readout' (the probe's features)")
        if not 0 <= self.probe_epochs <= self.epochs:
            raise ValueError(f"probe_epochs must be in [0, epochs={self.epochs}], got {self.probe_epochs}")

    def readout(self, model: ColaModel) -> str:
        """The read-out the head sits on, as result rows record it."""
        return "final" if self.head_on == "final" else "+".join(model.config.hear.readout)


@dataclass
class ClipSet:
    """Log-mels ``(frames, n_mels)`` of clips with their multi-hot targets."""

    logmels: list[torch.Tensor]
    targets: np.ndarray


def finetune_task(
    weights: str | Path,
    task: Task,
    init: str,
    seeds: list[int],
    config: FinetuneConfig | None = None,
    device: str | None = None,
) -> list[ProbeResult]:
    """Fine-tune from ``weights`` (``init="pretrained"``) or from a random init with the architecture those
    weights describe (``init="scratch"``). trainvaltest tasks run every seed; k-fold tasks every fold once."""
    if task.embedding_type != "scene":
        raise ValueError(f"fine-tuning handles scene tasks; {task.name} is an {task.embedding_type} task")
    if init not in ("pretrained", "scratch"):
        raise ValueError(f"init must be 'pretrained' or 'scratch', got {init!r}")
    config = config or FinetuneConfig()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    base = load_weights(weights, device="cpu")
    clips = {s: _clip_set(task, s, base) for s in task.splits}
    runs = (
        [(sp, seeds[0]) for sp in task.data_splits()]
        if task.is_kfold
        else [(sp, seed) for sp in task.data_splits() for seed in seeds]
    )
    results = []
    for split, seed in runs:
        model = _start_model(base, init, seed).to(device)
        result = _train_and_test(model, task, clips, split, seed, config, device)
        result.chosen["init"] = init
        log.info("finetune %s %s fold=%s seed=%d: %s", init, task.name, split.name, seed, result.scores)
        results.append(result)
    return results


def _start_model(base: ColaModel, init: str, seed: int) -> ColaModel:
    if init == "pretrained":
        return copy.deepcopy(base)
    return random_init_model(seed, like=base.config)


def _clip_set(task: Task, split: str, model: ColaModel) -> ClipSet:
    labels = task.split_labels(split)
    folder = task.audio_dir(split, model.sample_rate)
    logmels = []
    with torch.no_grad():
        for name in tqdm(labels, desc=f"log-mel {task.name}/{split}", unit="clip", leave=False):
            audio = torch.from_numpy(load_audio(folder / name, sample_rate=model.sample_rate))
            logmels.append(model.frontend.long(audio))
    return ClipSet(logmels, multi_hot(list(labels.values()), task.labels))


def _train_and_test(
    model: ColaModel,
    task: Task,
    clips: dict[str, ClipSet],
    split: Split,
    seed: int,
    config: FinetuneConfig,
    device: str,
) -> ProbeResult:
    train = _concat([clips[s] for s in split.train])
    valid = _concat([clips[s] for s in split.valid])
    test = _concat([clips[s] for s in split.test])
    multilabel = task.prediction_type == "multilabel"
    gen = torch.Generator().manual_seed(seed)
    features = model.embed_windows if config.head_on == "final" else model.readout_windows
    start = -np.inf  # the starting model competes as epoch 0 when it is the frozen probe
    if config.head_init == "linear_probe":
        head, start = _probe_head(model, features, train, valid, task, seed, config, device)
    else:
        head = _make_head(model, features, train, len(task.labels), seed, config, device)
    opt = torch.optim.Adam(
        [
            {"params": model.encoder.parameters(), "lr": config.encoder_lr},
            {"params": head.parameters(), "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    targets = torch.from_numpy(train.targets)
    best = (start, 0, copy.deepcopy(model.encoder.state_dict()), copy.deepcopy(head.state_dict()))
    stale = 0
    for epoch in tqdm(range(1, config.epochs + 1), desc=f"finetune {task.name} seed {seed}", unit="epoch", leave=False):
        probing = epoch <= config.probe_epochs
        if epoch == config.probe_epochs + 1:
            stale = 0  # patience counts within a phase: a flat probe phase never ends the run before the encoder trains
        opt.param_groups[0]["lr"] = 0.0 if probing else config.encoder_lr  # Adam at lr 0 leaves the encoder as it is
        # BatchNorm statistics stay fixed while probing, and always with the head on the read-out
        model.train(not probing and config.head_on == "final")
        head.train()
        order = torch.randperm(len(train.logmels), generator=gen)
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size].tolist()
            windows = torch.stack([_random_crop(train.logmels[i], model, gen) for i in idx]).to(device)
            with torch.set_grad_enabled(not probing):  # the probe phase needs no gradient through the encoder
                embeddings = features(windows)
            logits = head(embeddings)
            y = targets[idx].to(device)
            loss = F.binary_cross_entropy_with_logits(logits, y) if multilabel else F.cross_entropy(logits, y.argmax(1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = scene_score(
            task.primary_metric,
            _predict(model, features, head, valid, multilabel, config, device),
            valid.targets,
            task.labels,
        )
        if np.isfinite(score) and score > best[0]:
            best = (score, epoch, copy.deepcopy(model.encoder.state_dict()), copy.deepcopy(head.state_dict()))
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    valid_score, best_epoch, encoder_state, head_state = best
    model.encoder.load_state_dict(encoder_state)
    head.load_state_dict(head_state)
    probs = _predict(model, features, head, test, multilabel, config, device)
    scores = {m: scene_score(m, probs, test.targets, task.labels) for m in task.evaluation}
    chosen = {"epoch": best_epoch, "valid_score": float(valid_score), "encoder_lr": config.encoder_lr}
    if config.head_on != "final":
        chosen |= {"head_on": config.head_on, "probe_epochs": config.probe_epochs}
    if config.head_init != "crops":
        chosen["head_init"] = config.head_init
    return ProbeResult(task.name, split.name, seed, scores, len(train.logmels), len(test.logmels), chosen)


def _random_crop(logmel: torch.Tensor, model: ColaModel, gen: torch.Generator) -> torch.Tensor:
    seg = model.segment_frames
    if logmel.shape[0] <= seg:
        return F.pad(logmel.t(), (0, seg - logmel.shape[0]), value=model.frontend.pad_value).t()
    start = int(torch.randint(0, logmel.shape[0] - seg + 1, (1,), generator=gen))
    return logmel[start : start + seg]


def _make_head(
    model: ColaModel, features: Features, train: ClipSet, n_labels: int, seed: int, config: FinetuneConfig, device: str
) -> nn.Module:
    """The linear head; on the read-out, behind a fixed standardisation by the training windows' statistics."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if config.head_on == "final":
            return nn.Linear(model.config.embedding_size, n_labels).to(device)
        linear = nn.Linear(model.scene_embedding_size, n_labels).to(device)
    model.eval()
    emb = _window_embeddings(features, model, train, config, device)
    std, mean = torch.std_mean(torch.cat(emb), dim=0)
    return nn.Sequential(Standardize(mean, std), linear).to(device)


def _probe_head(
    model: ColaModel,
    features: Features,
    train: ClipSet,
    valid: ClipSet,
    task: Task,
    seed: int,
    config: FinetuneConfig,
    device: str,
) -> tuple[nn.Module, float]:
    """The frozen linear probe as the head, with its validation score: ``fit_linear`` on the clips' mean window
    read-out (the scene embedding), chosen on validation with the probe protocol's selection score."""
    model.eval()
    x_train, x_valid = (_clip_embeddings(features, model, clips, config, device) for clips in (train, valid))
    multilabel = task.prediction_type == "multilabel"
    select = functools.partial(selection_score, task.primary_metric)
    probe = fit_linear(
        x_train.cpu().numpy(), train.targets, x_valid.cpu().numpy(), valid.targets, select, multilabel, seed
    )
    linear = nn.Linear(probe.weight.shape[0], probe.weight.shape[1])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(probe.weight.T))
        linear.bias.copy_(torch.from_numpy(probe.bias))
    head = nn.Sequential(Standardize(torch.from_numpy(probe.mean), torch.from_numpy(probe.std)), linear).to(device)
    score = scene_score(task.primary_metric, _probabilities(head, x_valid, multilabel), valid.targets, task.labels)
    return head, score


class Standardize(nn.Module):
    """``(x - mean) / std`` with fixed statistics (constant features stay at 0)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("scale", 1.0 / torch.where(std > 1e-6, std, torch.ones_like(std)).detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.scale


@torch.no_grad()
def _window_embeddings(
    features: Features, model: ColaModel, clips: ClipSet, config: FinetuneConfig, device: str
) -> list[torch.Tensor]:
    """``features`` of each clip's non-overlapping windows, one tensor per clip."""
    seg = model.segment_frames
    per_clip = [model.sliding_windows(logmel, seg, centred=False) for logmel in clips.logmels]
    windows = torch.cat(per_clip)
    emb = torch.cat(
        [
            features(windows[i : i + config.eval_batch_windows].to(device).contiguous()).float()
            for i in range(0, len(windows), config.eval_batch_windows)
        ]
    )
    return list(emb.split([len(w) for w in per_clip]))


@torch.no_grad()
def _predict(
    model: ColaModel,
    features: Features,
    head: nn.Module,
    clips: ClipSet,
    multilabel: bool,
    config: FinetuneConfig,
    device: str,
) -> np.ndarray:
    """Clip probabilities from the head on the mean window embedding (non-overlapping windows)."""
    model.eval()
    return _probabilities(head, _clip_embeddings(features, model, clips, config, device), multilabel)


@torch.no_grad()
def _clip_embeddings(
    features: Features, model: ColaModel, clips: ClipSet, config: FinetuneConfig, device: str
) -> torch.Tensor:
    """``(clips, D)``: the mean of each clip's non-overlapping window embeddings."""
    return torch.stack([part.mean(dim=0) for part in _window_embeddings(features, model, clips, config, device)])


@torch.no_grad()
def _probabilities(head: nn.Module, clip_emb: torch.Tensor, multilabel: bool) -> np.ndarray:
    """Class probabilities of the head on clip embeddings: sigmoid (multilabel) or softmax."""
    head.eval()
    logits = head(clip_emb)
    return (torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)).float().cpu().numpy()


def _concat(sets: list[ClipSet]) -> ClipSet:
    return ClipSet([m for s in sets for m in s.logmels], np.concatenate([s.targets for s in sets]))
