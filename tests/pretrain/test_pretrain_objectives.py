"""Contrastive objectives: loss and accuracy on embeddings whose pairing is known."""

from __future__ import annotations

import pytest
import torch

from cola_pretrain.config import ObjectiveConfig
from cola_pretrain.objectives import SoftmaxContrastive, TripletObjective, build_objective


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
    swapped = eye[[1, 0, 3, 2]]  # positives are the other rows: d(a, p) = 1
    # each anchor loses 1.5 when its negative is its partner's row (d(a, n) = 0), else 0.5 (d(a, n) = 1)
    torch.manual_seed(0)
    losses = torch.tensor([objective(eye, swapped)[0].item() for _ in range(600)])
    if negative == "hardest":  # the hardest negative is always the partner
        assert torch.all(losses == 1.5)
    else:  # a random other row: the partner one time in three, never the anchor's own positive
        assert set(losses.tolist()) <= {0.5, 0.75, 1.0, 1.25, 1.5}
        assert losses.std() > 0
        assert losses.mean().item() == pytest.approx(0.5 + 1 / 3, abs=0.04)  # drawing itself too would give 0.75


@pytest.mark.parametrize(
    ("name", "head", "squashed"),
    [("bilinear", "official", True), ("cosine", "official", False), ("triplet", "official", False),
     ("cosine", "squash", True), ("bilinear", "squash", True)],
)  # fmt: skip
def test_the_projection_is_squashed_for_bilinear_only_as_in_the_official_code(name, head, squashed):
    objective = build_objective(ObjectiveConfig(name=name, head=head, projection_dim=8), embedding_size=16)
    assert (objective.head.norm is not None) == squashed
    out = objective.head(100 * torch.randn(5, 16))
    assert (out.abs().max().item() <= 1.0) == squashed  # tanh bounds the squashed projection
