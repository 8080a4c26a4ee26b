"""Quality of an accuracy predictor: ranking (Kendall tau, Spearman rho) and error (RMSE, MAE).

Search uses the predictor's *ranking* of candidates, so Kendall tau is the figure that matters most.
"""

from __future__ import annotations

import numpy as np

from fastnax.errors import BoundsError


def evaluate(y_true, y_pred) -> dict[str, float]:
    """Kendall tau (tau-b), Spearman rho, RMSE and MAE of predictions against ground truth.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Measured and predicted accuracy (percent). At least two finite pairs.

    Returns
    -------
    dict with ``kendall_tau``, ``spearman_rho`` (NaN when one side is constant), ``rmse``,
    ``mae`` (percentage points) and ``n``.
    """
    from scipy.stats import kendalltau, spearmanr

    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise BoundsError(f"y_true has {y_true.size} values and y_pred {y_pred.size}; they must match")
    if y_true.size < 2:
        raise BoundsError(f"evaluate needs at least 2 predictions, got {y_true.size}")
    if not (np.all(np.isfinite(y_true)) and np.all(np.isfinite(y_pred))):
        raise BoundsError("evaluate got a NaN or infinite value")
    err = y_pred - y_true
    constant = np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    return {
        "kendall_tau": float("nan") if constant else float(kendalltau(y_true, y_pred).statistic),
        "spearman_rho": float("nan") if constant else float(spearmanr(y_true, y_pred).statistic),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mae": float(np.mean(np.abs(err))),
        "n": int(y_true.size),
    }
