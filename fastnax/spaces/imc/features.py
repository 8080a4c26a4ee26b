"""Vectorized graph features of ``imc`` index matrices (the fast path of ``ImcSpace.features``).

The networkx reference (``fastnax.graph.metrics``) is the definition; the tests hold this path
equal to it on every architecture they build.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fastnax.graph import halving_sides, log10_or_zero, resolution_levels, stack_features
from fastnax.spaces.imc.genotype import (BLOCK_TYPES, CELL_BITS, CONVS_PER_BLOCK, FC_HIDDEN, HEAD_POOLS,
                                      IN_BITS, KERNELS, MAX_BLOCKS, STEM_WIDTHS, W_BITS, WIDTHS, ImcCodec,
                                      Layout)


def imc_feature_matrix(index: np.ndarray, codec: ImcCodec) -> np.ndarray:
    """Feature matrix (n, k) of canonical ``imc`` rows: the graph metrics, then the four knobs."""
    graph_part = _imc_features(index, codec)
    k = codec.layout.knobs
    knobs = np.stack([np.asarray(W_BITS)[index[:, k]], np.asarray(IN_BITS)[index[:, k + 1]],
                      np.asarray(CELL_BITS)[index[:, k + 2]], index[:, k + 3]], axis=1).astype(float)
    return np.concatenate([graph_part, knobs], axis=1)


@lru_cache(maxsize=16)
def _imc_columns(stages: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in an ``imc`` vector: stage fields (S, 3) and conv kernels (S, MAX_BLOCKS, 2)."""
    L = Layout(stages)
    stage = np.asarray([[L.stage(s) + i for i in range(3)] for s in range(stages)])
    kernel = np.asarray([[[L.conv(s, CONVS_PER_BLOCK * b + j)[0] for j in range(CONVS_PER_BLOCK)]
                          for b in range(MAX_BLOCKS)] for s in range(stages)])
    return stage, kernel


def _imc_features(index: np.ndarray, codec) -> np.ndarray:
    """Vectorized metrics of ``imc`` index matrices (n, d), all stages and blocks at once.

    An ``imc`` network is a chain of segments (stem, blocks, a pool closing each ``vgg`` stage,
    head), so its path statistics compose in series: path counts multiply and the max, min and
    mean path weights add up segment by segment. A plain block (conv, conv) is one path; a ``res``
    block is two (the main path, and the identity or 1x1 projection) joined by an add node. Every
    metric is therefore a sum over (stage, block) slots of closed-form per-block values: a few
    numpy calls on (n, stages, blocks) arrays whatever the batch size. Resolutions are tracked as
    the number of halvings (stride-2 first blocks of ``res``/``mvgg`` stages after the first, and
    ``vgg`` max-pools), which also gives the receptive field's jump (2 ** halvings).
    """
    L = codec.layout
    S = L.stages
    n = index.shape[0]
    index = np.asarray(index, dtype=np.int64)
    stage_cols, kernel_cols = _imc_columns(S)
    level_of, n_levels = resolution_levels(codec.input_size)
    sides = halving_sides(codec.input_size, 2 * S)
    f = {}

    # --- stem ---------------------------------------------------------------------------------
    stem_w = np.asarray(STEM_WIDTHS)[index[:, L.stem]]
    has_stem = stem_w > 0
    stem_k = np.where(has_stem, np.asarray(KERNELS)[index[:, L.stem + 1]], 0)
    stem_large = (stem_k >= 3).astype(float)

    # --- stages (n, S) and blocks (n, S, B) --------------------------------------------------
    fields = index[:, stage_cols]  # (n, S, 3): block type, blocks, width
    btype, blocks = fields[..., 0], fields[..., 1]
    width = np.asarray(WIDTHS)[fields[..., 2]]
    nonempty = blocks > 0
    is_res = (btype == BLOCK_TYPES.index("res")) & nonempty
    pooled = (btype == BLOCK_TYPES.index("vgg")) & nonempty
    strided = nonempty & ~pooled & (np.arange(S) > 0)  # first block has stride 2
    active = blocks[:, :, None] > np.arange(MAX_BLOCKS)  # (n, S, B)
    k = np.where(active[..., None], np.asarray(KERNELS)[index[:, kernel_cols]], 0)  # (n, S, B, 2)

    # input channels of each stage: the last non-empty stage's width, else the stem's, else the image's
    c_stage = np.empty((n, S), dtype=np.int64)
    c = np.where(has_stem, stem_w, codec.in_channels)
    for s in range(S):
        c_stage[:, s] = c
        c = np.where(nonempty[:, s], width[:, s], c)
    c_last = c
    proj = is_res & (strided | (c_stage != width))  # (n, S): projection in block 0

    events = strided.astype(np.int64) + pooled
    m_in = np.cumsum(events, axis=1) - events  # halvings before the stage
    m_blk = m_in + strided  # halvings at every block output of the stage
    m_end = m_in[:, -1] + events[:, -1]
    h_blk = sides[m_blk]
    lvl_blk = np.minimum(m_blk, n_levels - 1)
    lvl_pool = np.minimum(m_blk + 1, n_levels - 1)

    # --- weights, MACs, op counts -------------------------------------------------------------
    wf = width.astype(float)
    k2 = (k * k).astype(float)  # kernel areas (0 where inactive)
    c_in_block = np.where(np.arange(MAX_BLOCKS) == 0, c_stage[:, :, None], width[:, :, None]).astype(float)
    block_params = (k2[..., 0] * c_in_block + k2[..., 1] * wf[:, :, None]).sum(axis=2) * wf  # (n, S)
    proj_params = np.where(proj, c_stage * wf, 0.0)
    stage_params = block_params + proj_params
    stem_params = np.where(has_stem, stem_k * stem_k * codec.in_channels * stem_w, 0).astype(float)
    h_in = float(codec.input_size)
    params = stem_params + stage_params.sum(axis=1)
    f["log10_conv_params_effective"] = log10_or_zero(params)  # every imc conv is on the path
    macs = stem_params * h_in * h_in + (stage_params * (h_blk * h_blk)).sum(axis=1)

    n_blocks = blocks.sum(axis=1)
    n_res = np.where(is_res, blocks, 0).sum(axis=1)
    n_plain = n_blocks - n_res
    n_proj = proj.sum(axis=1)
    n_pool = pooled.sum(axis=1)
    f["n_conv"] = has_stem + 2 * n_blocks + n_proj
    kernel_counts = np.stack([(k == kk).sum(axis=(1, 2, 3)) for kk in KERNELS], axis=1)
    kernel_counts += np.asarray(KERNELS) == stem_k[:, None]
    kernel_counts[:, KERNELS.index(1)] += n_proj
    for j, kk in enumerate(KERNELS):
        f[f"n_conv{kk}"] = kernel_counts[:, j]
    f["n_pool"] = n_pool
    f["n_skip"] = n_res

    # widths of the convolutions: the stem's, and each stage's (2 per block, + its projection)
    per_stage = 2 * blocks + proj
    width_sum = stem_w + (width * per_stage).sum(axis=1)
    big = np.iinfo(np.int64).max
    width_min = np.minimum(np.where(has_stem, stem_w, big), np.where(nonempty, width, big).min(axis=1))
    width_max = np.maximum(stem_w, np.where(nonempty, width, 0).max(axis=1))

    # --- NN-Degree: channel vertices and edges per resolution level -------------------------
    # convs (stem; per block conv1, conv2; projection), add nodes of res blocks, vgg max-pools
    stage_V = wf * (2 * blocks + proj + np.where(is_res, blocks, 0))
    stage_E = (np.where(active, c_in_block, 0.0).sum(axis=2) + wf * blocks) * wf \
        + proj_params + np.where(is_res, blocks, 0) * wf
    rows = np.arange(n)[:, None] * n_levels
    slots = np.concatenate([rows + lvl_blk, rows + lvl_pool, rows], axis=1).ravel()
    V = np.bincount(slots, np.concatenate([stage_V, np.where(pooled, wf, 0.0), stem_w[:, None]], axis=1).ravel(),
                    minlength=n * n_levels).reshape(n, n_levels)
    E = np.bincount(slots, np.concatenate([stage_E, np.zeros((n, S)), (stem_w * codec.in_channels)[:, None]],
                                          axis=1).ravel(), minlength=n * n_levels).reshape(n, n_levels)

    # --- receptive field: rf grows by (kernel - 1) * jump, jump = 2 ** halvings -------------
    jump_blk = np.exp2(m_blk)
    jump_first = np.where(np.arange(MAX_BLOCKS) == 0, np.exp2(m_in)[:, :, None], jump_blk[:, :, None])
    grow = np.maximum(k - 1, 0).astype(float)
    rf = (1.0 + np.maximum(stem_k - 1, 0) + (grow[..., 0] * jump_first).sum(axis=(1, 2))
          + (grow[..., 1].sum(axis=2) * jump_blk).sum(axis=1) + np.where(pooled, jump_blk, 0.0).sum(axis=1))

    # --- path statistics (series composition: max, min and mean path weights add up) --------
    large = (k >= 3).sum(axis=3)  # (n, S, B): large kernels on a block's main path
    large_res = np.where(is_res, large.sum(axis=2), 0).sum(axis=1)
    large_plain = large.sum(axis=(1, 2)) - large_res
    n_res_plain = n_res - n_proj  # res blocks with an identity shortcut
    hidden = np.asarray(FC_HIDDEN)[index[:, L.head + 1]]
    head_nodes = 2.0 + (hidden > 0)  # gap or flatten, optional hidden linear, classifier
    stem = has_stem.astype(float)
    f["depth"] = stem + 2 * n_blocks
    f["min_depth"] = stem + 2 * n_plain + n_proj
    f["mean_path_depth"] = stem + 2 * n_plain + 1.5 * n_proj + n_res_plain
    f["depth_large"] = stem_large + large_plain + large_res
    f["min_depth_large"] = stem_large + large_plain
    f["mean_path_depth_large"] = stem_large + large_plain + 0.5 * large_res
    for name in ("max_path_pools", "min_path_pools", "mean_path_pools"):
        f[name] = n_pool
    base_nodes = stem + 2 * n_plain + n_pool + head_nodes
    f["max_path_nodes"] = base_nodes + 3 * n_res
    f["min_path_nodes"] = base_nodes + 2 * n_proj + n_res_plain
    f["mean_path_nodes"] = base_nodes + 2.5 * n_proj + 2 * n_res_plain
    paths = np.exp2(n_res)  # each res block doubles the paths
    # paths without any convolution: only through identity shortcuts, with no stem and no plain block
    paths_noconv = ((~has_stem) & (n_plain == 0) & (n_proj == 0)).astype(float)

    # --- head -------------------------------------------------------------------------------
    h_end = sides[m_end]
    gap = index[:, L.head] == HEAD_POOLS.index("gap")
    features_in = np.where(gap, c_last, c_last * h_end * h_end)
    head = features_in * hidden + np.where(hidden > 0, hidden, features_in) * codec.num_classes
    params = params + head
    macs = macs + head
    f["n_linear"] = 1.0 + (hidden > 0)
    f["final_resolution"] = h_end

    f["log10_params"] = log10_or_zero(params)
    f["log10_macs"] = log10_or_zero(macs)
    # every imc network is a chain of blocks: connected, every layer on an input-output path
    f["dead"] = 0.0
    f["log10_params_effective"] = f["log10_params"]
    f["n_conv_effective"] = f["n_conv"]
    f["n_conv1_effective"] = f["n_conv1"]
    f["n_conv_large_effective"] = f["n_conv"] - f["n_conv1"]
    f["n_pool_effective"] = f["n_pool"]
    f["n_skip_effective"] = f["n_skip"]
    f["n_weight_layers"] = f["n_conv"] + f["n_linear"]
    f["skip_density"] = np.where(f["n_conv"] > 0, f["n_skip"] / np.maximum(f["n_conv"], 1), 0.0)
    f["log10_paths"] = np.log10(1.0 + paths)
    f["log10_conv_paths"] = np.log10(1.0 + paths - paths_noconv)
    f["receptive_field"] = rf
    f["width_mean"] = np.where(f["n_conv"] > 0, width_sum / np.maximum(f["n_conv"], 1), 0.0)
    f["width_min"] = np.where(width_min < big, width_min, 0)
    f["width_max"] = width_max
    f["nn_degree"] = (2.0 * E / np.where(V > 0, V, 1.0)).sum(axis=1)
    return stack_features(f, n)
