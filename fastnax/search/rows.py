"""Distinct rows of integer matrices by a 64-bit hash, exact on collisions (the archive, the
shared predictions and the records' lookup all group candidates this way)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def first_occurrences(index: np.ndarray) -> np.ndarray:
    """Positions (sorted) of the first occurrence of each distinct row of an int matrix (n, d)."""
    return unique_rows(index)[0]


@lru_cache(maxsize=32)
def _row_hash_weights(d: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers (d,) for row hashes (a seeded generator of its own)."""
    return np.random.default_rng(2024).integers(1, 2**62, size=d, dtype=np.int64) | 1


def row_hashes(index: np.ndarray) -> np.ndarray:
    """64-bit hashes (n,) of the rows of an int matrix (n, d) (wrapping arithmetic)."""
    index = np.asarray(index)
    with np.errstate(over="ignore"):
        return (index.astype(np.int64, copy=False) * _row_hash_weights(index.shape[1])).sum(axis=1)


def find_rows(keys: np.ndarray, rows: np.ndarray, index: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Position in ``rows`` of each row of ``index`` (n,), -1 where it is absent.

    ``keys`` are the sorted :func:`row_hashes` of ``rows`` and ``where`` the position in ``rows``
    of each key (None: ``rows`` are in key order). One ``searchsorted``; every hit is checked
    against the whole row, so a hash collision is a miss, never a wrong row."""
    n = len(index)
    if not len(keys) or not n:
        return np.full(n, -1, dtype=np.int64)
    h = row_hashes(index)
    pos = np.minimum(np.searchsorted(keys, h), len(keys) - 1)
    row = pos if where is None else where[pos]
    hit = keys[pos] == h
    hit[hit] = (rows[row[hit]] == index[hit]).all(axis=1)
    return np.where(hit, row, -1)


def unique_rows(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an int matrix (n, d): (sorted first positions (u,), inverse (n,)).

    Rows are grouped by a 64-bit hash (one stable argsort), then every row is compared in full
    with its group's first row: two different rows are never merged. On a hash collision (never
    seen in practice) the exact ``np.unique(axis=0)`` path is taken instead; it is ~10x slower.
    """
    index = np.asarray(index)
    n, d = index.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    h = row_hashes(index)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(hs[1:], hs[:-1], out=new[1:])
    leader = order[new]  # first position of each hash group (stable sort: smallest index)
    group = np.empty(n, dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    if not (index == index[leader[group]]).all():
        _, first, inverse = np.unique(index, axis=0, return_index=True, return_inverse=True)
        leader, group = first, inverse.reshape(-1)
    rank = np.argsort(leader, kind="stable")  # groups renumbered by first position
    renumber = np.empty_like(rank)
    renumber[rank] = np.arange(len(rank))
    return leader[rank], renumber[group]
