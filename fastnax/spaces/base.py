"""The SearchSpace contract: the one owner of the mapping between architectures and vectors.

A space is a box of integer coordinates (``bounds``, ``integrality``) that SciPy optimizers search,
plus the code that turns any in-bounds vector into a valid architecture (``decode``: rounding and
clipping are the decoder's job) and back (``encode``). Inactive coordinates (the kernel of a block
that does not exist, say) are reset to a canonical value, so ``encode(decode(x))`` is the canonical
form of ``x`` and ``encode`` of a decoded point is the point itself.

Hooks with slow, correct defaults, which a space overrides with vectorized code of its own (the
built-in spaces do, in their packages ``spaces/imc/`` and ``spaces/nb201/``):

- ``layer_table_from_index(index)``: the weight layers of a batch (default: the decoded
  architectures' layers, :meth:`LayerTable.from_architectures`);
- ``features_from_index(index)``: the graph features (default: the networkx reference
  ``fastnax.graph.metrics``);
- ``network_coordinates()`` and ``knob_coordinates()``: which coordinates change the network,
  which set a hardware knob (default: any may); ``feature_coordinates()`` combines them;
- ``macro_family()``: the hierarchical search's level-1 relaxation (default: a generic family);
- ``base_space`` / ``base_index(index)``: a restriction maps its rows to the space it restricts.

``fastnax.spaces.check_search_space`` holds every override equal to its default.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fastnax.arch import Architecture, Layer, LayerTable
from fastnax.errors import ArchitectureError, BoundsError, unknown

#: Hardware knobs of a space that does not say otherwise (the baselines' settings; the ADC rule
#: indexes ``fastnax.arch.ADC_RULES``, 0 = the preset's own rule).
DEFAULT_KNOBS = {"w_bits": 8, "in_bits": 8, "cell_bits": 2, "adc_rule": 0}


class SearchSpace:
    """Base class of the search spaces. Subclasses set ``name`` and implement the hooks.

    Required: ``bounds``, ``coordinate_names`` and ``build_layers`` (the network DAG of an
    architecture of the space). Everything else has a default that is correct for any space and
    slow where a fast path matters: a space overrides it with vectorized code of its own (the
    built-in spaces do, in their own modules). :func:`fastnax.spaces.check_search_space` holds
    every override equal to its default.

    A space is also the *codec* of its architectures (``build_layers``, ``format``,
    ``hardware_knobs``): :func:`fastnax.spaces.register_space` registers it so that
    ``Architecture.from_string``, ``arch.layers`` and ``str(arch)`` find it.
    """

    name: str = "space"

    # --- to be provided by subclasses -------------------------------------------------------
    @property
    def bounds(self) -> np.ndarray:
        """Array of shape (d, 2): inclusive lower and upper bound of every coordinate."""
        raise NotImplementedError(f"{type(self).__name__} must define bounds")

    @property
    def coordinate_names(self) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must define coordinate_names")

    def build_layers(self, arch: Architecture) -> tuple[Layer, ...]:
        """The network DAG of one architecture of the space (node 0 the input, last the logits)."""
        raise NotImplementedError(f"{type(self).__name__} must define build_layers")

    # --- hooks with correct defaults ----------------------------------------------------------
    def canonicalize(self, index: np.ndarray) -> np.ndarray:
        """Reset inactive coordinates of an integer matrix (n, d) to their canonical value.

        Default: every coordinate is active (the identity)."""
        return np.asarray(index, dtype=np.int64)

    def active(self, index: np.ndarray) -> np.ndarray | None:
        """Boolean (n, d): which coordinates of canonical rows affect the network.

        A change to an inactive coordinate alone is undone by :meth:`canonicalize`, so searches
        skip such moves. ``None`` (the default) means every coordinate may matter.
        """
        return None

    @property
    def options(self) -> dict:
        """Options the space was built with (input shape, classes...); default: none."""
        return dict(getattr(self, "_options", {}))

    @options.setter
    def options(self, value: dict) -> None:
        self._options = dict(value)

    def _arch_from_index(self, row: np.ndarray) -> Architecture:
        """Default genotype: the canonical index row itself."""
        return Architecture(self.name, tuple(self.options.items()), tuple(int(v) for v in row))

    def _index_from_arch(self, arch: Architecture) -> np.ndarray:
        if not isinstance(arch, Architecture):
            raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
        if arch.space != self.name or arch.option_dict != self.options or len(arch.genotype) != self.dim:
            raise ArchitectureError(f"architecture {str(arch)[:60]!r} is not a member of the {self.name} "
                                    f"space with options {self.options}")
        row = np.asarray(arch.genotype, dtype=np.int64)
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        if np.any(row < lo) or np.any(row > hi) or not np.array_equal(self.canonicalize(row[None])[0], row):
            raise ArchitectureError(f"architecture {str(arch)[:60]!r} is not a canonical member of the "
                                    f"{self.name} space")
        return row

    def format(self, arch: Architecture) -> str:
        """Canonical string; default ``NAME:{options as JSON}:g0,g1,...`` (read back by the
        default parser of :func:`fastnax.spaces.register_space`)."""
        import json

        options = json.dumps(dict(arch.options), sort_keys=True, separators=(",", ":"))
        return f"{arch.space}:{options}:{','.join(str(g) for g in arch.genotype)}"

    def hardware_knobs(self, arch: Architecture) -> dict[str, int]:
        """Global hardware knobs of an architecture; default 8-bit weights and inputs, 2 bits
        per cell and the preset's ADC rule (the baselines' settings)."""
        return dict(DEFAULT_KNOBS)

    @property
    def size(self) -> int:
        """Exact number of distinct configurations (a Python int).

        Default: the box of the bounds, exact only when :meth:`canonicalize` is the identity;
        a space that resets coordinates overrides it."""
        if type(self).canonicalize is not SearchSpace.canonicalize:
            raise NotImplementedError(f"{type(self).__name__} canonicalizes; it must define size")
        spans = (self.bounds[:, 1] - self.bounds[:, 0] + 1).astype(np.int64)
        total = 1
        for s in spans:
            total *= int(s)
        return total

    def baselines(self) -> list[str]:
        return sorted(self._baselines())

    def _baselines(self) -> dict[str, np.ndarray]:
        return {}

    def layer_table_from_index(self, index: np.ndarray) -> LayerTable:
        """Weight layers of canonical index rows (n, d), trusted (not re-checked).

        Default: the reference path, :meth:`LayerTable.from_architectures` of the decoded rows."""
        return LayerTable.from_architectures([self._arch_from_index(row) for row in index])

    def features_from_index(self, index: np.ndarray) -> np.ndarray:
        """Graph features (n, k) of canonical index rows (columns ``graph.feature_names()``).

        Default: the networkx reference :func:`fastnax.graph.metrics` of every decoded row."""
        from fastnax import graph

        names = graph.feature_names()
        rows = [graph.metrics(self._arch_from_index(row)) for row in np.asarray(index, dtype=np.int64)]
        return np.asarray([[m[k] for k in names] for m in rows], dtype=float).reshape(len(rows), len(names))

    def noise_drop(self, index: np.ndarray, sigma: np.ndarray, noise_penalty: float,
                   sigma_ref: float) -> np.ndarray:
        """Accuracy drop (n,), percentage points, that the ``noisy`` objective takes off a clean
        prediction at the hardware model's effective weight-noise ``sigma`` (n,).

        Default: ``noise_penalty * (sigma / sigma_ref) ** 2`` for every network alike (the
        small-noise expansion of the loss). A space that can say which of its networks survive
        noise overrides it (``nb201``: :func:`fastnax.robustness.drop_penalty`)."""
        return float(noise_penalty) * (np.asarray(sigma, dtype=float) / float(sigma_ref)) ** 2

    def network_coordinates(self) -> np.ndarray:
        """Boolean (d,): coordinates whose change may change the network DAG (hence any graph
        metric). The others change the hardware only (crossbar sizes, bit widths). Default: all."""
        return np.ones(self.dim, dtype=bool)

    def knob_coordinates(self) -> dict[str, int | None] | None:
        """The coordinate that sets each hardware knob (``w_bits``, ``in_bits``, ``cell_bits``,
        ``adc_rule``), ``None`` for a knob fixed by the space's options. Default ``None``: unknown
        (every knob may depend on every coordinate)."""
        return None

    def exchangeable_coordinates(self) -> list[list[int]]:
        """Groups of coordinates with one domain whose values may be exchanged: the same ops on
        other edges of a cell (``nb201``). Exchanging two of them keeps the op counts, hence
        often the cost, and changes the network; the front search tries every such exchange,
        which no single-coordinate move reaches without passing another cost. Default: none."""
        return []

    def feature_coordinates(self) -> np.ndarray:
        """Boolean (k, d): graph feature ``f`` may change when coordinate ``j`` changes.

        Built from :meth:`network_coordinates` (graph metrics) and :meth:`knob_coordinates`
        (knob columns). The evaluator shares one accuracy prediction among candidates that agree
        on every coordinate the accuracy model's features depend on, and on nothing less.
        """
        from fastnax import graph

        names = graph.feature_names()
        knobs = set(graph.knob_feature_names())
        net = np.asarray(self.network_coordinates(), dtype=bool)
        where = self.knob_coordinates()
        out = np.zeros((len(names), self.dim), dtype=bool)
        for f, name in enumerate(names):
            if name not in knobs:
                out[f] = net
            elif where is None:
                out[f] = True
            elif where.get(name) is not None:
                out[f, int(where[name])] = True
        return out

    def macro_family(self):
        """The level-1 relaxation of the hierarchical search (a :class:`~fastnax.spaces.family.Family`).

        Default: coordinates grouped by the last word of their names (see ``Family``)."""
        from fastnax.spaces.family import Family

        return Family(self)

    @property
    def base_space(self) -> SearchSpace:
        """The space whose architectures this one decodes to (itself unless a restriction)."""
        return self

    def base_index(self, index: np.ndarray) -> np.ndarray:
        """Canonical index rows of :attr:`base_space` for canonical rows of this space."""
        return np.asarray(index, dtype=np.int64)

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

    def layer_table(self, X_or_archs) -> LayerTable:
        """Weight layers of a batch of vectors (n, d) or architectures, as a :class:`LayerTable`."""
        return self.layer_table_from_index(self._check_table_input(X_or_archs))

    def features(self, X_or_archs) -> np.ndarray:
        """Graph features (n, k) of a batch of vectors (n, d) or architectures."""
        return self.features_from_index(self._check_table_input(X_or_archs))

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
                "baselines": self.baselines(), "options": self.options}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} d={self.dim} size={self.size}>"
