"""Vectorized layer table of ``imc`` index matrices (the fast path of ``ImcSpace.layer_table``)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fastnax.arch import KIND_CONV, KIND_LINEAR, LayerTable
from fastnax.spaces.imc.genotype import (BLOCK_TYPES, CELL_BITS, CONVS_PER_BLOCK, CROSSBARS, FC_HIDDEN,
                                      HEAD_POOLS, IN_BITS, KERNELS, MAX_BLOCKS, SLOTS_PER_STAGE,
                                      STEM_WIDTHS, W_BITS, WIDTHS, ImcCodec, Layout)

FIELDS = ("kind", "kernel", "stride", "c_in", "c_out", "in_h", "out_h", "crossbar_size")
_KERNELS, _CROSSBARS, _WIDTHS = np.asarray(KERNELS), np.asarray(CROSSBARS), np.asarray(WIDTHS)
_STEM_WIDTHS, _FC_HIDDEN = np.asarray(STEM_WIDTHS), np.asarray(FC_HIDDEN)
_W_BITS, _IN_BITS, _CELL_BITS = np.asarray(W_BITS), np.asarray(IN_BITS), np.asarray(CELL_BITS)
_FIRST = np.arange(MAX_BLOCKS) == 0  # (B,): the block that may stride and change the width
_RES, _VGG = BLOCK_TYPES.index("res"), BLOCK_TYPES.index("vgg")


@lru_cache(maxsize=16)
def _conv_columns(stages: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in an ``imc`` vector: stage fields (S, 3), and the (kernel, crossbar) of every
    block's two convolutions (S, MAX_BLOCKS, 2, 2)."""
    L = Layout(stages)
    stage = np.asarray([[L.stage(s) + i for i in range(3)] for s in range(stages)])
    pos = np.asarray([[[L.conv(s, CONVS_PER_BLOCK * b + j) for j in range(CONVS_PER_BLOCK)]
                       for b in range(MAX_BLOCKS)] for s in range(stages)])  # (S, B, 2 convs, 2)
    return stage, pos


def imc_layer_table(index: np.ndarray, codec: ImcCodec) -> LayerTable:
    """Weight layers of ``imc`` index rows (n, d), all stages and blocks at once.

    Slots: 0 the stem; then per stage and block (conv1, conv2, projection); then fc1, fc2. Within a
    stage only the first block can stride (``res``/``mvgg`` stages after the first) or change the
    width, so every block's sizes follow from the stage's input channels and side, which a loop
    over the (few) stages carries; everything else is one numpy call per field over (n, S, B).
    The reference is ``LayerTable.from_architectures`` (the tests hold the two equal).
    """
    L = codec.layout
    S = L.stages
    n = index.shape[0]
    stage_cols, pos = _conv_columns(S)
    fields = index[:, stage_cols]  # (n, S, 3): block type, blocks, width
    btype, blocks, width = fields[..., 0], fields[..., 1], _WIDTHS[fields[..., 2]]
    is_res, is_vgg = btype == _RES, btype == _VGG
    nonempty = blocks > 0
    codes = index[:, pos]  # (n, S, B, 2 convs, kernel/crossbar)
    kernel = _KERNELS[codes[..., 0]]
    crossbar = _CROSSBARS[codes[..., 1]]

    # each stage's input channels and side, and the side after its first block
    has_stem = index[:, L.stem] > 0
    stem_width = _STEM_WIDTHS[index[:, L.stem]]
    c_stage = np.empty((n, S), dtype=np.int64)
    h_stage = np.empty((n, S), dtype=np.int64)
    c = np.where(has_stem, stem_width, codec.in_channels)
    h = np.full(n, codec.input_size, dtype=np.int64)
    strided = ~is_vgg
    strided[:, 0] = False
    h_blocks = np.empty((n, S), dtype=np.int64)
    for s in range(S):
        c_stage[:, s], h_stage[:, s] = c, h
        h1 = np.where(strided[:, s], -(-h // 2), h)
        h_blocks[:, s] = h1
        c = np.where(nonempty[:, s], width[:, s], c)
        h = np.where(nonempty[:, s], h1, h)
        h = np.where(nonempty[:, s] & is_vgg[:, s], -(-h // 2), h)  # the vgg stage's max-pool
    active = blocks[:, :, None] > np.arange(MAX_BLOCKS)  # (n, S, B)
    stride = np.where(_FIRST & strided[:, :, None], 2, 1)
    c_in = np.where(_FIRST, c_stage[:, :, None], width[:, :, None])
    w3 = width[:, :, None]
    h_in = np.where(_FIRST, h_stage[:, :, None], h_blocks[:, :, None])
    h_out = h_blocks[:, :, None]
    proj = active & is_res[:, :, None] & ((stride == 2) | (c_in != w3))

    # the head: pool, optional hidden linear, classifier
    head = L.head
    gap = index[:, head] == HEAD_POOLS.index("gap")
    features = np.where(gap, c, c * h * h)
    hidden = _FC_HIDDEN[index[:, head + 1]]
    has_hidden = hidden > 0

    slots = 1 + S * SLOTS_PER_STAGE + 2
    # per field: the stem's value, (conv1, conv2, projection) over (n, S, B), fc1's, fc2's
    values = {
        "kind": (KIND_CONV, (KIND_CONV, KIND_CONV, KIND_CONV), KIND_LINEAR, KIND_LINEAR),
        "kernel": (_KERNELS[index[:, L.stem + 1]], (kernel[..., 0], kernel[..., 1], 1), 1, 1),
        "stride": (1, (stride, 1, stride), 1, 1),
        "c_in": (codec.in_channels, (c_in, w3, c_in), features, np.where(has_hidden, hidden, features)),
        "c_out": (stem_width, (w3, w3, w3), hidden, codec.num_classes),
        "in_h": (codec.input_size, (h_in, h_out, h_in), 1, 1),
        "out_h": (codec.input_size, (h_out, h_out, h_out), 1, 1),
        "crossbar_size": (_CROSSBARS[index[:, L.stem + 2]], (crossbar[..., 0], crossbar[..., 1], crossbar[..., 0]),
                          _CROSSBARS[index[:, head + 2]], _CROSSBARS[index[:, head + 3]]),
    }

    def assemble(stem, blocks3, fc1, fc2) -> np.ndarray:  # (n, slots) int64 in slot order
        m = np.empty((n, slots), dtype=np.int64)
        m[:, 0] = stem
        view = m[:, 1:-2].reshape(n, S, MAX_BLOCKS, 3)
        view[..., 0], view[..., 1], view[..., 2] = blocks3
        m[:, -2], m[:, -1] = fc1, fc2
        return m

    live = assemble(has_stem, (active, active, proj), has_hidden, 1)
    cols = {}
    for name in FIELDS:
        cols[name] = assemble(*values[name])
        cols[name] *= live
    cols["in_w"], cols["out_w"] = cols["in_h"].copy(), cols["out_h"].copy()
    cols["kind"] = cols["kind"].astype(np.int8)

    res_blocks = active & is_res[:, :, None]
    act = (np.where(res_blocks, w3 * h_out * h_out * 3, 0).sum(axis=(1, 2))  # add nodes: 2 in, 1 out
           + np.where(nonempty & is_vgg, width * (-(-h_blocks // 2)) ** 2 * 2, 0).sum(axis=1)  # vgg pools
           + np.where(gap, c * 2, 0))  # the gap node's output, counted (in + out) as in arch.activation_traffic
    k = L.knobs
    return LayerTable(**cols, w_bits=_W_BITS[index[:, k]], in_bits=_IN_BITS[index[:, k + 1]],
                      cell_bits=_CELL_BITS[index[:, k + 2]], adc_rule=index[:, k + 3].astype(np.int64),
                      n_skip=res_blocks.sum(axis=(1, 2)), act_elems=act)
