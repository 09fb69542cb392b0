"""Contrastive objectives: loss and accuracy on embeddings whose pairing is known."""

from __future__ import annotations

import pytest
import torch

from pretrain.config import ObjectiveConfig
from pretrain.objectives import SoftmaxContrastive, TripletObjective, build_objective


def paired(batch: int = 6, dim: int = 32, noise: float = 0.01, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(batch, dim, generator=g)
    return anchors, anchors + noise * torch.randn(batch, dim, generator=g)


@pytest.mark.parametrize("name", ["bilinear", "cosine", "triplet"])
def test_objectives_return_a_scalar_loss_and_accuracy_with_gradients(name):
    objective = build_objective(ObjectiveConfig(name=name, projection_dim=16), embedding_size=32)
    anchors, positives = paired()
    anchors.requires_grad_(True)
    loss, accuracy = objective(anchors, positives)
    assert loss.shape == () and accuracy.shape == () and 0.0 <= accuracy.item() <= 1.0
    loss.backward()
    assert anchors.grad is not None and torch.isfinite(anchors.grad).all()
    assert all(p.grad is not None for p in objective.parameters())


def test_softmax_contrastive_uses_labels_arange_and_argmax_accuracy():
    identity = torch.nn.Identity()

    class Dot(torch.nn.Module):
        def forward(self, a, p):
            return a @ p.t()

    objective = SoftmaxContrastive(identity, Dot())
    eye = 10 * torch.eye(4)
    loss, accuracy = objective(eye, eye)
    assert accuracy.item() == 1.0 and loss.item() < 1e-3
    shuffled = eye[[1, 0, 2, 3]]
    loss2, accuracy2 = objective(eye, shuffled)
    assert accuracy2.item() == 0.5
    expected = torch.nn.functional.cross_entropy(eye @ shuffled.t(), torch.arange(4))
    assert loss2.item() == pytest.approx(expected.item())


@pytest.mark.parametrize("negative", ["hardest", "random"])
def test_triplet_loss_is_zero_when_pairs_are_separated_by_the_margin(negative):
    objective = TripletObjective(torch.nn.Identity(), margin=0.5, negative=negative)
    eye = torch.eye(4)
    loss, accuracy = objective(eye, eye)  # d(a, p) = 0, d(a, n) = 1 > margin
    assert loss.item() == 0.0 and accuracy.item() == 1.0
    loss_far, _ = objective(eye, eye[[1, 0, 3, 2]])  # positives are the other rows: d(a, p) = 1
    assert loss_far.item() == pytest.approx(1.5 if negative == "hardest" else loss_far.item())
    assert loss_far.item() > 0.4
