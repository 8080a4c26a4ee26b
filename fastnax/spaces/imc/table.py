"""Vectorized layer table of ``imc`` index matrices (the fast path of ``ImcSpace.layer_table``)."""

from __future__ import annotations

import numpy as np

from fastnax.arch import KIND_CONV, KIND_LINEAR, LayerTable
from fastnax.spaces.imc.genotype import (BLOCK_TYPES, CELL_BITS, CROSSBARS, FC_HIDDEN, HEAD_POOLS, IN_BITS,
                                      KERNELS, MAX_BLOCKS, SLOTS_PER_STAGE, STEM_WIDTHS, W_BITS, WIDTHS,
                                      ImcCodec)


def imc_layer_table(index: np.ndarray, codec: ImcCodec) -> LayerTable:
    L = codec.layout
    n = index.shape[0]
    slots = 1 + L.stages * SLOTS_PER_STAGE + 2
    fields = ("kind", "kernel", "stride", "c_in", "c_out", "in_h", "out_h", "crossbar_size")
    values = {name: [0] * slots for name in fields}
    active_cols = [False] * slots
    kernels, crossbars, widths = np.asarray(KERNELS), np.asarray(CROSSBARS), np.asarray(WIDTHS)

    # Slot values are collected as columns (arrays or scalars) and masked once at the end:
    # one multiply per field instead of one np.where per slot and field.
    def put(j, active, kind, kernel, stride, c_in, c_out, h_in, h_out, crossbar):
        active_cols[j] = active
        for name, value in zip(fields, (kind, kernel, stride, c_in, c_out, h_in, h_out, crossbar)):
            values[name][j] = value

    size = codec.input_size
    c = np.full(n, codec.in_channels, dtype=np.int64)
    h = np.full(n, size, dtype=np.int64)
    act = np.zeros(n, dtype=np.int64)
    n_skip = np.zeros(n, dtype=np.int64)
    has_stem = index[:, L.stem] > 0
    stem_width = np.asarray(STEM_WIDTHS)[index[:, L.stem]]
    put(0, has_stem, KIND_CONV, kernels[index[:, L.stem + 1]], 1, c, stem_width, h, h,
        crossbars[index[:, L.stem + 2]])
    c = np.where(has_stem, stem_width, c)
    for s in range(L.stages):
        base = L.stage(s)
        btype, blocks, width = index[:, base], index[:, base + 1], widths[index[:, base + 2]]
        is_res, is_vgg = btype == BLOCK_TYPES.index("res"), btype == BLOCK_TYPES.index("vgg")
        for b in range(MAX_BLOCKS):
            active = blocks > b
            j0 = 1 + s * SLOTS_PER_STAGE + 3 * b
            k1p, x1p = L.conv(s, 2 * b)
            k2p, x2p = L.conv(s, 2 * b + 1)
            stride = np.where((b == 0) & (s > 0) & ~is_vgg, 2, 1)
            h1 = np.where(stride == 2, -(-h // 2), h)
            x1 = crossbars[index[:, x1p]]
            put(j0, active, KIND_CONV, kernels[index[:, k1p]], stride, c, width, h, h1, x1)
            put(j0 + 1, active, KIND_CONV, kernels[index[:, k2p]], 1, width, width, h1, h1,
                crossbars[index[:, x2p]])
            proj = active & is_res & ((stride == 2) | (c != width))
            put(j0 + 2, proj, KIND_CONV, 1, stride, c, width, h, h1, x1)
            res_block = active & is_res
            n_skip += res_block
            act += np.where(res_block, width * h1 * h1 * 3, 0)  # add node: two inputs, one output
            c = np.where(active, width, c)
            h = np.where(active, h1, h)
        pooled = is_vgg & (blocks > 0)
        h_pool = np.where(pooled, -(-h // 2), h)
        act += np.where(pooled, c * h_pool * h_pool * 2, 0)
        h = h_pool
    head = L.head
    gap = index[:, head] == HEAD_POOLS.index("gap")
    act += np.where(gap, c * 2, 0)  # the gap node's output, counted (in + out) as in arch.activation_traffic
    features = np.where(gap, c, c * h * h)
    hidden = np.asarray(FC_HIDDEN)[index[:, head + 1]]
    has_hidden = hidden > 0
    j = slots - 2
    put(j, has_hidden, KIND_LINEAR, 1, 1, features, hidden, 1, 1, crossbars[index[:, head + 2]])
    features = np.where(has_hidden, hidden, features)
    put(j + 1, np.ones(n, bool), KIND_LINEAR, 1, 1, features, codec.num_classes, 1, 1,
        crossbars[index[:, head + 3]])
    active_matrix = np.empty((n, slots), dtype=np.int64)
    for j, a in enumerate(active_cols):
        active_matrix[:, j] = a
    cols = {}
    for name in fields:
        m = np.empty((n, slots), dtype=np.int64)
        for j, v in enumerate(values[name]):
            m[:, j] = v
        m *= active_matrix
        cols[name] = m
    cols["in_w"], cols["out_w"] = cols["in_h"].copy(), cols["out_h"].copy()
    cols["kind"] = cols["kind"].astype(np.int8)
    k = L.knobs
    return LayerTable(**cols, w_bits=np.asarray(W_BITS)[index[:, k]], in_bits=np.asarray(IN_BITS)[index[:, k + 1]],
                      cell_bits=np.asarray(CELL_BITS)[index[:, k + 2]], adc_rule=index[:, k + 3].astype(np.int64),
                      n_skip=n_skip, act_elems=act)
