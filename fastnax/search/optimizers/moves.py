"""The neighbourhoods of the hierarchical search (:mod:`fastnax.search.optimizers.hierarchical`):
the moves it prices from a point or from a front, each a vectorized function of a space and
index rows, canonicalized (split out of that module at 576 lines).

- :func:`single_moves`: every single-coordinate change (the coordinate descent, the front search);
- :func:`knob_pair_moves`: every change of two hardware knobs at once;
- :func:`exchange_moves`: every swap of two coordinates of an exchangeable group (nb201's edges);
- :func:`recombination_moves`: uniform crossover of neighbours along a front.
"""

from __future__ import annotations

import itertools

import numpy as np

from fastnax.spaces.family import Family


def _coordinate_values(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (coordinate, level) pair of a box (d, 2), as two int arrays (m,)."""
    bounds = np.asarray(bounds).astype(np.int64)
    counts = bounds[:, 1] - bounds[:, 0] + 1
    cols = np.repeat(np.arange(len(bounds)), counts)
    vals = bounds[cols, 0] + np.arange(len(cols)) - np.repeat(np.cumsum(counts) - counts, counts)
    return cols, vals


def single_moves(space, family: Family, starts: np.ndarray):
    """All single-coordinate changes of each start.

    Returns
    -------
    neighbours : int array (k, d)
    owner : int array (k,)
        Row of ``starts`` each neighbour comes from.
    column : int array (k,)
        The coordinate it changes.
    """
    n, d = starts.shape
    cols, vals = _coordinate_values(space.bounds)
    # only moves that change an active coordinate can change the network (the others are undone
    # by canonicalize); building just those keeps the batch a fraction of n * m rows
    move = vals[None, :] != starts[:, cols]
    active = space.active(starts)
    if active is not None:
        move &= active[:, cols]
    owner, which = np.nonzero(move)  # row-major: by start, then coordinate and value
    jj = cols[which]
    base = starts[owner]
    neighbours = base.copy()
    neighbours[np.arange(len(owner)), jj] = vals[which]
    neighbours = space.canonicalize(family.repair(base, neighbours))
    changed = (neighbours != base).any(axis=1)
    return neighbours[changed], owner[changed], jj[changed]


def knob_pair_moves(space, starts: np.ndarray) -> np.ndarray:
    """Every change of two hardware-knob coordinates at once (``space.knob_coordinates()``) of each
    start, canonicalized, without the ones canonicalization turns back into the start: (k, d),
    by start, then pair of knobs, then levels. Bit widths trade accuracy against cost together
    (8-bit weights with 4-bit inputs against 6 and 6), so a front point reached only by moving two
    knobs is invisible to single moves when the point in between is dominated."""
    where = space.knob_coordinates() or {}
    knobs = sorted({int(c) for c in where.values() if c is not None})
    d = starts.shape[1]
    if len(knobs) < 2 or not len(starts):
        return np.zeros((0, d), dtype=np.int64)
    bounds = np.asarray(space.bounds).astype(np.int64)
    blocks, masks = [], []
    for a, b in itertools.combinations(knobs, 2):
        grid = np.asarray(list(itertools.product(range(bounds[a, 0], bounds[a, 1] + 1),
                                                 range(bounds[b, 0], bounds[b, 1] + 1))))
        moves = np.repeat(starts[:, None, :], len(grid), axis=1)  # (n, level pairs, d)
        moves[:, :, a] = grid[:, 0]
        moves[:, :, b] = grid[:, 1]
        blocks.append(moves)
        masks.append((grid[None, :, 0] != starts[:, None, a]) & (grid[None, :, 1] != starts[:, None, b]))
    both = np.concatenate(masks, axis=1)  # (n, all level pairs): both knobs change
    moves = space.canonicalize(np.concatenate(blocks, axis=1)[both])  # by start, pair, levels
    owner = np.nonzero(both)[0]
    return moves[(moves != starts[owner]).any(axis=1)]


def exchange_moves(space, starts: np.ndarray) -> np.ndarray:
    """Every exchange of the values of two coordinates of one group of
    ``space.exchangeable_coordinates()`` (the ops of two edges of a cell), of each start,
    canonicalized, without the ones that leave the start as it was: (k, d), by start, then group
    and pair."""
    d = starts.shape[1]
    pairs = [(a, b) for group in space.exchangeable_coordinates()
             for a, b in itertools.combinations(sorted(int(c) for c in group), 2)]
    if not pairs or not len(starts):
        return np.zeros((0, d), dtype=np.int64)
    moves = np.repeat(starts[:, None, :], len(pairs), axis=1)  # (n, pairs, d)
    a, b = np.asarray(pairs).T
    rows = np.arange(len(pairs))
    moves[:, rows, a] = starts[:, b]
    moves[:, rows, b] = starts[:, a]
    differ = starts[:, a] != starts[:, b]  # (n, pairs): a swap of equal values changes nothing
    moves, owner = space.canonicalize(moves[differ]), np.nonzero(differ)[0]
    return moves[(moves != starts[owner]).any(axis=1)]


def recombination_moves(space, front: np.ndarray, cost: np.ndarray, rng: np.random.Generator,
                        offsets: int = 3, per_pair: int = 2) -> np.ndarray:
    """Uniform crossover of front members that are close along the front: each member with the
    next ``offsets`` members by cost, ``per_pair`` children a pair (every coordinate from either
    parent with probability 1/2, a seeded draw), canonicalized, without the children equal to a
    parent: (k, d). Single, knob-pair and exchange moves reach the trade-offs one or two
    coordinates from a front member; a child of two neighbours on the front mixes their layers,
    the combinations in between that a genetic algorithm's crossover finds."""
    n, d = front.shape
    if n < 2:
        return np.zeros((0, d), dtype=np.int64)
    order = np.argsort(cost, kind="stable")
    sorted_front = front[order].astype(np.int64)
    a_rows, b_rows = [], []
    for k in range(1, min(int(offsets), n - 1) + 1):
        a_rows.append(np.arange(n - k))
        b_rows.append(np.arange(k, n))
    a = np.repeat(np.concatenate(a_rows), per_pair)
    b = np.repeat(np.concatenate(b_rows), per_pair)
    A, B = sorted_front[a], sorted_front[b]
    mask = rng.random(A.shape) < 0.5
    children = space.canonicalize(np.where(mask, A, B)).astype(np.int64)
    fresh = (children != A).any(axis=1) & (children != B).any(axis=1)
    return children[fresh]
