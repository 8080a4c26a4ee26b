"""Integral differential evolution (``scipy.optimize.differential_evolution``), vectorized."""

from __future__ import annotations

import numpy as np

from fastnax.search.evaluator import BudgetExhausted
from fastnax.search.optimizers.base import register_optimizer


@register_optimizer("de")
class DifferentialEvolution:
    """``scipy.optimize.differential_evolution`` with ``integrality`` and ``vectorized=True``.

    The population is about 40-200 candidates (``popsize`` times the dimension, rounded); the
    number of generations follows from the budget. Each generation is one evaluator call.
    """

    default_budget = 10_000

    def optimize(self, evaluator, rng: np.random.Generator, budget: int | None) -> dict:
        from scipy.optimize import differential_evolution as scipy_de

        space = evaluator.space
        d = space.dim
        budget = int(budget or self.default_budget)
        popsize = max(2, int(np.ceil(min(200, max(40, 4 * d)) / d)))
        population = popsize * d
        maxiter = max(1, budget // population - 1)

        def cost(x):
            X = np.asarray(x, dtype=float).T  # scipy passes (d, S) when vectorized
            J = np.full(X.shape[0], np.inf)  # candidates past the budget are never priced
            try:
                priced = evaluator.scalar(X)  # the evaluator truncates a batch to the budget left
                J[:len(priced)] = priced
            except BudgetExhausted:
                pass
            return J

        scipy_de(cost, space.bounds, integrality=space.integrality, vectorized=True, updating="deferred",
                 popsize=popsize, maxiter=maxiter, polish=False, tol=0.0, rng=rng)
        return {"popsize": popsize, "population": population, "maxiter": maxiter}
