"""Pareto utilities: vectorized non-dominated sorting and the 2-D hypervolume.

Every objective here is *minimised*; pass ``-accuracy`` for an accuracy. A point ``a`` dominates
``b`` when ``a <= b`` in every objective and ``a < b`` in at least one. Identical objective vectors
do not dominate each other; :func:`non_dominated_mask` keeps the first of them only (a front lists
each trade-off once).
"""

from __future__ import annotations

import numpy as np

from fastnax.errors import BoundsError


def _check(F) -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise BoundsError(f"objective matrix must have shape (n, m), got {F.shape}")
    if F.size and not np.all(np.isfinite(F)):
        raise BoundsError("objective matrix has a NaN or infinite value")
    return F


def non_dominated_mask(F) -> np.ndarray:
    """Boolean mask (n,) of the non-dominated rows of ``F`` (n, m), all objectives minimised.

    Of several identical rows only the first is kept. Two objectives: one sort and a running
    minimum (O(n log n)). More: rows sorted by their sum (a dominating row has a strictly smaller
    sum, so it comes first) are checked in blocks against the front found so far.
    """
    F = _check(F)
    n, m = F.shape
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if m == 1:
        mask[int(np.argmin(F[:, 0]))] = True
        return mask
    if m == 2:
        order = np.lexsort((np.arange(n), F[:, 1], F[:, 0]))  # by f0, then f1, then position
        f1 = F[order, 1]
        best_before = np.concatenate([[np.inf], np.minimum.accumulate(f1)[:-1]])
        mask[order[f1 < best_before]] = True
        return mask
    order = np.lexsort((np.arange(n), F.sum(axis=1)))
    front = np.zeros((0, m))
    kept: list[np.ndarray] = []
    block = 512
    for start in range(0, n, block):
        idx = order[start:start + block]
        B = F[idx]
        alive = np.ones(len(idx), dtype=bool)
        if len(front):
            le = (front[None, :, :] <= B[:, None, :]).all(axis=2)
            lt = (front[None, :, :] < B[:, None, :]).any(axis=2)
            eq = (front[None, :, :] == B[:, None, :]).all(axis=2)
            alive &= ~((le & lt) | eq).any(axis=1)
        # within the block: j removes i if j dominates i, or j equals i and comes first
        le = (B[None, :, :] <= B[:, None, :]).all(axis=2)
        lt = (B[None, :, :] < B[:, None, :]).any(axis=2)
        eq = (B[None, :, :] == B[:, None, :]).all(axis=2)
        earlier = np.arange(len(idx))[None, :] < np.arange(len(idx))[:, None]
        alive &= ~((le & lt) | (eq & earlier)).any(axis=1)
        kept.append(idx[alive])
        front = np.concatenate([front, B[alive]])
    mask[np.concatenate(kept)] = True
    return mask


def non_dominated_mask_bruteforce(F) -> np.ndarray:
    """The O(n²) definition, for tests: a row survives unless dominated by, or equal to an earlier, row."""
    F = _check(F)
    n = F.shape[0]
    out = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            le = np.all(F[j] <= F[i])
            lt = np.any(F[j] < F[i])
            if (le and lt) or (np.all(F[j] == F[i]) and j < i):
                out[i] = False
                break
    return out


def hypervolume_2d(F, reference) -> float:
    """Area dominated by the rows of ``F`` (n, 2) and bounded by ``reference`` (both minimised).

    Rows not strictly better than the reference in both objectives contribute nothing.
    """
    F = _check(F)
    if F.shape[1] != 2:
        raise BoundsError(f"hypervolume_2d needs two objectives, got {F.shape[1]}")
    ref = np.asarray(reference, dtype=float)
    F = F[(F[:, 0] < ref[0]) & (F[:, 1] < ref[1])]
    if not len(F):
        return 0.0
    P = F[non_dominated_mask(F)]
    P = P[np.argsort(P[:, 0])]  # f0 ascending, hence f1 descending on a front
    widths = np.diff(np.concatenate([P[:, 0], [ref[0]]]))
    return float(np.sum(widths * (ref[1] - P[:, 1])))


def accuracy_cost_matrix(accuracy, cost, log_cost: bool = True) -> np.ndarray:
    """The minimisation matrix (n, 2) ``(-accuracy, log10 cost)`` of an accuracy/cost trade-off."""
    accuracy = np.asarray(accuracy, dtype=float)
    cost = np.asarray(cost, dtype=float)
    return np.stack([-accuracy, np.log10(cost) if log_cost else cost], axis=1)
