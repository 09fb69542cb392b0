"""The linear probe on synthetic embeddings, its metrics, and task splitting."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from cola_eval.protocols.linear import LinearConfig, _gradients, _logits, _losses, fit_linear
from cola_eval.protocols.metrics import (
    event_score,
    frame_targets,
    frames_to_events,
    macro_average_precision,
    scene_score,
    selection_score,
)
from cola_eval.protocols.tasks import TaskError, load_task
from support.tasks import make_scene_task

LABELS = ("a", "b", "c", "d")


def _clusters(n: int, dim: int, rng: np.random.Generator, separation: float) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((len(LABELS), dim)) * separation
    classes = rng.integers(len(LABELS), size=n)
    x = centres[classes] + rng.standard_normal((n, dim))
    return x.astype(np.float32), np.eye(len(LABELS), dtype=np.float32)[classes]


def _accuracy(probe, x, y) -> float:
    return scene_score("top1_acc", probe.predict_proba(x), y, LABELS)


def test_probe_separates_separable_embeddings():
    rng = np.random.default_rng(0)
    x, y = _clusters(600, 64, rng, separation=3.0)
    probe = fit_linear(
        x[:300],
        y[:300],
        x[300:400],
        y[300:400],
        lambda p, t: selection_score("top1_acc", p, t),
        multilabel=False,
        seed=0,
    )
    assert _accuracy(probe, x[400:], y[400:]) >= 0.99
    assert probe.l2 in LinearConfig().l2_grid and probe.epoch >= 1


def test_probe_is_at_chance_on_shuffled_labels():
    rng = np.random.default_rng(1)
    x, y = _clusters(1600, 64, rng, separation=3.0)
    y = y[rng.permutation(len(y))]  # labels no longer depend on the embeddings
    probe = fit_linear(
        x[:800],
        y[:800],
        x[800:1000],
        y[800:1000],
        lambda p, t: selection_score("top1_acc", p, t),
        multilabel=False,
        seed=0,
    )
    assert abs(_accuracy(probe, x[1000:], y[1000:]) - 1 / len(LABELS)) < 0.07


def test_multilabel_probe_reaches_full_map():
    rng = np.random.default_rng(2)
    y = (rng.random((500, len(LABELS))) < 0.4).astype(np.float32)
    directions = rng.standard_normal((len(LABELS), 32)) * 3
    x = (y @ directions + rng.standard_normal((500, 32))).astype(np.float32)
    probe = fit_linear(x[:250], y[:250], x[250:350], y[250:350], macro_average_precision, multilabel=True, seed=0)
    assert scene_score("mAP", probe.predict_proba(x[350:]), y[350:], LABELS) > 0.98


def test_seed_changes_the_probe_but_not_its_reproducibility():
    rng = np.random.default_rng(3)
    x, y = _clusters(300, 16, rng, separation=0.5)
    fit = [
        fit_linear(
            x[:150],
            y[:150],
            x[150:],
            y[150:],
            lambda p, t: selection_score("top1_acc", p, t),
            multilabel=False,
            seed=s,
            config=LinearConfig(max_epochs=5),
        )
        for s in (0, 0, 1)
    ]
    assert np.array_equal(fit[0].weight, fit[1].weight)
    assert not np.array_equal(fit[0].weight, fit[2].weight)


def test_probe_rejects_bad_input():
    x = np.zeros((4, 3), np.float32)
    y = np.eye(4, dtype=np.float32)
    with pytest.raises(ValueError, match="exactly one label"):
        fit_linear(x, y * 0, x, y, lambda p, t: 0.0, multilabel=False, seed=0)
    with pytest.raises(ValueError, match="NaN"):
        fit_linear(x * np.nan, y, x, y, lambda p, t: 0.0, multilabel=False, seed=0)


def test_grid_logits_match_one_matmul_per_grid_point():
    import torch

    gen = torch.Generator().manual_seed(0)
    x, weight, bias = torch.randn(37, 24, generator=gen), torch.randn(5, 24, 3, generator=gen), torch.randn(5, 1, 3)
    logits = _logits(x, weight, bias)
    assert logits.shape == (5, 37, 3)
    for g in range(5):
        assert torch.allclose(logits[g], x @ weight[g] + bias[g], atol=1e-5)


@pytest.mark.parametrize("multilabel", [True, False])
def test_closed_form_gradients_match_autograd_and_are_contiguous(multilabel):
    import torch

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, 24, generator=gen)
    classes = torch.randint(3, (40,), generator=gen)
    y = (torch.rand(40, 3, generator=gen) < 0.3).float() if multilabel else torch.eye(3)[classes]
    l2 = torch.tensor([0.0, 1e-3, 1e-1])
    weight = torch.randn(3, 24, 3, generator=gen).requires_grad_()
    bias = torch.randn(3, 1, 3, generator=gen).requires_grad_()
    loss = _losses(_logits(x, weight, bias), y, multilabel).sum() + (l2[:, None, None] * weight**2).sum()
    loss.backward()
    grad_w, grad_b = _gradients(x, y, weight.detach(), bias.detach(), l2, multilabel)
    torch.testing.assert_close(grad_w, weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_b, bias.grad, rtol=1e-5, atol=1e-6)
    assert grad_w.is_contiguous()  # the fused Adam step silently misreads a strided gradient


def test_fast_average_precision_matches_sklearn():
    rng = np.random.default_rng(4)
    probs = rng.random((200, 5))
    targets = (rng.random((200, 5)) < 0.3).astype(np.float32)
    assert macro_average_precision(probs, targets) == pytest.approx(
        average_precision_score(targets, probs, average="macro"), abs=1e-9
    )


def test_perfect_frames_give_perfect_onset_f_measure():
    labels = ("beep", "buzz")
    timestamps = np.arange(0, 3000, 50, dtype=np.float32)
    reference = {
        "x.wav": [{"label": "beep", "start": 200.0, "end": 700.0}, {"label": "buzz", "start": 1500.0, "end": 2200.0}]
    }
    frames = frame_targets(reference["x.wav"], timestamps, labels)
    events = frames_to_events(frames, timestamps, labels, median_filter_ms=150, min_duration=60)
    assert [e["label"] for e in events] == ["beep", "buzz"]
    assert event_score("event_onset_200ms_fms", {"x.wav": events}, reference, labels) == pytest.approx(1.0)
    assert event_score("event_onset_200ms_fms", {"x.wav": []}, reference, labels) == 0.0


def test_kfold_splits_rotate_like_heareval(tmp_path):
    task = load_task(make_scene_task(tmp_path, split_mode="new_split_kfold", per_class=1))
    splits = task.data_splits()
    assert [(s.test, s.valid, s.train) for s in splits] == [
        (("fold00",), ("fold01",), ("fold02",)),
        (("fold01",), ("fold02",), ("fold00",)),
        (("fold02",), ("fold00",), ("fold01",)),
    ]


def test_bad_task_metadata_is_named(tmp_path):
    task = make_scene_task(tmp_path, per_class=1)
    meta = json.loads((task / "task_metadata.json").read_text())
    (task / "task_metadata.json").write_text(json.dumps({**meta, "embedding_type": "clip"}))
    with pytest.raises(TaskError, match="embedding_type"):
        load_task(task)
