"""A restriction of a search space: a few free coordinates, the others fixed (``base_index``
maps its rows to the base space, whose fast paths it uses).

Useful to search around a design (only the crossbar sizes of ResNet-20, say) and to build spaces
small enough to enumerate, where the exhaustive optimum checks the other optimizers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fastnax.arch import Architecture, LayerTable
from fastnax.errors import ArchitectureError, BoundsError, unknown
from fastnax.spaces.base import SearchSpace


class Restriction(SearchSpace):
    """The points of ``base`` equal to ``fixed`` outside the ``free`` coordinates.

    Parameters
    ----------
    base : SearchSpace
    fixed : Architecture, str or array (d_base,)
        The design that supplies every coordinate that is not free.
    free : sequence of str or int
        Names (``base.coordinate_names``) or positions of the coordinates left to search.
    upper : dict, optional
        Lower upper bounds for some free coordinates (name or position -> largest level index),
        to make the space smaller.

    Architectures decode to the base space (their strings are the base space's); the space
    reports the base's ``name`` and ``options`` so that predictors fitted on the base apply.
    """

    def __init__(self, base: SearchSpace, fixed, free: Sequence, upper: dict | None = None):
        self.base = base
        self.name = base.name
        # whose architectures (and so predictors) these are: the base's (a restriction of nax is
        # scored by imc predictors, as nax itself is)
        self.architectures_of = getattr(base, "architectures_of", base.name)
        self.options = dict(getattr(base, "options", {}))
        if isinstance(fixed, (Architecture, str)):
            fixed = base.encode([fixed])[0]
        fixed = np.asarray(fixed, dtype=float)
        self.fixed = base.to_index(fixed[None])[0]
        names = base.coordinate_names
        positions = []
        for f in free:
            if isinstance(f, str):
                if f not in names:
                    raise unknown(f"coordinate of the {base.name} space", f, names)
                positions.append(names.index(f))
            else:
                if not 0 <= int(f) < base.dim:
                    raise BoundsError(f"coordinate {f} is out of range; the {base.name} space has {base.dim}")
                positions.append(int(f))
        if not positions or len(set(positions)) != len(positions):
            raise BoundsError("free coordinates must be a non-empty list without repeats")
        self.free = np.asarray(positions)
        bounds = base.bounds[self.free].copy()
        for key, hi in (upper or {}).items():
            j = names.index(key) if isinstance(key, str) else int(key)
            where = np.flatnonzero(self.free == j)
            if not len(where) or not bounds[where[0], 0] <= hi <= base.bounds[j, 1]:
                raise BoundsError(f"upper bound {hi} for coordinate {key!r} is not valid")
            bounds[where[0], 1] = hi
        self._bounds = bounds

    @property
    def bounds(self) -> np.ndarray:
        return self._bounds.copy()

    @property
    def coordinate_names(self) -> list[str]:
        names = self.base.coordinate_names
        return [names[j] for j in self.free]

    def to_base(self, X) -> np.ndarray:
        """Base-space integer vectors (n, d_base) of a batch of restricted vectors."""
        return self.base_index(SearchSpace.to_index(self, X))

    @property
    def base_space(self) -> SearchSpace:
        return self.base

    def base_index(self, index: np.ndarray) -> np.ndarray:
        """Canonical base rows (n, d_base): the fixed design with the free coordinates set."""
        index = np.asarray(index, dtype=np.int64)
        out = np.tile(self.fixed, (index.shape[0], 1))
        out[:, self.free] = index
        return self.base.canonicalize(out)

    def canonicalize(self, index: np.ndarray) -> np.ndarray:
        """Coordinates that the base resets (inactive ones) are reset here too."""
        index = np.asarray(index, dtype=np.int64)
        full = np.tile(self.fixed, (index.shape[0], 1))
        full[:, self.free] = index
        return self.base.canonicalize(full)[:, self.free]

    def _arch_from_index(self, row: np.ndarray) -> Architecture:
        return self.base._arch_from_index(self.to_base(np.asarray(row, float)[None])[0])

    def _index_from_arch(self, arch: Architecture) -> np.ndarray:
        g = np.asarray(self.base._index_from_arch(arch), dtype=np.int64)
        row = g[self.free]
        lo, hi = self._bounds[:, 0], self._bounds[:, 1]
        # a member is the fixed design with its free coordinates set, canonicalized by the base
        # (fewer blocks reset the fixed design's kernels of the dropped blocks, say)
        if np.any(row < lo) or np.any(row > hi) or not np.array_equal(self.base_index(row[None])[0], g):
            raise ArchitectureError(f"architecture {str(arch)[:60]!r} differs from the restriction's "
                                    f"fixed design outside its free coordinates")
        return row

    @property
    def size(self) -> int:
        lo, hi = self._bounds[:, 0].astype(int), self._bounds[:, 1].astype(int)
        box = np.stack(np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi)], indexing="ij"), -1)
        if box.size > 50_000_000:
            raise BoundsError("restriction too large to count exactly")
        return int(len(np.unique(self.canonicalize(box.reshape(-1, len(lo))), axis=0)))

    def _baselines(self) -> dict[str, np.ndarray]:
        return {}

    # --- the fast paths: the base space's, on the base rows --------------------------------------
    def build_layers(self, arch: Architecture):
        return self.base.build_layers(arch)

    def layer_table_from_index(self, index: np.ndarray) -> LayerTable:
        return self.base.layer_table_from_index(self.base_index(index))

    def features_from_index(self, index: np.ndarray) -> np.ndarray:
        return self.base.features_from_index(self.base_index(index))

    def network_coordinates(self) -> np.ndarray:
        return np.asarray(self.base.network_coordinates(), dtype=bool)[self.free]

    def knob_coordinates(self) -> dict | None:
        """A knob set by a free coordinate is that coordinate; a knob the base sets by a fixed
        coordinate (or by its options) is constant here."""
        where = self.base.knob_coordinates()
        if where is None:
            return None
        position = {int(j): i for i, j in enumerate(self.free)}
        return {name: (position.get(int(j)) if j is not None else None) for name, j in where.items()}

    def exchangeable_coordinates(self) -> list[list[int]]:
        """The base's groups, over the free coordinates of each with the same bounds here."""
        position = {int(j): i for i, j in enumerate(self.free)}
        out = []
        for group in self.base.exchangeable_coordinates():
            free = [position[int(j)] for j in group if int(j) in position]
            by_bounds: dict = {}
            for i in free:
                by_bounds.setdefault(tuple(self._bounds[i]), []).append(i)
            out.extend(g for g in by_bounds.values() if len(g) > 1)
        return out

    def describe(self) -> dict:
        return {**super().describe(), "restriction_of": self.base.name, "free": self.coordinate_names}
