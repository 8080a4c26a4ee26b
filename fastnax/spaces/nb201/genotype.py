"""The ``nb201`` genotype: cell encoding, codec (build the DAG, print, parse).

The NAS-Bench-201 cell space in its standard network, crossed with a crossbar size.

The network (Dong & Yang, ICLR 2020): a 3×3 stem convolution with 16 channels and batch norm;
three stages of five cells at 16/32/64 channels with a residual reduction block between stages
(ReLU-conv3×3/2-BN, ReLU-conv3×3-BN, shortcut 2×2 average pool then 1×1 conv); a final
BN-ReLU, global average pooling and a linear classifier. A cell is a DAG of four nodes; each of its
six edges (1←0, 2←0, 2←1, 3←0, 3←1, 3←2, the order of the benchmark's strings) carries one of five
ops. Every weight layer of a network is mapped to crossbars of one size, the space's extra
coordinate. Hardware knobs (weight and input bits, bits per cell, ADC rule) are options of the
space, fixed for all its members.

fastnax numbers cells by ``cell_id = sum(op_e * 5**e)`` over the edges in string order (a dense
enumeration of the 15,625 cells). That is not NAS-Bench-201's own index, whose order comes from the
benchmark's archive: ``fastnax.datasets.nb201`` maps between the two through the benchmark's file.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from fastnax.arch import ADC_RULES, Architecture, Layer
from fastnax.errors import ArchitectureError, BoundsError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from) in string order
CROSSBARS = (16, 32, 64, 128, 256)
STAGE_WIDTHS = (16, 32, 64)
CELLS_PER_STAGE = 5
N_CELLS = len(OPS) ** len(EDGES)

_CELL = re.compile(r"^\|([a-z_0-9]+)~0\|\+\|([a-z_0-9]+)~0\|([a-z_0-9]+)~1\|\+"
                   r"\|([a-z_0-9]+)~0\|([a-z_0-9]+)~1\|([a-z_0-9]+)~2\|$")


def from_nb201_string(text: str, crossbar_size: int = 64, **options) -> Architecture:
    """The architecture of a NAS-Bench-201 cell string, e.g. ``|nor_conv_3x3~0|+|...|``."""
    ops = parse_cell(text)
    codec = _codec(**Nb201Codec(**options).options)
    if crossbar_size not in CROSSBARS:
        raise BoundsError(f"crossbar size {crossbar_size} is not one of {', '.join(map(str, CROSSBARS))}")
    return codec.arch(ops + (CROSSBARS.index(crossbar_size),))


def to_nb201_string(arch: Architecture) -> str:
    """The benchmark's cell string of an ``nb201`` architecture."""
    if arch.space != "nb201":
        raise ArchitectureError(f"architecture {str(arch)[:60]!r} is not of the nb201 space")
    return cell_string(arch.genotype[:6])


def cell_string(ops) -> str:
    o = [OPS[int(i)] for i in ops]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


def parse_cell(text: str) -> tuple[int, ...]:
    m = _CELL.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ArchitectureError(
            f"malformed NAS-Bench-201 cell string {str(text)[:80]!r}: expected "
            f"'|OP~0|+|OP~0|OP~1|+|OP~0|OP~1|OP~2|' with OP one of {', '.join(OPS)}")
    ops = []
    for op in m.groups():
        if op not in OPS:
            raise ArchitectureError(f"malformed NAS-Bench-201 cell string {text[:80]!r}: op {op!r} is "
                                    f"not one of {', '.join(OPS)}")
        ops.append(OPS.index(op))
    return tuple(ops)


def cell_id(ops: np.ndarray) -> np.ndarray:
    """fastnax cell ids (base-5 enumeration) of cells given as op-index arrays (..., 6)."""
    ops = np.asarray(ops, dtype=np.int64)
    return (ops * (len(OPS) ** np.arange(len(EDGES)))).sum(axis=-1)


def cell_ops(cell_ids: np.ndarray) -> np.ndarray:
    """Op-index arrays (..., 6) of fastnax cell ids."""
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    return (cell_ids[..., None] // (len(OPS) ** np.arange(len(EDGES)))) % len(OPS)


class Nb201Codec:
    def __init__(self, num_classes: int = 10, input_size: int = 32, in_channels: int = 3,
                 w_bits: int = 8, in_bits: int = 8, cell_bits: int = 2, adc_rule: str = "preset"):
        for name, value in (("num_classes", num_classes), ("input_size", input_size),
                            ("in_channels", in_channels), ("w_bits", w_bits), ("in_bits", in_bits),
                            ("cell_bits", cell_bits)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise BoundsError(f"{name} must be a positive integer, got {value!r}")
        if adc_rule not in ADC_RULES:
            raise BoundsError(f"adc_rule {adc_rule!r} is not one of {', '.join(ADC_RULES)}")
        self.num_classes, self.input_size, self.in_channels = int(num_classes), int(input_size), int(in_channels)
        self.w_bits, self.in_bits, self.cell_bits, self.adc_rule = int(w_bits), int(in_bits), int(cell_bits), adc_rule

    @property
    def options(self) -> dict:
        return {"num_classes": self.num_classes, "input_size": self.input_size,
                "in_channels": self.in_channels, "w_bits": self.w_bits, "in_bits": self.in_bits,
                "cell_bits": self.cell_bits, "adc_rule": self.adc_rule}

    def arch(self, genotype) -> Architecture:
        return Architecture("nb201", tuple(self.options.items()), tuple(int(v) for v in genotype))

    def hardware_knobs(self, arch: Architecture) -> dict[str, int]:
        return {"w_bits": self.w_bits, "in_bits": self.in_bits, "cell_bits": self.cell_bits,
                "adc_rule": ADC_RULES.index(self.adc_rule)}

    def build_layers(self, arch: Architecture) -> tuple[Layer, ...]:
        ops, crossbar = arch.genotype[:6], CROSSBARS[arch.genotype[6]]
        size = self.input_size
        layers: list[Layer] = [Layer("input", c_out=self.in_channels, in_hw=(size, size), out_hw=(size, size))]

        def add(layer: Layer) -> int:
            layers.append(layer)
            return len(layers) - 1

        h = size
        prev = add(Layer("conv", (0,), self.in_channels, 16, 3, 1, (h, h), (h, h), crossbar, "none", True))
        c = 16
        for s, width in enumerate(STAGE_WIDTHS):
            if s:
                h1 = -(-h // 2)
                conv_a = add(Layer("conv", (prev,), c, width, 3, 2, (h, h), (h1, h1), crossbar, "pre", True))
                conv_b = add(Layer("conv", (conv_a,), width, width, 3, 1, (h1, h1), (h1, h1), crossbar, "pre", True))
                pool = add(Layer("avgpool", (prev,), c, c, 2, 2, (h, h), (h1, h1)))
                proj = add(Layer("conv", (pool,), c, width, 1, 1, (h1, h1), (h1, h1), crossbar, "none", False))
                prev = add(Layer("add", (conv_b, proj), width, width, in_hw=(h1, h1), out_hw=(h1, h1),
                                 skip_inputs=(proj,)))
                c, h = width, h1
            for _ in range(CELLS_PER_STAGE):
                nodes = [prev]
                for j in (1, 2, 3):
                    inputs, skips = [], []
                    for e, (to, src) in enumerate(EDGES):
                        if to != j:
                            continue
                        op = OPS[ops[e]]
                        if op == "skip_connect":
                            inputs.append(nodes[src])
                            skips.append(nodes[src])
                        elif op in ("nor_conv_1x1", "nor_conv_3x3"):
                            k = 1 if op == "nor_conv_1x1" else 3
                            inputs.append(add(Layer("conv", (nodes[src],), c, c, k, 1, (h, h), (h, h),
                                                    crossbar, "pre", True)))
                        elif op == "avg_pool_3x3":
                            inputs.append(add(Layer("avgpool", (nodes[src],), c, c, 3, 1, (h, h), (h, h))))
                    nodes.append(add(Layer("add", tuple(inputs), c, c, in_hw=(h, h), out_hw=(h, h),
                                           skip_inputs=tuple(skips))))
                prev = nodes[3]
        prev = add(Layer("gap", (prev,), c, c, h, 1, (h, h), (1, 1), relu="pre"))
        add(Layer("linear", (prev,), c, self.num_classes, 1, 1, (1, 1), (1, 1), crossbar))
        return tuple(layers)

    def format(self, arch: Architecture) -> str:
        return (f"nb201:{self.in_channels}x{self.input_size}x{self.input_size}:{self.num_classes}:"
                f"w{self.w_bits}a{self.in_bits}c{self.cell_bits}:{self.adc_rule}:"
                f"x{CROSSBARS[arch.genotype[6]]}:{cell_string(arch.genotype[:6])}")


_HEADER = re.compile(r"^nb201:(\d+)x(\d+)x(\d+):(\d+):w(\d+)a(\d+)c(\d+):([a-z]+):x(\d+):(\|.*)$")


def parse(text: str) -> Architecture:
    m = _HEADER.match(text)
    if not m:
        raise ArchitectureError(
            f"malformed nb201 architecture {text[:80]!r}: expected "
            f"'nb201:CxHxW:CLASSES:wWaAcC:ADC:xCROSSBAR:|OP~0|+|OP~0|OP~1|+|OP~0|OP~1|OP~2|'")
    c_in, h, w, classes, wb, ab, cb, adc, crossbar, cell = m.groups()
    if h != w:
        raise ArchitectureError(f"malformed nb201 architecture {text[:80]!r}: inputs must be square")
    return from_nb201_string(cell, int(crossbar), num_classes=int(classes), input_size=int(h),
                             in_channels=int(c_in), w_bits=int(wb), in_bits=int(ab), cell_bits=int(cb),
                             adc_rule=adc)


@lru_cache(maxsize=64)
def _codec(**options) -> Nb201Codec:
    return Nb201Codec(**options)
