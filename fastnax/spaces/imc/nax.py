"""The NAX search space (Negi et al., "NAX: Neural Architecture and Memristive Xbar based
Accelerator Co-design", DAC 2022) as a restriction of ``imc``; it decodes to ``imc`` architectures."""

from __future__ import annotations

import numpy as np

from fastnax.arch import Architecture, LayerTable
from fastnax.errors import ArchitectureError
from fastnax.spaces.base import SearchSpace
from fastnax.spaces.family import Family
from fastnax.spaces.imc.genotype import (BLOCK_TYPES, CELL_BITS, CROSSBARS, IN_BITS, KERNELS,
                                         STEM_WIDTHS, W_BITS, WIDTHS)
from fastnax.spaces.imc.space import ImcSpace
from fastnax.spaces.registry import register_space


@register_space("nax", architectures_of="imc")
class NaxSpace(SearchSpace):
    """The NAX search space as a restriction of ``imc``.

    ResNet-20 skeleton (16-channel 3×3 stem, three ``res`` stages of up to three blocks at 16/32/64
    channels, global pooling, a linear classifier; 8-bit weights and inputs, 2 bits per cell). Every
    convolution picks a kernel in {3, 5, 7} and a crossbar size in {16, 32, 64, 128}; the second and
    third block of each stage may be the zero op, which drops the block (the first block of a stage
    always exists: it changes the shape). Decodes to ``imc`` architectures.

    Coordinates: stem (kernel, crossbar); per stage, per block: keep flag (blocks 2 and 3), then
    (kernel, crossbar) of its two convs; classifier crossbar.
    """

    name = "nax"
    KERNELS = (3, 5, 7)
    CROSSBARS = (16, 32, 64, 128)

    def __init__(self, input_size: int = 32, in_channels: int = 3, num_classes: int = 10):
        self.imc = ImcSpace(input_size, in_channels, num_classes, stages=3)
        self.options = {k: v for k, v in self.imc.options.items() if k != "stages"}
        names = ["stem_kernel", "stem_crossbar"]
        for s in range(3):
            for b in range(3):
                if b:
                    names.append(f"s{s}_b{b}_keep")
                for j in range(2):
                    names += [f"s{s}_b{b}_conv{j}_kernel", f"s{s}_b{b}_conv{j}_crossbar"]
        names.append("fc_crossbar")
        self._names = names
        hi = []
        for name in names:
            hi.append(1 if name.endswith("keep") else
                      len(self.KERNELS) - 1 if name.endswith("kernel") else len(self.CROSSBARS) - 1)
        self._bounds = np.stack([np.zeros(len(hi)), np.asarray(hi, float)], axis=1)
        self._pos = {name: i for i, name in enumerate(names)}

    @property
    def bounds(self) -> np.ndarray:
        return self._bounds.copy()

    @property
    def coordinate_names(self) -> list[str]:
        return list(self._names)

    def canonicalize(self, index: np.ndarray) -> np.ndarray:
        """Kept blocks move to the front of their stage; dropped blocks' coordinates are zeroed."""
        index = np.array(index, dtype=np.int64, copy=True)
        p = self._pos
        for s in range(3):
            conv_cols = [[p[f"s{s}_b{b}_conv{j}_{f}"] for j in range(2) for f in ("kernel", "crossbar")]
                         for b in range(3)]
            keep = np.stack([np.ones(len(index), bool), index[:, p[f"s{s}_b1_keep"]] > 0,
                             index[:, p[f"s{s}_b2_keep"]] > 0], axis=1)
            # stable order: kept blocks first, in their original order
            order = np.argsort(~keep, axis=1, kind="stable")
            blocks = np.stack([index[:, cols] for cols in conv_cols], axis=1)  # (n, 3, 4)
            blocks = np.take_along_axis(blocks, order[:, :, None], axis=1)
            kept = keep.sum(axis=1)
            for b in range(3):
                live = kept > b
                index[:, conv_cols[b]] = np.where(live[:, None], blocks[:, b], 0)
                if b:
                    index[:, p[f"s{s}_b{b}_keep"]] = live
        return index

    def _to_imc_index(self, index: np.ndarray) -> np.ndarray:
        L = self.imc.layout
        p = self._pos
        n = index.shape[0]
        out = np.zeros((n, L.dim), dtype=np.int64)
        kmap = np.asarray([KERNELS.index(k) for k in self.KERNELS])
        xmap = np.asarray([CROSSBARS.index(x) for x in self.CROSSBARS])
        out[:, L.stem] = STEM_WIDTHS.index(16)
        out[:, L.stem + 1] = kmap[index[:, p["stem_kernel"]]]
        out[:, L.stem + 2] = xmap[index[:, p["stem_crossbar"]]]
        for s, width in enumerate((16, 32, 64)):
            base = L.stage(s)
            blocks = 1 + index[:, p[f"s{s}_b1_keep"]] + index[:, p[f"s{s}_b2_keep"]]
            out[:, base] = BLOCK_TYPES.index("res")
            out[:, base + 1] = blocks
            out[:, base + 2] = WIDTHS.index(width)
            for b in range(3):
                live = blocks > b
                for j in range(2):
                    kp, xp = L.conv(s, 2 * b + j)
                    out[:, kp] = np.where(live, kmap[index[:, p[f"s{s}_b{b}_conv{j}_kernel"]]], 0)
                    out[:, xp] = np.where(live, xmap[index[:, p[f"s{s}_b{b}_conv{j}_crossbar"]]], 0)
        out[:, L.head + 3] = xmap[index[:, p["fc_crossbar"]]]
        out[:, L.knobs:L.knobs + 4] = [W_BITS.index(8), IN_BITS.index(8), CELL_BITS.index(2), 0]
        return self.imc.canonicalize(out)

    def _arch_from_index(self, row: np.ndarray) -> Architecture:
        return self.imc._arch_from_index(self._to_imc_index(row[None])[0])

    def _index_from_arch(self, arch: Architecture) -> np.ndarray:
        g = self.imc._index_from_arch(arch)
        L = self.imc.layout
        p = self._pos
        out = np.zeros(self.dim, dtype=np.int64)

        def pick(value_index: int, table: tuple, allowed: tuple, what: str) -> int:
            value = table[value_index]
            if value not in allowed:
                raise ArchitectureError(f"architecture is not in the nax space: {what} {value} is not one "
                                        f"of {', '.join(map(str, allowed))}")
            return allowed.index(value)

        out[p["stem_kernel"]] = pick(g[L.stem + 1], KERNELS, self.KERNELS, "stem kernel")
        out[p["stem_crossbar"]] = pick(g[L.stem + 2], CROSSBARS, self.CROSSBARS, "stem crossbar")
        out[p["fc_crossbar"]] = pick(g[L.head + 3], CROSSBARS, self.CROSSBARS, "classifier crossbar")
        for s in range(3):
            base = L.stage(s)
            blocks = g[base + 1]
            if blocks < 1 or blocks > 3:
                raise ArchitectureError(f"architecture is not in the nax space: stage {s} has {blocks} "
                                        f"blocks, valid: 1 to 3")
            for b in range(blocks):
                if b:
                    out[p[f"s{s}_b{b}_keep"]] = 1
                for j in range(2):
                    kp, xp = L.conv(s, 2 * b + j)
                    out[p[f"s{s}_b{b}_conv{j}_kernel"]] = pick(g[kp], KERNELS, self.KERNELS, "kernel")
                    out[p[f"s{s}_b{b}_conv{j}_crossbar"]] = pick(g[xp], CROSSBARS, self.CROSSBARS, "crossbar")
        if not np.array_equal(self._to_imc_index(out[None])[0], g):
            raise ArchitectureError(f"architecture {str(arch)[:60]!r} is not in the nax space (it "
                                    f"differs from the ResNet-20 skeleton)")
        return out

    @property
    def size(self) -> int:
        conv = len(self.KERNELS) * len(self.CROSSBARS)
        block = conv ** 2
        stage = sum(block ** n for n in range(1, 4))
        return conv * stage ** 3 * len(self.CROSSBARS)

    def _baselines(self) -> dict[str, np.ndarray]:
        g = self.imc._uniform(stem=16, stages=[("res", 3, 16), ("res", 3, 32), ("res", 3, 64)], crossbar=64)
        arch = self.imc._arch_from_index(g)
        return {"resnet20": self._index_from_arch(arch)}

    def layer_table(self, X_or_archs) -> LayerTable:
        if isinstance(X_or_archs, np.ndarray) and X_or_archs.dtype != object:
            return self.layer_table_from_index(self.to_index(X_or_archs))
        return self.imc.layer_table(X_or_archs)

    # --- the fast paths: the imc space's, on the imc rows --------------------------------------
    def layer_table_from_index(self, index: np.ndarray) -> LayerTable:
        return self.imc.layer_table_from_index(self._to_imc_index(np.asarray(index, dtype=np.int64)))

    def features_from_index(self, index: np.ndarray) -> np.ndarray:
        return self.imc.features_from_index(self._to_imc_index(np.asarray(index, dtype=np.int64)))

    def network_coordinates(self) -> np.ndarray:
        return np.asarray(["crossbar" not in name for name in self._names])

    def knob_coordinates(self) -> dict[str, None]:
        return {"w_bits": None, "in_bits": None, "cell_bits": None, "adc_rule": None}  # fixed: 8/8/2

    def macro_family(self):
        return NaxFamily(self)

    @property
    def base_space(self) -> ImcSpace:
        return self.imc

    def base_index(self, index: np.ndarray) -> np.ndarray:
        return self._to_imc_index(np.asarray(index, dtype=np.int64))

    def to_imc(self, X) -> np.ndarray:
        """The ``imc`` vectors of a batch of ``nax`` vectors."""
        return self._to_imc_index(self.to_index(X)).astype(float)


class NaxFamily(Family):
    """``nax``: blocks kept per stage (1-3), kernel, crossbar (uniform over the layers)."""

    def __init__(self, space):
        self.space = space
        self.names = ["blocks", "kernel", "crossbar"]
        self.levels = [3, len(space.KERNELS), len(space.CROSSBARS)]
        self._names = space.coordinate_names

    def to_vectors(self, Z):
        Z = np.asarray(Z, dtype=np.int64)
        X = np.zeros((Z.shape[0], len(self._names)), dtype=np.int64)
        for j, name in enumerate(self._names):
            if name.endswith("_keep"):
                b = int(name.split("_b")[1][0])
                X[:, j] = Z[:, 0] >= b
            elif name.endswith("kernel"):
                X[:, j] = Z[:, 1]
            elif name.endswith("crossbar"):
                X[:, j] = Z[:, 2]
        return X.astype(float)
