"""Uniform random search in batches, with an archive pruned to what the result can use."""

from __future__ import annotations

import numpy as np

from fastnax.search.evaluator import Archive
from fastnax.search.optimizers.base import register_optimizer

#: Candidates per batch of ``random`` search: memory stays flat in the budget (~0.5 GB peak on imc).
RANDOM_BATCH = 65_536


@register_optimizer("random")
class RandomSearch:
    """Uniform random sampling of the space (``space.sample_vectors``) in batches of ``batch``.

    A budget larger than one batch is drawn batch after batch from one generator, and after each
    batch the archive is cut down to what the result can still use (the feasible Pareto front and
    the feasible candidate of lowest scalar cost), so memory stays flat however large the budget
    (10^7 candidates and more); the front and the best are the same as if everything were kept.
    """

    default_budget = 5_000

    def __init__(self, batch: int | None = None):
        self.batch = batch

    def optimize(self, evaluator, rng: np.random.Generator, budget: int | None) -> dict:
        budget = int(budget or self.default_budget)
        batch = int(self.batch or RANDOM_BATCH)
        # the predictor's records, priced before the optimizer, count against the budget: a budget
        # they already spent leaves nothing to draw (never a negative sample size)
        left = lambda: max(0, int(min(budget - evaluator.n_evaluations, evaluator.remaining)))  # noqa: E731
        if budget <= batch:
            if left():
                evaluator(evaluator.space.sample_vectors(left(), seed=rng))
            return {}
        batches = 0
        while left() > 0:
            evaluator(evaluator.space.sample_vectors(min(batch, left()), seed=rng))
            prune_archive(evaluator)
            batches += 1
        return {"batches": batches, "batch": int(batch),
                "archive": "pruned after each batch to the feasible Pareto front and the best"}


def prune_archive(evaluator) -> None:
    """Keep only the archived candidates that can still be on the front or be the best."""
    from fastnax.search.pareto import non_dominated_mask

    index, cols = evaluator.archive.arrays()
    spec = evaluator.spec
    feasible = spec.violation(cols) <= 0
    keep = np.zeros(len(index), dtype=bool)
    if feasible.any():
        ids = np.flatnonzero(feasible)
        F = np.stack([-cols["accuracy"][ids], cols[spec.cost_column][ids]], axis=1)
        keep[ids[non_dominated_mask(F)]] = True
        keep[int(np.argmin(np.where(feasible, spec.scalar(cols), np.inf)))] = True
    archive = Archive()
    archive.add(index[keep], {k: v[keep] for k, v in cols.items()})
    evaluator.archive = archive
