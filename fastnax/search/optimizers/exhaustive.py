"""Exhaustive enumeration of a small space (the reference the other optimizers are checked on)."""

from __future__ import annotations

import numpy as np

from fastnax.errors import BoundsError
from fastnax.search.optimizers.base import register_optimizer

#: Largest space ``exhaustive`` enumerates (canonical configurations).
EXHAUSTIVE_LIMIT = 2_000_000


def enumerate_space(space, limit: int = EXHAUSTIVE_LIMIT) -> np.ndarray:
    """Every canonical configuration of a space small enough to enumerate, (size, d)."""
    size = space.size
    if size > limit:
        raise BoundsError(f"the {space.name} space has {size:.3g} configurations; exhaustive search "
                          f"enumerates at most {limit:,} (use method hierarchical, de or random)")
    if hasattr(space, "all_vectors"):
        return np.asarray(space.all_vectors(), dtype=float)
    bounds = space.bounds.astype(np.int64)
    box = int(np.prod(bounds[:, 1] - bounds[:, 0] + 1, dtype=object))
    if box > 4 * limit:
        raise BoundsError(f"the {space.name} space's coordinate box has {box:.3g} points; exhaustive "
                          f"search enumerates at most {4 * limit:,}")
    grids = np.meshgrid(*[np.arange(lo, hi + 1) for lo, hi in bounds], indexing="ij")
    index = np.stack([g.reshape(-1) for g in grids], axis=1)
    index = np.unique(space.canonicalize(index), axis=0)
    return index.astype(float)


@register_optimizer("exhaustive")
class Exhaustive:
    """Price every configuration (in chunks of ``chunk`` rows, one call each).

    A budget smaller than the space is refused: an enumeration cut short is not exhaustive."""

    default_budget = None

    def __init__(self, chunk: int = 100_000):
        self.chunk = chunk

    def optimize(self, evaluator, rng: np.random.Generator, budget: int | None) -> dict:
        X = enumerate_space(evaluator.space)
        if budget is not None and budget < len(X):
            raise BoundsError(f"exhaustive search prices all {len(X):,} configurations of the "
                              f"{evaluator.space.name} space; budget {budget} is smaller (omit it)")
        for start in range(0, len(X), self.chunk):
            evaluator(X[start:start + self.chunk], limit=False)
        return {"enumerated": int(len(X))}
