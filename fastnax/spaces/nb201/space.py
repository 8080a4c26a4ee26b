"""The NAS-Bench-201 cell space × crossbar size: :class:`Nb201Space` and its layer table.

Genotype and codec in ``genotype.py``, vectorized graph features in ``features.py``, the macro
family in ``family.py``.
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import KIND_CONV, KIND_LINEAR, Architecture, Layer, LayerTable
from fastnax.errors import ArchitectureError
from fastnax.spaces.base import SearchSpace
from fastnax.spaces.nb201.family import Nb201Family
from fastnax.spaces.nb201.features import nb201_feature_matrix
from fastnax.spaces.nb201.genotype import (CELLS_PER_STAGE, CROSSBARS, EDGES, N_CELLS, OPS, STAGE_WIDTHS,
                                           Nb201Codec, _codec, cell_ops, parse, parse_cell)
from fastnax.spaces.registry import register_space


@register_space("nb201", parser=parse)
class Nb201Space(SearchSpace):
    """NAS-Bench-201 cells × crossbar sizes. Coordinates: six edge ops (0..4), crossbar index."""

    name = "nb201"

    def __init__(self, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
                 w_bits: int = 8, in_bits: int = 8, cell_bits: int = 2, adc_rule: str = "preset"):
        self.codec = _codec(**Nb201Codec(num_classes, input_size, in_channels, w_bits, in_bits,
                                         cell_bits, adc_rule).options)
        self.options = self.codec.options
        self._bounds = np.array([[0, len(OPS) - 1]] * 6 + [[0, len(CROSSBARS) - 1]], dtype=float)

    @property
    def bounds(self) -> np.ndarray:
        return self._bounds.copy()

    @property
    def coordinate_names(self) -> list[str]:
        return [f"edge{to}{src}" for to, src in EDGES] + ["crossbar"]

    def canonicalize(self, index: np.ndarray) -> np.ndarray:
        return np.asarray(index, dtype=np.int64)

    def _arch_from_index(self, row) -> Architecture:
        return self.codec.arch(row)

    def _index_from_arch(self, arch: Architecture) -> np.ndarray:
        if not isinstance(arch, Architecture):
            raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
        if arch.space != "nb201" or arch.option_dict != self.options:
            raise ArchitectureError(f"architecture {str(arch)[:60]!r} is not a member of the nb201 space "
                                    f"with options {self.options}")
        return np.asarray(arch.genotype, dtype=np.int64)

    @property
    def size(self) -> int:
        return N_CELLS * len(CROSSBARS)

    def _baselines(self) -> dict[str, np.ndarray]:
        # The best CIFAR-10 cell of the benchmark (index 81 in some orderings; all 3x3 convs but a
        # skip), and the all-3x3 cell: references that every NAS-Bench-201 paper quotes.
        best = parse_cell("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        conv3 = parse_cell("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        x64 = CROSSBARS.index(64)
        return {"best-c10": np.array(best + (x64,)), "all-conv3x3": np.array(conv3 + (x64,))}

    def all_vectors(self) -> np.ndarray:
        """Every configuration (78,125 × 7): cells in cell-id order, crossbar outer."""
        cells = cell_ops(np.arange(N_CELLS))
        xb = np.repeat(np.arange(len(CROSSBARS)), N_CELLS)
        return np.concatenate([np.tile(cells, (len(CROSSBARS), 1)), xb[:, None]], axis=1).astype(float)

    # --- the codec ------------------------------------------------------------------------------
    def build_layers(self, arch: Architecture) -> tuple[Layer, ...]:
        return self.codec.build_layers(arch)

    def format(self, arch: Architecture) -> str:
        return self.codec.format(arch)

    def hardware_knobs(self, arch: Architecture) -> dict[str, int]:
        return self.codec.hardware_knobs(arch)

    # --- the fast paths ------------------------------------------------------------------------
    def layer_table_from_index(self, index: np.ndarray) -> LayerTable:
        """Weight layers of a batch. Slots: stem; per stage (reduction conv_a, conv_b, projection
        for stages 2 and 3), then 5 cells × 6 edges; classifier."""
        return nb201_layer_table(np.asarray(index, dtype=np.int64), self.codec)

    def features_from_index(self, index: np.ndarray) -> np.ndarray:
        return nb201_feature_matrix(np.asarray(index, dtype=np.int64), self.codec)

    def noise_drop(self, index: np.ndarray, sigma: np.ndarray, noise_penalty: float,
                   sigma_ref: float) -> np.ndarray:
        """The uniform penalty scaled per cell by how much noise per unit of capacity the cell lets
        reach the logits (:func:`fastnax.robustness.drop_penalty`: Kendall 0.52 with the true 1-day
        drop of AnalogNAS-Bench over the live cells, where the uniform penalty ranks at -0.28); a
        median live cell at ``sigma_ref`` loses ``noise_penalty`` points. Dead cells: inf (the
        evaluator holds them at chance)."""
        from fastnax.robustness import drop_penalty

        return drop_penalty(self, np.asarray(index, dtype=float), np.asarray(sigma, dtype=float),
                            noise_penalty=noise_penalty, sigma_ref=sigma_ref)

    def network_coordinates(self) -> np.ndarray:
        """The six edge ops; the crossbar size changes the hardware only."""
        return np.arange(self.dim) < 6

    def knob_coordinates(self) -> dict[str, None]:
        return {"w_bits": None, "in_bits": None, "cell_bits": None, "adc_rule": None}  # options

    def exchangeable_coordinates(self) -> list[list[int]]:
        """The six edge ops (one domain: the five ops)."""
        return [list(range(6))]

    def macro_family(self):
        return Nb201Family(self)


def nb201_layer_table(index: np.ndarray, codec: Nb201Codec) -> LayerTable:
    n = index.shape[0]
    ops, crossbar = index[:, :6], np.asarray(CROSSBARS)[index[:, 6]]
    slots = 1 + 2 * 3 + 3 * CELLS_PER_STAGE * 6 + 1
    cols = {name: np.zeros((n, slots), dtype=np.int64) for name in LayerTable.PER_LAYER}
    ones = np.ones(n, dtype=bool)

    def put(j, active, kind, kernel, stride, c_in, c_out, h_in, h_out):
        for name, value in (("kind", kind), ("kernel", kernel), ("stride", stride), ("c_in", c_in),
                            ("c_out", c_out), ("in_h", h_in), ("in_w", h_in), ("out_h", h_out),
                            ("out_w", h_out), ("crossbar_size", crossbar)):
            cols[name][:, j] = np.where(active, value, 0)

    h = codec.input_size
    put(0, ones, KIND_CONV, 3, 1, codec.in_channels, 16, h, h)
    j = 1
    c = 16
    is_conv = (ops == 2) | (ops == 3)
    kernel = np.where(ops == 3, 3, 1)
    n_in = np.zeros((n, 3), dtype=np.int64)  # inputs of cell nodes 1..3
    for e, (to, _) in enumerate(EDGES):
        n_in[:, to - 1] += ops[:, e] != 0
    n_pool = (ops == 4).sum(axis=1)
    n_skip_cell = (ops == 1).sum(axis=1)
    act = np.zeros(n, dtype=np.int64)
    for s, width in enumerate(STAGE_WIDTHS):
        if s:
            h1 = -(-h // 2)
            put(j, ones, KIND_CONV, 3, 2, c, width, h, h1)
            put(j + 1, ones, KIND_CONV, 3, 1, width, width, h1, h1)
            put(j + 2, ones, KIND_CONV, 1, 1, c, width, h1, h1)
            act += c * h1 * h1 * 2 + width * h1 * h1 * 3  # shortcut pool, add
            j += 3
            c, h = width, h1
        for _ in range(CELLS_PER_STAGE):
            for e in range(6):
                put(j, is_conv[:, e], KIND_CONV, kernel[:, e], 1, c, c, h, h)
                j += 1
            act += c * h * h * ((np.maximum(n_in, 1) + 1).sum(axis=1) + 2 * n_pool)
    act += c * 2  # global pooling
    put(j, ones, KIND_LINEAR, 1, 1, c, codec.num_classes, 1, 1)
    cols["kind"] = cols["kind"].astype(np.int8)
    knobs = codec.hardware_knobs(None)  # type: ignore[arg-type]
    full = lambda v: np.full(n, v, dtype=np.int64)  # noqa: E731
    return LayerTable(**cols, w_bits=full(knobs["w_bits"]), in_bits=full(knobs["in_bits"]),
                      cell_bits=full(knobs["cell_bits"]), adc_rule=full(knobs["adc_rule"]),
                      n_skip=2 + 3 * CELLS_PER_STAGE * n_skip_cell, act_elems=act)
