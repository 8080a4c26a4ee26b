"""The SearchSpace contract: the one owner of the mapping between architectures and vectors.

A space is a box of integer coordinates (``bounds``, ``integrality``) that SciPy optimizers search,
plus the code that turns any in-bounds vector into a valid architecture (``decode``: rounding and
clipping are the decoder's job) and back (``encode``). Inactive coordinates (the kernel of a block
that does not exist, say) are reset to a canonical value, so ``encode(decode(x))`` is the canonical
form of ``x`` and ``encode`` of a decoded point is the point itself.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fastnax.arch import Architecture, LayerTable
from fastnax.errors import ArchitectureError, BoundsError, unknown


class SearchSpace:
    """Base class of the search spaces. Subclasses set ``name`` and implement the hooks."""

    name: str = "space"

    # --- to be provided by subclasses -------------------------------------------------------
    @property
    def bounds(self) -> np.ndarray:
        """Array of shape (d, 2): inclusive lower and upper bound of every coordinate."""
        raise NotImplementedError

    @property
    def coordinate_names(self) -> list[str]:
        raise NotImplementedError

    def canonicalize(self, index: np.ndarray) -> np.ndarray:
        """Reset inactive coordinates of an integer matrix (n, d) to their canonical value."""
        raise NotImplementedError

    def active(self, index: np.ndarray) -> np.ndarray | None:
        """Boolean (n, d): which coordinates of canonical rows affect the network.

        A change to an inactive coordinate alone is undone by :meth:`canonicalize`, so searches
        skip such moves. ``None`` (the default) means every coordinate may matter.
        """
        return None

    def _arch_from_index(self, row: np.ndarray) -> Architecture:
        raise NotImplementedError

    def _index_from_arch(self, arch: Architecture) -> np.ndarray:
        raise NotImplementedError

    def layer_table(self, X_or_archs) -> LayerTable:
        raise NotImplementedError

    @property
    def size(self) -> int:
        """Exact number of distinct configurations (a Python int)."""
        raise NotImplementedError

    def baselines(self) -> list[str]:
        return sorted(self._baselines())

    def _baselines(self) -> dict[str, np.ndarray]:
        return {}

    # --- shared behaviour ----------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.bounds.shape[0])

    @property
    def integrality(self) -> np.ndarray:
        """Boolean array (d,): every coordinate of the built-in spaces is an integer."""
        return np.ones(self.dim, dtype=bool)

    def to_index(self, X) -> np.ndarray:
        """Round and check a batch of vectors; returns the canonical integer matrix (n, d)."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise BoundsError(
                f"{self.name} space vectors have {self.dim} coordinates, got an array of shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise BoundsError(f"{self.name} space vector has a NaN or infinite coordinate")
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        bad = (X < lo - 1e-9) | (X > hi + 1e-9)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise BoundsError(
                f"{self.name} space coordinate {j} ({self.coordinate_names[j]}) = {X[i, j]:g} is out of "
                f"bounds; valid: {lo[j]:g} to {hi[j]:g}")
        index = np.clip(np.floor(X + 0.5), lo, hi).astype(np.int64)
        return self.canonicalize(index)

    def decode(self, X) -> list[Architecture]:
        """Architectures of a batch of in-bounds vectors ``X`` of shape (n, d) (or one vector)."""
        return [self._arch_from_index(row) for row in self.to_index(X)]

    def encode(self, archs: Architecture | Sequence[Architecture]) -> np.ndarray:
        """Canonical vectors (n, d) of architectures of this space."""
        if isinstance(archs, (Architecture, str)):
            archs = [archs]
        rows = []
        for arch in archs:
            if isinstance(arch, str):
                arch = Architecture.from_string(arch)
            rows.append(self._index_from_arch(arch))
        if not rows:
            return np.zeros((0, self.dim))
        return np.asarray(rows, dtype=float)

    def contains(self, arch: Architecture) -> bool:
        try:
            self._index_from_arch(arch)
        except ArchitectureError:
            return False
        return True

    def sample_vectors(self, n: int, seed: int | np.random.Generator | None = 0,
                       max_macs: float | None = None) -> np.ndarray:
        """``n`` canonical vectors (n, d) drawn uniformly per coordinate, reproducible by seed.

        With ``max_macs``, draws whose network needs more multiply-accumulates per inference are
        rejected (uniform sampling of a macro space yields many networks too large to train in a
        sampling budget; the records then cover the trainable part of the space).
        """
        if int(n) < 0:
            raise BoundsError(f"sample size must be >= 0, got {n}")
        if max_macs is not None and not (float(max_macs) > 0):
            raise BoundsError(f"max_macs must be a positive number, got {max_macs!r}")
        rng = np.random.default_rng(seed)
        lo, hi = self.bounds[:, 0].astype(np.int64), self.bounds[:, 1].astype(np.int64)
        if max_macs is None:
            index = rng.integers(lo, hi + 1, size=(int(n), self.dim))
            return self.canonicalize(index).astype(float)
        kept, total, draws = [], 0, 0
        batch = max(8192, 4 * int(n))
        while total < int(n):
            X = self.canonicalize(rng.integers(lo, hi + 1, size=(batch, self.dim))).astype(float)
            ok = X[self.macs(X) <= float(max_macs)]
            kept.append(ok)
            total += len(ok)
            draws += batch
            if draws >= 200_000 and total < int(n):
                raise BoundsError(f"max_macs={max_macs:g} admits too few members of the {self.name} space "
                                  f"({total} in {draws:,} draws); raise it")
        return np.concatenate(kept)[:int(n)]

    def sample(self, n: int, seed: int | np.random.Generator | None = 0,
               max_macs: float | None = None) -> list[Architecture]:
        """``n`` random architectures of the space, reproducible by seed (see sample_vectors)."""
        return self.decode(self.sample_vectors(n, seed, max_macs)) if n else []

    def macs(self, X_or_archs) -> np.ndarray:
        """Multiply-accumulates per inference of a batch (vectorized through the layer table)."""
        t = self.layer_table(X_or_archs)
        per_layer = t.kernel * t.kernel * t.c_in * t.c_out * t.out_h * t.out_w
        return per_layer.sum(axis=1).astype(float)

    def baseline(self, name: str) -> Architecture:
        table = self._baselines()
        if name not in table:
            raise unknown(f"baseline of the {self.name} space", name, table)
        return self._arch_from_index(self.canonicalize(np.asarray(table[name], dtype=np.int64)[None])[0])

    def _check_table_input(self, X_or_archs) -> np.ndarray:
        """Index matrix from vectors or from architectures of this space."""
        if isinstance(X_or_archs, np.ndarray) and X_or_archs.dtype != object:
            return self.to_index(X_or_archs)
        items = list(X_or_archs) if not isinstance(X_or_archs, Architecture) else [X_or_archs]
        if items and isinstance(items[0], (Architecture, str)):
            return self.encode(items).astype(np.int64)
        return self.to_index(np.asarray(items, dtype=float).reshape(len(items), -1) if items
                             else np.zeros((0, self.dim)))

    def describe(self) -> dict:
        return {"name": self.name, "dimension": self.dim, "size": self.size,
                "baselines": self.baselines(), "options": dict(getattr(self, "options", {}))}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} d={self.dim} size={self.size}>"
