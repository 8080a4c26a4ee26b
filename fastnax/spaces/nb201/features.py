"""Vectorized graph features of ``nb201`` index matrices (the fast path of ``Nb201Space.features``).

Every cell's features are tabulated once per option set (15,625 rows) and gathered by cell id.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np

from fastnax.arch import ADC_RULES
from fastnax.graph import PATH_WEIGHTS, PathStats, graph_feature_names, log10_or_zero
from fastnax.spaces.nb201.genotype import (CELLS_PER_STAGE, EDGES, N_CELLS, STAGE_WIDTHS, Nb201Codec, cell_id,
                                        cell_ops)


def nb201_feature_matrix(index: np.ndarray, codec: Nb201Codec) -> np.ndarray:
    """Feature matrix (n, k) of canonical ``nb201`` rows: the cell's graph metrics, then the
    space's fixed hardware knobs."""
    table = _nb201_cell_table(codec.input_size, codec.in_channels, codec.num_classes)
    knobs = [codec.w_bits, codec.in_bits, codec.cell_bits, ADC_RULES.index(codec.adc_rule)]
    out = np.empty((index.shape[0], table.shape[1] + len(knobs)))
    out[:, :table.shape[1]] = table[cell_id(index[:, :6])]
    out[:, table.shape[1]:] = knobs
    return out


@lru_cache(maxsize=8)
def _nb201_cell_table(input_size: int, in_channels: int, num_classes: int) -> np.ndarray:
    """Features (15,625, k) of every NAS-Bench-201 cell in its network, in fastnax cell-id order.

    On a cell edge, ``skip_connect`` is a direct edge into the target node, ``nor_conv_1x1`` and
    ``nor_conv_3x3`` a convolution node, ``avg_pool_3x3`` a pooling node, ``none`` no edge; each
    cell node is an ``add``. A cell's path statistics are computed once per cell (numpy over all
    15,625 cells, one step per edge) and composed in series with the fixed skeleton.
    """
    ops = cell_ops(np.arange(N_CELLS))  # (N, 6)
    n = N_CELLS
    present = ops != 0
    is_conv = (ops == 2) | (ops == 3)
    is_pool = ops == 4
    conv_k2 = np.where(ops == 3, 9, np.where(ops == 2, 1, 0))  # kernel area of conv edges
    edge_rf = np.where((ops == 3) | (ops == 4), 2, 0)
    # weight of the op node on each edge (skip: none) plus the target add node
    edge_w = {"conv": is_conv * 1.0, "large": (ops == 3) * 1.0, "pool": is_pool * 1.0,
              "node": 1.0 + (is_conv | is_pool)}

    # forward DP inside the cell, from cell node 0
    P = [np.ones(n)] + [np.zeros(n) for _ in range(3)]
    reach = [np.ones(n, bool)] + [np.zeros(n, bool) for _ in range(3)]
    S = {w: [np.zeros(n) for _ in range(4)] for w in PATH_WEIGHTS}
    hi = {w: [np.zeros(n)] + [np.full(n, -np.inf) for _ in range(3)] for w in PATH_WEIGHTS}
    lo = {w: [np.zeros(n)] + [np.full(n, np.inf) for _ in range(3)] for w in PATH_WEIGHTS}
    rfc = [np.zeros(n)] + [np.full(n, -np.inf) for _ in range(3)]
    for e, (to, src) in enumerate(EDGES):
        live = present[:, e] & reach[src]
        for w in PATH_WEIGHTS:
            S[w][to] = S[w][to] + np.where(present[:, e], S[w][src] + edge_w[w][:, e] * P[src], 0)
            hi[w][to] = np.where(live, np.maximum(hi[w][to], hi[w][src] + edge_w[w][:, e]), hi[w][to])
            lo[w][to] = np.where(live, np.minimum(lo[w][to], lo[w][src] + edge_w[w][:, e]), lo[w][to])
        P[to] = P[to] + np.where(present[:, e], P[src], 0)
        reach[to] = reach[to] | live
        rfc[to] = np.where(live, np.maximum(rfc[to], rfc[src] + edge_rf[:, e]), rfc[to])
    alive = reach[3]
    # backward reachability to cell node 3, for the ops that lie on a path
    back = {3: np.ones(n, bool), 2: present[:, 5]}
    back[1] = present[:, 4] | (present[:, 2] & back[2])
    back[0] = np.ones(n, bool)
    on_path = np.zeros((n, 6), bool)
    for e, (to, src) in enumerate(EDGES):
        on_path[:, e] = present[:, e] & reach[src] & back[to]
    effective = is_conv & on_path

    n_conv_cell = is_conv.sum(axis=1)
    n_c1, n_c3 = (ops == 2).sum(axis=1), (ops == 3).sum(axis=1)
    n_pool_cell, n_skip_cell = is_pool.sum(axis=1), (ops == 1).sum(axis=1)
    k2_sum, k2_eff = conv_k2.sum(axis=1), np.where(effective, conv_k2, 0).sum(axis=1)
    stages = len(STAGE_WIDTHS)
    cells = stages * CELLS_PER_STAGE

    # compose: stem, stages of cells, reductions between stages, classifier
    stats = PathStats(n)
    ones = np.ones(n, dtype=bool)
    h = input_size
    params = 9 * in_channels * STAGE_WIDTHS[0]
    macs = params * h * h
    stats.node(ones, "conv", 3)
    rf, jump = np.full(n, 3.0), 1.0
    params_eff = np.full(n, float(params))
    vertices, edges = defaultdict(float), defaultdict(float)
    vertices[h] += STAGE_WIDTHS[0]
    edges[h] += in_channels * STAGE_WIDTHS[0]
    c = STAGE_WIDTHS[0]
    widths = [(STAGE_WIDTHS[0], 1.0)]  # (channels, count) of convs other than the cells'
    cell_stats = (P[3], {w: S[w][3] for w in PATH_WEIGHTS}, {w: hi[w][3] for w in PATH_WEIGHTS},
                  {w: lo[w][3] for w in PATH_WEIGHTS})
    for s, width in enumerate(STAGE_WIDTHS):
        if s:
            h1 = -(-h // 2)
            red = 9 * c * width + 9 * width * width + c * width
            params += red
            params_eff += red
            macs += red * h1 * h1
            vertices[h1] += width + width + c + width + width  # conv_a, conv_b, avgpool, proj, add
            edges[h1] += c * width + width * width + c * width + width  # weights + the skip edge
            widths += [(width, 3.0)]
            stats.branches(ones, [("conv", 3), ("conv", 3)], [("avgpool", 2), ("conv", 1)])
            stats.node(ones, "add")
            rf = rf + 6 * jump  # conv_a 3x3 at jump j (+2j), conv_b 3x3 at 2j (+4j)
            jump *= 2
            c, h = width, h1
        cell_params = k2_sum * c * c
        params = params + CELLS_PER_STAGE * cell_params
        params_eff = params_eff + CELLS_PER_STAGE * k2_eff * c * c
        macs = macs + CELLS_PER_STAGE * cell_params * h * h
        vertices[h] = vertices[h] + CELLS_PER_STAGE * c * (3 + n_conv_cell + n_pool_cell)
        edges[h] = edges[h] + CELLS_PER_STAGE * (c * c * n_conv_cell + c * n_skip_cell)
        for _ in range(CELLS_PER_STAGE):
            stats.append(alive, *cell_stats)
        rf = rf + CELLS_PER_STAGE * rfc[3] * jump
    stats.paths = np.where(alive, stats.paths, 0.0)
    conv_params_eff = params_eff.copy()
    stats.node(ones, "gap")
    stats.node(ones, "linear")
    linear = c * num_classes
    params = params + linear
    macs = macs + linear
    params_eff = params_eff + linear

    f = {}
    dead = ~alive
    f["log10_params"] = log10_or_zero(params)
    f["log10_macs"] = log10_or_zero(macs)
    f["log10_params_effective"] = np.where(dead, 0.0, log10_or_zero(params_eff))
    f["log10_conv_params_effective"] = np.where(dead, 0.0, log10_or_zero(conv_params_eff))
    reduction_convs = 3 * (stages - 1)
    f["n_conv"] = 1 + reduction_convs + cells * n_conv_cell
    f["n_conv_effective"] = np.where(dead, 0, 1 + reduction_convs + cells * effective.sum(axis=1))
    f["n_conv1_effective"] = np.where(dead, 0, (stages - 1) + cells * (effective & (ops == 2)).sum(axis=1))
    f["n_conv_large_effective"] = np.where(dead, 0, 1 + 2 * (stages - 1)
                                           + cells * (effective & (ops == 3)).sum(axis=1))
    f["n_conv1"] = (stages - 1) + cells * n_c1
    f["n_conv3"] = 1 + 2 * (stages - 1) + cells * n_c3
    f["n_conv5"] = np.zeros(n)
    f["n_conv7"] = np.zeros(n)
    f["n_linear"] = np.ones(n)
    f["n_weight_layers"] = f["n_conv"] + 1
    f["n_pool"] = (stages - 1) + cells * n_pool_cell
    f["n_pool_effective"] = np.where(dead, 0, (stages - 1) + cells * (on_path & is_pool).sum(axis=1))
    f["n_skip"] = (stages - 1) + cells * n_skip_cell
    f["n_skip_effective"] = np.where(dead, 0, (stages - 1) + cells * (on_path & (ops == 1)).sum(axis=1))
    f["skip_density"] = f["n_skip"] / f["n_conv"]
    stats.write(f, dead)
    f["log10_paths"] = np.log10(1.0 + stats.paths)
    f["log10_conv_paths"] = f["log10_paths"]  # the stem conv lies on every path
    f["dead"] = dead.astype(float)
    f["receptive_field"] = np.where(dead, 0.0, rf)
    f["final_resolution"] = np.full(n, float(h))
    total_convs = sum(cnt for _, cnt in widths) + cells * n_conv_cell
    width_sum = sum(w * cnt for w, cnt in widths) + CELLS_PER_STAGE * n_conv_cell * sum(STAGE_WIDTHS)
    f["width_mean"] = width_sum / total_convs
    skeleton_min, skeleton_max = min(w for w, _ in widths), max(w for w, _ in widths)
    f["width_min"] = np.where(n_conv_cell > 0, min(skeleton_min, min(STAGE_WIDTHS)), skeleton_min) * 1.0
    f["width_max"] = np.where(n_conv_cell > 0, max(skeleton_max, max(STAGE_WIDTHS)), skeleton_max) * 1.0
    f["nn_degree"] = sum(2.0 * edges[k] / vertices[k] for k in vertices)
    table = np.stack([np.broadcast_to(np.asarray(f[name], dtype=float), (n,)) for name in graph_feature_names()],
                     axis=1)
    table.setflags(write=False)
    return table
