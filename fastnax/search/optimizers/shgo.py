"""SHGO (simplicial homology global optimisation) directly on a small space."""

from __future__ import annotations

import numpy as np

from fastnax.errors import BoundsError
from fastnax.search.evaluator import BudgetExhausted
from fastnax.search.optimizers.base import register_optimizer

#: Largest dimension ``shgo`` accepts on a whole space (its triangulation grows as 2^d).
SHGO_MAX_DIM = 8


@register_optimizer("shgo")
class Shgo:
    """SHGO (simplicial) directly on a small space (``d <= 8``) on the rounded objective.

    SHGO asks for one point at a time (its own sampling and local searches); points round to
    integer vectors, and each distinct vector is priced once (a cache), so the budget counts
    distinct candidates. This is the small-space baseline; ``hierarchical`` is the fast path.
    """

    default_budget = 5_000

    def optimize(self, evaluator, rng: np.random.Generator, budget: int | None) -> dict:
        from scipy.optimize import shgo

        space = evaluator.space
        if space.dim > SHGO_MAX_DIM:
            raise BoundsError(f"shgo searches spaces of at most {SHGO_MAX_DIM} coordinates; the "
                              f"{space.name} space has {space.dim} (use method hierarchical)")
        budget = int(budget or self.default_budget)
        cache: dict[bytes, float] = {}

        def one(x):
            row = space.to_index(np.clip(np.asarray(x, float), space.bounds[:, 0], space.bounds[:, 1]))[0]
            key = row.tobytes()
            if key not in cache:
                try:
                    cache[key] = float(evaluator.scalar(row[None].astype(float))[0])
                except BudgetExhausted:
                    cache[key] = 1e6
            return cache[key]

        n = min(2 ** space.dim + 1, budget)
        shgo(one, [tuple(b) for b in space.bounds], n=n, iters=2, sampling_method="simplicial",
             minimizer_kwargs={"method": "COBYLA", "options": {"maxiter": 20}},
             options={"minimize_every_iter": False, "maxfev": budget})
        return {"n": n, "distinct_points": len(cache)}
