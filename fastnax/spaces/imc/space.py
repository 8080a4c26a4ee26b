"""The IMC co-design macro space (default): :class:`ImcSpace`, its hooks wired to the fast paths.

The genotype layout and codec are in ``genotype.py``, the vectorized paths in ``table.py`` (layer
table), ``features.py`` (graph features) and ``family.py`` (the hierarchical search's macro
family); ``nax.py`` is the NAX restriction.
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import ADC_RULES, Architecture, Layer, LayerTable
from fastnax.errors import ArchitectureError
from fastnax.spaces.base import SearchSpace
from fastnax.spaces.imc.family import ImcFamily
from fastnax.spaces.imc.features import imc_feature_matrix
from fastnax.spaces.imc.genotype import (BLOCK_TYPES, CELL_BITS, CONVS_PER_BLOCK, CROSSBARS, FC_HIDDEN,
                                         HEAD_POOLS, IN_BITS, KERNELS, MAX_BLOCKS, STEM_WIDTHS, W_BITS,
                                         WIDTHS, ImcCodec, _codec, _gated, canonicalize, parse)
from fastnax.spaces.imc.table import imc_layer_table
from fastnax.spaces.registry import register_space


@register_space("imc", parser=parse)
class ImcSpace(SearchSpace):
    """The co-design macro space (see the module docstring).

    Parameters
    ----------
    input_size : int
        Height = width of the input images (32 for CIFAR, 64 for Tiny ImageNet, 8 for digits).
    in_channels, num_classes : int
    stages : int, optional
        Number of stages; 3 for inputs up to 32×32, 4 above.
    """

    name = "imc"

    def __init__(self, input_size: int = 32, in_channels: int = 3, num_classes: int = 10,
                 stages: int | None = None):
        self.codec = _codec(**ImcCodec(input_size, in_channels, num_classes, stages).options)
        self.layout = self.codec.layout
        self.options = self.codec.options
        self._bounds = self.layout.bounds()

    @property
    def bounds(self) -> np.ndarray:
        return self._bounds.copy()

    @property
    def coordinate_names(self) -> list[str]:
        return self.layout.names()

    def canonicalize(self, index: np.ndarray) -> np.ndarray:
        return canonicalize(index, self.layout)

    def active(self, index: np.ndarray) -> np.ndarray:
        """Coordinates that count: a coordinate gated off (conv slots of absent blocks, an absent
        stem's or hidden layer's settings, an empty stage's type and width) is inactive."""
        return _gated(np.asarray(index, dtype=np.int64), self.layout).astype(bool)

    def _arch_from_index(self, row: np.ndarray) -> Architecture:
        return self.codec.arch(row)

    def _index_from_arch(self, arch: Architecture) -> np.ndarray:
        if not isinstance(arch, Architecture):
            raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
        if arch.space != "imc" or arch.option_dict != self.options:
            raise ArchitectureError(
                f"architecture {str(arch)[:60]!r} is not a member of the imc space with options "
                f"{self.options}")
        return np.asarray(arch.genotype, dtype=np.int64)

    @property
    def size(self) -> int:
        conv = len(KERNELS) * len(CROSSBARS)
        stem = 1 + (len(STEM_WIDTHS) - 1) * conv
        stage = 1 + sum(len(BLOCK_TYPES) * len(WIDTHS) * conv ** (CONVS_PER_BLOCK * n)
                        for n in range(1, MAX_BLOCKS + 1))
        head = len(HEAD_POOLS) * (len(CROSSBARS) + (len(FC_HIDDEN) - 1) * len(CROSSBARS) ** 2)
        knobs = len(W_BITS) * len(IN_BITS) * len(CELL_BITS) * len(ADC_RULES)
        return stem * stage ** self.layout.stages * head * knobs

    # --- baselines -----------------------------------------------------------------------------
    def _baselines(self) -> dict[str, np.ndarray]:
        out = {}
        if self.layout.stages == 3:
            out["resnet20"] = self._uniform(stem=16, stages=[("res", 3, 16), ("res", 3, 32), ("res", 3, 64)],
                                            crossbar=64)
            out["vgg8"] = self._uniform(stem=0, stages=[("vgg", 1, 128), ("vgg", 1, 256), ("vgg", 1, 512)],
                                        crossbar=128, pool="flatten", hidden=1024)
        if self.layout.stages == 4:
            out["resnet18"] = self._uniform(stem=64, stages=[("res", 2, 64), ("res", 2, 128),
                                                             ("res", 2, 256), ("res", 2, 512)], crossbar=64)
        return out

    def _uniform(self, stem: int, stages: list, crossbar: int, kernel: int = 3, pool: str = "gap",
                 hidden: int = 0, w_bits: int = 8, in_bits: int = 8, cell_bits: int = 2) -> np.ndarray:
        L = self.layout
        g = np.zeros(L.dim, dtype=np.int64)
        k, x = KERNELS.index(kernel), CROSSBARS.index(crossbar)
        if stem:
            g[L.stem:L.stem + 3] = [STEM_WIDTHS.index(stem), k, x]
        for s, (btype, blocks, width) in enumerate(stages):
            base = L.stage(s)
            g[base:base + 3] = [BLOCK_TYPES.index(btype), blocks, WIDTHS.index(width)]
            for j in range(CONVS_PER_BLOCK * blocks):
                g[list(L.conv(s, j))] = [k, x]
        g[L.head:L.head + 4] = [HEAD_POOLS.index(pool), FC_HIDDEN.index(hidden), x if hidden else 0, x]
        g[L.knobs:L.knobs + 4] = [W_BITS.index(w_bits), IN_BITS.index(in_bits),
                                  CELL_BITS.index(cell_bits), 0]
        return g

    # --- the codec ------------------------------------------------------------------------------
    def build_layers(self, arch: Architecture) -> tuple[Layer, ...]:
        return self.codec.build_layers(arch)

    def format(self, arch: Architecture) -> str:
        return self.codec.format(arch)

    def hardware_knobs(self, arch: Architecture) -> dict[str, int]:
        return self.codec.hardware_knobs(arch)

    # --- the fast paths ------------------------------------------------------------------------
    def layer_table_from_index(self, index: np.ndarray) -> LayerTable:
        """Weight layers of a batch, vectorized over architectures.

        Slots: 0 stem; then per stage and block (conv1, conv2, projection); then fc1, fc2.
        """
        return imc_layer_table(np.asarray(index, dtype=np.int64), self.codec)

    def features_from_index(self, index: np.ndarray) -> np.ndarray:
        return imc_feature_matrix(np.asarray(index, dtype=np.int64), self.codec)

    def network_coordinates(self) -> np.ndarray:
        """Everything but the crossbar sizes and the four hardware knobs."""
        names = self.layout.names()
        net = np.asarray(["crossbar" not in name for name in names])
        net[self.layout.knobs:self.layout.knobs + 4] = False
        return net

    def knob_coordinates(self) -> dict[str, int]:
        k = self.layout.knobs
        return {"w_bits": k, "in_bits": k + 1, "cell_bits": k + 2, "adc_rule": k + 3}

    def macro_family(self):
        return ImcFamily(self)


