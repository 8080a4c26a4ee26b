"""The macro family of ``imc`` (level 1 of the hierarchical search)."""

from __future__ import annotations

import numpy as np

from fastnax.spaces.family import Family
from fastnax.spaces.imc import genotype as imc


class ImcFamily(Family):
    """``imc``: block type, blocks per stage, base width (doubling per stage), kernel, crossbar.

    The stem has the base width, the head is global pooling and a linear classifier, and the
    hardware knobs are the baselines' (8-bit weights and inputs, 2 bits per cell, the preset's ADC
    rule): level 2 refines all of them per layer.
    """

    def __init__(self, space):
        self.space = space
        self.layout = space.layout
        self.names = ["block_type", "blocks", "width", "kernel", "crossbar"]
        self.levels = [len(imc.BLOCK_TYPES), imc.MAX_BLOCKS, 4, len(imc.KERNELS), len(imc.CROSSBARS)]
        L = self.layout
        # coordinates (stages, blocks, 4) of each block's (kernel, crossbar) pairs
        self._block_cols = np.asarray([[[L.conv(s, imc.CONVS_PER_BLOCK * b + j)[f]
                                         for j in range(imc.CONVS_PER_BLOCK) for f in range(2)]
                                        for b in range(imc.MAX_BLOCKS)] for s in range(L.stages)])
        self._blocks = np.arange(imc.MAX_BLOCKS)

    def to_vectors(self, Z):
        L = self.layout
        Z = np.asarray(Z, dtype=np.int64)
        n = Z.shape[0]
        X = np.zeros((n, L.dim), dtype=np.int64)
        btype, blocks, width, kernel, crossbar = (Z[:, i] for i in range(5))
        X[:, L.stem] = np.minimum(width + 1, len(imc.STEM_WIDTHS) - 1)
        X[:, L.stem + 1] = kernel
        X[:, L.stem + 2] = crossbar
        for s in range(L.stages):
            base = L.stage(s)
            X[:, base] = btype
            X[:, base + 1] = blocks + 1
            X[:, base + 2] = np.minimum(width + s, len(imc.WIDTHS) - 1)
            for j in range(imc.MAX_BLOCKS * imc.CONVS_PER_BLOCK):
                k, x = L.conv(s, j)
                X[:, k] = kernel
                X[:, x] = crossbar
        X[:, L.head + 3] = crossbar
        X[:, L.knobs:L.knobs + 4] = [imc.W_BITS.index(8), imc.IN_BITS.index(8), imc.CELL_BITS.index(2), 0]
        return self.space.canonicalize(X).astype(float)

    def repair(self, starts, neighbours):
        """A block added by a depth move copies its stage's last block (not the canonical zeros)."""
        L = self.layout
        out = neighbours
        blocks = self._blocks
        for s in range(L.stages):
            bpos = L.stage(s) + 1
            old, new = starts[:, bpos], out[:, bpos]
            # rows whose stage grew from at least one block (only those copy anything)
            r = np.flatnonzero((new > old) & (old >= 1))
            if not len(r):
                continue
            if out is neighbours:  # copy on first write: the input is never changed
                out = neighbours.copy()
            o = old[r]
            grown = (blocks[None, :] >= o[:, None]) & (blocks[None, :] < new[r][:, None])  # (k, B)
            cols = self._block_cols[s]  # (B, 4): kernel and crossbar of the block's two convs
            values = out[r[:, None, None], cols[None]]  # (k, B, 4)
            last = values[np.arange(len(r)), o - 1]  # the stage's last block before the move
            out[r[:, None, None], cols[None]] = np.where(grown[:, :, None], last[:, None, :], values)
        return out
