"""Tree models of a residual and split-conformal bounds, shared by the analog predictors
(:class:`~fastnax.predictors.PriorResidualPredictor` and the residual trees of
:class:`~fastnax.predictors.MultiFidelityPredictor`): the mean of boosted trees and a random forest
(XGBoost; :data:`BOOSTED`, :data:`FOREST`), and the interval quantiles of out-of-fold residuals."""

from __future__ import annotations

import numpy as np

from fastnax.errors import BoundsError

#: boosted trees of the residual (XGBoost parameters, rounds)
BOOSTED = ({"max_depth": 4, "eta": 0.075, "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 1.0,
            "reg_lambda": 1.0}, 200)
#: a random forest of the residual: one round of parallel trees on row and column subsamples
FOREST = ({"num_parallel_tree": 300, "eta": 1.0, "max_depth": 10, "subsample": 0.632, "colsample_bynode": 0.5,
           "min_child_weight": 2.0, "reg_lambda": 0.0}, 1)
MODELS = {"boosted": BOOSTED, "forest": FOREST}


def conformal_bounds(residuals: np.ndarray, coverage) -> tuple[float, float]:
    """Split-conformal (lower, upper) offsets of a central ``coverage`` interval from residuals
    (n,): their order statistics at ``floor(tail (n + 1))`` and ``ceil((1 - tail)(n + 1))``
    (infinite where n is too small)."""
    try:
        coverage = float(coverage)
    except (TypeError, ValueError):
        raise BoundsError(f"coverage must be a number in (0, 1), got {coverage!r}") from None
    if not 0.0 < coverage < 1.0:
        raise BoundsError(f"coverage must be in (0, 1), got {coverage!r}")
    r = np.sort(residuals)
    n = len(r)
    tail = (1.0 - coverage) / 2.0
    lo_k = int(np.floor(tail * (n + 1))) - 1
    hi_k = int(np.ceil((1.0 - tail) * (n + 1))) - 1
    return (r[lo_k] if lo_k >= 0 else -np.inf), (r[hi_k] if hi_k < n else np.inf)


def fit_trees(A, residual, seed: int, n_jobs: int) -> dict:
    """The residual's tree models (name -> xgboost.Booster), each seeded from ``seed``."""
    import xgboost

    data = xgboost.DMatrix(A, label=residual)
    boosters = {}
    for k, (name, (params, rounds)) in enumerate(MODELS.items()):
        full = {**params, "objective": "reg:squarederror", "tree_method": "hist", "seed": seed * len(MODELS) + k,
                "nthread": n_jobs, "verbosity": 0}
        boosters[name] = xgboost.train(full, data, num_boost_round=rounds)
    return boosters


def predict_trees(boosters: dict, A) -> np.ndarray:
    """The mean prediction (n,) of :func:`fit_trees`'s models on rows A."""
    import xgboost

    data = xgboost.DMatrix(A)
    return np.mean([b.predict(data).astype(np.float64) for b in boosters.values()], axis=0)
