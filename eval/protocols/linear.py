"""Logistic regression on frozen embeddings: a torch linear layer, L2 strength chosen on validation data.

Features are standardised with the training set's mean and std. One linear model
per L2 strength in the grid is trained at the same time (one batched weight
tensor, Adam, mini-batches); after every epoch each model is scored on the
validation data and its best epoch is kept. The model with the best validation
score (ties: lower validation loss) is returned. The seed sets the initial weights
and the mini-batch order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

ScoreFn = Callable[[np.ndarray, np.ndarray], float]  # (probabilities, targets) -> higher is better


@dataclass(frozen=True)
class LinearConfig:
    """Training recipe of the probe."""

    l2_grid: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # penalty l2 * ||W||^2 on the mean loss
    lr: float = 3e-3
    batch_size: int = 256  # at most; small training sets use smaller batches (>= 16 steps an epoch, >= 32 examples)
    max_epochs: int = 100
    patience: int = 10  # stop when the best validation score has not improved for this many epochs

    def __post_init__(self) -> None:
        if not self.l2_grid or min(self.l2_grid) < 0:
            raise ValueError(f"l2_grid must hold non-negative values, got {self.l2_grid}")
        if self.max_epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("max_epochs and batch_size must be >= 1 and lr > 0")


@dataclass
class LinearProbe:
    """A trained probe: standardisation, weights and the chosen hyper-parameters."""

    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  # (D, C)
    bias: np.ndarray  # (C,)
    multilabel: bool
    l2: float
    epoch: int
    valid_score: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities: softmax (multiclass) or per-class sigmoid (multilabel)."""
        logits = ((x - self.mean) / self.std) @ self.weight + self.bias
        t = torch.from_numpy(logits.astype(np.float32))
        return (torch.sigmoid(t) if self.multilabel else torch.softmax(t, dim=-1)).numpy()


def fit_linear(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    score_fn: ScoreFn,
    multilabel: bool,
    seed: int,
    config: LinearConfig | None = None,
) -> LinearProbe:
    """Train the probe grid on ``(x_train, y_train)``, choose on ``(x_valid, y_valid)``.

    ``y_*`` are multi-hot ``(n, C)`` float arrays; for multiclass each row has exactly one 1.
    """
    config = config or LinearConfig()
    _check(x_train, y_train, "train", multilabel)
    _check(x_valid, y_valid, "valid", multilabel)
    gen = torch.Generator().manual_seed(seed)
    mean = x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = x_train.std(axis=0, dtype=np.float64).astype(np.float32)
    std[std < 1e-6] = 1.0  # constant features stay constant (zero) instead of exploding
    xt = torch.from_numpy((x_train - mean) / std)
    xv = torch.from_numpy((x_valid - mean) / std)
    yt, yv = torch.from_numpy(y_train.astype(np.float32)), torch.from_numpy(y_valid.astype(np.float32))
    n, d = xt.shape
    c = yt.shape[1]
    l2 = torch.tensor(config.l2_grid, dtype=torch.float32)
    g = len(l2)
    weight = torch.randn(g, d, c, generator=gen) / d**0.5
    bias = torch.zeros(g, 1, c)
    opt = torch.optim.Adam([weight, bias], lr=config.lr, fused=True)

    best_key = [(-np.inf, -np.inf)] * g  # (valid score, -valid loss) per grid point
    best_state = [(weight[i].clone(), bias[i].clone(), 0) for i in range(g)]
    stale = 0
    batch_size = min(config.batch_size, max(32, -(-n // 16)))
    for epoch in range(1, config.max_epochs + 1):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            weight.grad, bias.grad = _gradients(xt[idx], yt[idx], weight, bias, l2, multilabel)
            opt.step()
        with torch.no_grad():
            logits = _logits(xv, weight, bias)
            valid_loss = _losses(logits, yv, multilabel)
            probs = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
        best_before = max(k[0] for k in best_key)
        for i in range(g):
            score = score_fn(probs[i].numpy(), y_valid)
            key = (score if np.isfinite(score) else -np.inf, -float(valid_loss[i]))
            if key > best_key[i]:
                best_key[i] = key
                best_state[i] = (weight[i].clone(), bias[i].clone(), epoch)
        stale = 0 if max(k[0] for k in best_key) > best_before else stale + 1
        if stale >= config.patience:
            break
    chosen = max(range(g), key=lambda i: best_key[i])
    w, b, epoch = best_state[chosen]
    return LinearProbe(
        mean=mean,
        std=std,
        weight=w.numpy(),
        bias=b[0].numpy(),
        multilabel=multilabel,
        l2=float(config.l2_grid[chosen]),
        epoch=epoch,
        valid_score=float(best_key[chosen][0]),
    )


def _logits(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Logits of every grid point, (n, D) x (G, D, C) -> (G, n, C), as one (n, D) @ (D, G*C) product
    (a broadcast batched matmul is several times slower on CPU with few classes)."""
    return torch.einsum("nd,gdc->gnc", x, weight) + bias


def _gradients(
    x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, l2: torch.Tensor, multilabel: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of every grid point's loss on a batch, ``_losses`` plus ``l2 * ||W||^2``, in closed form:
    the logits' gradient of the mean cross-entropy is (probabilities - targets) / its count (autograd gives the
    same to float rounding at a third of the cost for a model this small)."""
    logits = _logits(x, weight, bias)  # (G, n, C)
    if multilabel:
        delta = (torch.sigmoid(logits) - y) / (y.shape[0] * y.shape[1])
    else:
        delta = (torch.softmax(logits, dim=-1) - y) / y.shape[0]
    # contiguous: the fused Adam step misreads a strided gradient (einsum returns one) without an error
    grad_w = torch.einsum("nd,gnc->gdc", x, delta).contiguous() + 2 * l2[:, None, None] * weight
    return grad_w, delta.sum(dim=1, keepdim=True)


def _losses(logits: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Mean loss of each grid point: ``logits`` (G, n, C), ``targets`` (n, C) -> (G,)."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, targets.expand_as(logits), reduction="none").mean(dim=(1, 2))
    g, n, c = logits.shape
    classes = targets.argmax(dim=1).repeat(g)
    return F.cross_entropy(logits.reshape(g * n, c), classes, reduction="none").view(g, n).mean(dim=1)


def _check(x: np.ndarray, y: np.ndarray, name: str, multilabel: bool) -> None:
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"{name}: need x (n, D) and y (n, C) with the same n, got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError(f"{name}: no examples")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: embeddings contain NaN or inf")
    if not multilabel and not np.all(y.sum(axis=1) == 1):
        raise ValueError(f"{name}: multiclass targets need exactly one label per example")
