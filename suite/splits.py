"""Seeded, order-independent randomness and group-wise train/valid/test assignment.

Every random choice of a build comes from ``rng_for(seed, *names)``: a generator
derived from the seed and stable names (task, clip stem), so results do not
depend on iteration order, on parallelism or on whether the mini or the full
suite is built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

SPLITS = ("train", "valid", "test")
FRACTIONS = (0.6, 0.2, 0.2)


def stable_int(*names: object) -> int:
    """A 63-bit integer from the SHA-256 of ``names`` (the same on every machine and run)."""
    text = "\x1f".join(str(n) for n in names)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def rng_for(seed: int, *names: object) -> np.random.Generator:
    """A generator for one named purpose (e.g. one clip of one task) under ``seed``."""
    return np.random.default_rng([int(seed), stable_int(*names)])


def assign_groups(
    weights: Mapping[str, float],
    seed: int,
    key: str,
    fractions: Sequence[float] = FRACTIONS,
    labels: Mapping[str, set[str]] | None = None,
    tries: int = 300,
) -> dict[str, str]:
    """Assign each nuisance group (speaker, kit, piece...) to one split.

    ``weights`` gives each group's size (clips or seconds); the split sizes approach
    ``fractions``. With ``labels`` (group -> labels it holds), only assignments in which
    every split holds every label are accepted when one exists among ``tries`` seeded
    shuffles. Deterministic for a given seed, key and group set.
    """
    groups = sorted(weights)
    if len(fractions) != len(SPLITS):
        raise ValueError(f"{key}: give one fraction per split {SPLITS}")
    if len(groups) < len(SPLITS):
        raise ValueError(f"{key}: {len(groups)} groups cannot fill {len(SPLITS)} splits")
    total = float(sum(weights.values()))
    target = np.asarray(fractions, dtype=float) / float(sum(fractions))
    every = set().union(*labels.values()) if labels else set()
    best: tuple[float, dict[str, str]] | None = None
    for attempt in range(tries):
        rng = rng_for(seed, "assign-groups", key, attempt)
        order = [groups[i] for i in rng.permutation(len(groups))]
        filled = np.zeros(len(target))
        assignment: dict[str, str] = {}
        for i, group in enumerate(order):
            remaining = len(order) - i
            empty = [s for s in range(len(target)) if filled[s] == 0]
            # fill the split furthest below its target, but keep every split non-empty
            s = empty[0] if len(empty) >= remaining else int(np.argmax(target - filled / total))
            assignment[group] = SPLITS[s]
            filled[s] += weights[group]
        error = float(np.abs(filled / total - target).sum())
        if labels:
            covered = all(
                every <= set().union(*(labels[g] for g in groups if assignment[g] == split)) for split in SPLITS
            )
            error += 0.0 if covered else 10.0
        if best is None or error < best[0]:
            best = (error, assignment)
    assert best is not None
    return best[1]


def connected(links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Connected components of an undirected graph given by edges: every node -> the smallest
    node of its component (e.g. stamps linked by a recording they share become one group)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}
