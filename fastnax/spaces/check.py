"""``check_search_space``: the conformance checks every search space passes (as scikit-learn's
``check_estimator`` is for estimators).

A space that overrides a hook with a fast path must agree with the hook's slow default; a space
written outside fastnax runs the same checks:

>>> from fastnax.spaces import check_search_space
>>> check_search_space(MySpace())          # doctest: +SKIP   (raises AssertionError, or passes)
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import Architecture, LayerTable
from fastnax.spaces.base import SearchSpace
from fastnax.spaces.family import MAX_MACRO

#: Spaces whose box has at most this many points have their ``size`` checked by enumeration.
ENUMERATE_LIMIT = 200_000


def check_search_space(space: SearchSpace, n: int = 24, seed: int = 0) -> dict:
    """Run every conformance check on ``space``; raise :class:`AssertionError` on the first failure.

    Checks, on ``n`` random integer vectors of the coordinate box (not canonicalized) and ``n``
    random real vectors in the bounds (seeded generator, ``seed``):

    - shapes: ``bounds`` (d, 2) with lower <= upper, ``coordinate_names`` (d,), integrality;
    - any in-bounds vector decodes; ``canonicalize`` is idempotent; ``encode(decode(x))`` is the
      canonical form of ``x``; ``Architecture.from_string(str(a)) == a``; baselines are members;
    - ``active`` (when given) is exactly the set of coordinates that survive ``canonicalize``;
    - batch equals single for ``layer_table_from_index`` and ``features_from_index``;
    - the layer table equals ``LayerTable.from_architectures`` of the decoded architectures
      (layers in slot order, per-architecture fields);
    - the features equal the networkx reference ``graph.metrics``;
    - ``feature_coordinates`` is honest: changing a coordinate changes only features that it
      declares to depend on it (the evaluator shares predictions on that claim);
    - the macro family has at most six variables and every vector it yields is in bounds;
    - ``exchangeable_coordinates`` names groups of distinct, in-range coordinates with equal bounds
      (a swap stays in the box);
    - ``base_index`` decodes to the same architectures in ``base_space``;
    - ``size`` equals the number of canonical configurations when the box has at most
      :data:`ENUMERATE_LIMIT` points.

    Returns
    -------
    dict
        The number of rows each check ran on (for the caller's report).
    """
    from fastnax import graph

    rng = np.random.default_rng(seed)
    report = {}
    d = space.dim
    bounds = np.asarray(space.bounds, dtype=float)
    _expect(bounds.shape == (d, 2) and np.all(bounds[:, 0] <= bounds[:, 1]),
            f"bounds must be (d, 2) with lower <= upper, got shape {bounds.shape}")
    _expect(len(space.coordinate_names) == d, "coordinate_names must name every coordinate")
    _expect(np.asarray(space.integrality).shape == (d,), "integrality must have shape (d,)")
    lo, hi = bounds[:, 0].astype(np.int64), bounds[:, 1].astype(np.int64)
    for group in space.exchangeable_coordinates():
        cols = [int(c) for c in group]
        _expect(len(cols) >= 2 and len(set(cols)) == len(cols) and all(0 <= c < d for c in cols),
                f"exchangeable_coordinates: group {group!r} must hold >= 2 distinct coordinates in 0..{d - 1}")
        _expect(all((bounds[c] == bounds[cols[0]]).all() for c in cols),
                f"exchangeable_coordinates: group {group!r} mixes coordinates with different bounds")

    raw = rng.integers(lo, hi + 1, size=(n, d))
    reals = lo + rng.random((n, d)) * (hi - lo)
    index = space.canonicalize(raw)
    _expect(np.array_equal(space.canonicalize(index), index), "canonicalize is not idempotent")
    _expect(np.array_equal(space.to_index(raw.astype(float)), index), "to_index differs from canonicalize")
    archs = space.decode(np.concatenate([raw, reals]).astype(float))
    _expect(len(archs) == 2 * n and all(isinstance(a, Architecture) for a in archs),
            "decode must return one Architecture per vector")
    archs = archs[:n]
    _expect(np.array_equal(space.encode(archs).astype(np.int64), index),
            "encode(decode(x)) is not the canonical form of x")
    for a in archs:
        text = str(a)
        _expect(Architecture.from_string(text) == a, f"string round trip fails for {text[:80]!r}")
        _expect(space.contains(a), f"{text[:80]!r} decoded from the space is not a member")
    for name in space.baselines():
        _expect(space.contains(space.baseline(name)), f"baseline {name!r} is not a member")
    report["decode"] = 2 * n

    active = space.active(index)
    if active is not None:
        for j in range(d):
            moved = index.copy()
            moved[:, j] = np.where(index[:, j] == hi[j], lo[j], index[:, j] + 1)
            survives = (space.canonicalize(moved) != index).any(axis=1)
            _expect(np.array_equal(survives, np.asarray(active)[:, j]) or hi[j] == lo[j],
                    f"active() disagrees with canonicalize on coordinate {space.coordinate_names[j]}")

    table = space.layer_table_from_index(index)
    reference = LayerTable.from_architectures(archs)
    _expect(_packed(table) == _packed(reference), "layer_table differs from the architectures' layers")
    for field in LayerTable.PER_ARCH:
        _expect(np.array_equal(getattr(table, field), getattr(reference, field)),
                f"layer_table field {field} differs from the architectures'")
    single = [space.layer_table_from_index(index[i:i + 1]) for i in range(min(n, 6))]
    _expect(all(_packed(t) == _packed(table[i]) for i, t in enumerate(single)),
            "layer_table of a batch differs from the rows priced one at a time")
    report["layer_table"] = n

    F = np.asarray(space.features_from_index(index), dtype=float)
    names = graph.feature_names()
    _expect(F.shape == (n, len(names)), f"features must have shape (n, {len(names)}), got {F.shape}")
    ref = np.asarray([[graph.metrics(a)[k] for k in names] for a in archs])
    bad = ~np.isclose(F, ref, rtol=1e-9, atol=1e-9)
    _expect(not bad.any(), "features differ from the networkx reference in column "
                           f"{names[int(np.argwhere(bad)[0][1])] if bad.any() else ''}")
    for i in range(min(n, 6)):
        _expect(np.array_equal(space.features_from_index(index[i:i + 1])[0], F[i]),
                "features of a batch differ from the rows computed one at a time")
    report["features"] = n

    depends = np.asarray(space.feature_coordinates(), dtype=bool)
    _expect(depends.shape == (len(names), d), f"feature_coordinates must have shape ({len(names)}, {d})")
    for j in range(d):
        if hi[j] == lo[j]:
            continue
        moved = index.copy()
        moved[:, j] = np.where(index[:, j] == hi[j], lo[j], index[:, j] + 1)
        moved = space.canonicalize(moved)
        changed = (space.features_from_index(moved) != F).any(axis=0)
        undeclared = changed & ~depends[:, j]
        _expect(not undeclared.any(), f"feature {names[int(np.argmax(undeclared))] if undeclared.any() else ''} "
                                      f"changes with coordinate {space.coordinate_names[j]}, which "
                                      f"feature_coordinates says it ignores")
    report["feature_coordinates"] = n * d

    family = space.macro_family()
    levels = list(family.levels)
    _expect(1 <= len(levels) <= MAX_MACRO and all(int(v) >= 1 for v in levels),
            f"the macro family needs 1 to {MAX_MACRO} variables of >= 1 level, got levels {levels}")
    grid = family.grid()
    if len(grid) > 4096:
        grid = grid[rng.choice(len(grid), 4096, replace=False)]
    X = np.asarray(family.to_vectors(grid), dtype=float)
    _expect(X.shape == (len(grid), d) and np.all(X >= bounds[:, 0]) and np.all(X <= bounds[:, 1]),
            "the macro family yields vectors outside the bounds")
    space.decode(X[:n])
    report["family"] = len(grid)

    base = space.base_space
    base_rows = base.base_index(space.base_index(index)) if base is not space else index
    _expect([str(a) for a in base.decode(base_rows.astype(float))] == [str(a) for a in archs],
            "base_index rows decode to other architectures in base_space")

    box = int(np.prod((hi - lo + 1).astype(object)))
    if box <= ENUMERATE_LIMIT:
        grids = np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi)], indexing="ij")
        every = np.stack([g.reshape(-1) for g in grids], axis=1)
        count = len(np.unique(space.canonicalize(every), axis=0))
        _expect(space.size == count, f"size says {space.size}, the box holds {count} canonical configurations")
        report["size"] = box
    return report


def _packed(table: LayerTable) -> list:
    """Per architecture, its weight layers in slot order (the slot layout itself removed)."""
    rows = []
    fields = [np.asarray(getattr(table, f)) for f in LayerTable.PER_LAYER]
    for i in range(table.n_archs):
        m = table.mask[i]
        rows.append([tuple(int(v) for v in layer) for layer in zip(*[f[i][m] for f in fields])])
    return rows


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(f"check_search_space: {message}")
