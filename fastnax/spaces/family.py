"""Macro families: the level-1 relaxation a space offers to the hierarchical search.

A :class:`Family` maps a handful (at most :data:`MAX_MACRO`) of integer macro variables (block
type, depth, width, kernel, crossbar size, ...) to full vectors of the space: one family of
architectures, uniform within its macro settings. The hierarchical search prices the whole macro
grid in one batch, relaxes it and refines its best points per coordinate. A space returns its
family from ``SearchSpace.macro_family()``; every vector a family yields must lie in the space's
bounds (``check_search_space`` checks it).
"""

from __future__ import annotations

import itertools
import re

import numpy as np

MAX_MACRO = 6


class Family:
    """Macro variables of a space: ``names``, ``levels`` (m,) and ``to_vectors(Z) -> X``.

    The default groups coordinates by the last word of their name (``..._kernel``,
    ``..._crossbar``, ``..._blocks``): a macro variable sets every coordinate of its group to the
    same level (clipped to the coordinate's own range). At most six groups, the largest first;
    coordinates of other groups stay at their lower bound.
    """

    def __init__(self, space):
        self.space = space
        bounds = space.bounds
        groups: dict[str, list[int]] = {}
        for j, name in enumerate(space.coordinate_names):
            key = re.sub(r"\d+", "", name.rsplit("_", 1)[-1]) or name
            groups.setdefault(key, []).append(j)
        ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:MAX_MACRO]
        self.names = [k for k, _ in ranked]
        self.groups = [np.asarray(v) for _, v in ranked]
        self._lo = bounds[:, 0]
        self._hi = bounds[:, 1]
        # levels count from each group's lowest lower bound (a group of coordinates bounded
        # [lo, hi] offers hi - lo + 1 levels, not hi + 1)
        self._base = [float(bounds[g, 0].min()) for g in self.groups]
        self.levels = [int(bounds[g, 1].max() - b) + 1 for g, b in zip(self.groups, self._base)]

    def to_vectors(self, Z: np.ndarray) -> np.ndarray:
        """Vectors (n, d) of macro points ``Z`` (n, m), in the space's bounds."""
        Z = np.asarray(Z, dtype=np.int64)
        X = np.tile(self._lo, (Z.shape[0], 1))
        for k, cols in enumerate(self.groups):
            X[:, cols] = np.clip(Z[:, k][:, None] + self._base[k], self._lo[cols][None, :],
                                 self._hi[cols][None, :])
        return X

    def grid(self) -> np.ndarray:
        """All macro points (G, m), in C order of ``levels``."""
        return np.asarray(list(itertools.product(*[range(n) for n in self.levels])), dtype=np.int64)

    def repair(self, starts: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        """Space-specific fix-up of single-coordinate moves (default: none)."""
        return neighbours
