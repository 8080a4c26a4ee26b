"""The ``imc`` genotype: layout, canonical form, codec (build the DAG, print, parse).

Its vectorized paths live beside it: ``table.py`` (layer table), ``features.py`` (graph
features), ``family.py`` (the hierarchical search's macro family); ``nax.py`` is the NAX
restriction.

A network is a stem convolution, S stages (3 for inputs up to 32×32, 4 above), a head (global
average pooling or flatten, an optional hidden fully-connected layer) and a classifier. Per stage:
the block type (``vgg``: conv, conv and a 2×2 max-pool closing the stage; ``mvgg``: conv, conv;
``res``: a basic residual block with a 1×1 projection where the shape changes), the number of
blocks (0–4) and the width. Per conv layer: kernel size and crossbar size. Global hardware knobs:
weight bits, input bits, bits per cell and the ADC-precision rule.

Downsampling rules: ``res`` and ``mvgg`` stages after the first halve the resolution in their first
block (stride 2, as ResNet-20); a ``vgg`` stage halves it with its closing max-pool (as VGG-8).
Every size is ``ceil(size / 2)``, so any configuration is valid for any input size.

A residual projection is mapped to crossbars of the same size as its block's first convolution.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from fastnax.arch import ADC_RULES, Architecture, Layer
from fastnax.errors import ArchitectureError, BoundsError

BLOCK_TYPES = ("vgg", "mvgg", "res")
MAX_BLOCKS = 4
CONVS_PER_BLOCK = 2
KERNELS = (1, 3, 5, 7)
CROSSBARS = (16, 32, 64, 128, 256)
WIDTHS = (16, 32, 64, 128, 256, 512)
STEM_WIDTHS = (0, 16, 32, 64, 128)  # 0: no stem
HEAD_POOLS = ("gap", "flatten")
FC_HIDDEN = (0, 256, 512, 1024)  # 0: no hidden layer
W_BITS = (4, 6, 8)
IN_BITS = (4, 6, 8)
CELL_BITS = (1, 2, 4)

STAGE_DIM = 3 + 2 * MAX_BLOCKS * CONVS_PER_BLOCK  # type, blocks, width, (kernel, crossbar) × 8
SLOTS_PER_STAGE = MAX_BLOCKS * 3  # conv1, conv2, projection per block


def _ceil_half(x):
    return -(-x // 2)


class Layout:
    """Positions of the coordinates in an ``imc`` vector with ``stages`` stages."""

    def __init__(self, stages: int):
        self.stages = stages
        self.stem = 0  # stem width, stem kernel, stem crossbar
        self.stage0 = 3
        self.head = 3 + stages * STAGE_DIM  # pool, hidden, fc1 crossbar, fc2 crossbar
        self.knobs = self.head + 4  # w_bits, in_bits, cell_bits, adc rule
        self.dim = self.knobs + 4

    def stage(self, s: int) -> int:
        return self.stage0 + s * STAGE_DIM

    def gates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gate columns, each column's gate, thresholds) for :func:`canonicalize`."""
        if not hasattr(self, "_gates"):
            self._gates = _layout_gates(self)
        return self._gates

    def conv(self, s: int, j: int) -> tuple[int, int]:
        """(kernel, crossbar) positions of conv slot j (0..7) of stage s."""
        base = self.stage(s) + 3 + 2 * j
        return base, base + 1

    def bounds(self) -> np.ndarray:
        hi = [len(STEM_WIDTHS) - 1, len(KERNELS) - 1, len(CROSSBARS) - 1]
        for _ in range(self.stages):
            hi += [len(BLOCK_TYPES) - 1, MAX_BLOCKS, len(WIDTHS) - 1]
            hi += [len(KERNELS) - 1, len(CROSSBARS) - 1] * (MAX_BLOCKS * CONVS_PER_BLOCK)
        hi += [len(HEAD_POOLS) - 1, len(FC_HIDDEN) - 1, len(CROSSBARS) - 1, len(CROSSBARS) - 1]
        hi += [len(W_BITS) - 1, len(IN_BITS) - 1, len(CELL_BITS) - 1, len(ADC_RULES) - 1]
        return np.stack([np.zeros(len(hi)), np.asarray(hi, dtype=float)], axis=1)

    def names(self) -> list[str]:
        names = ["stem_width", "stem_kernel", "stem_crossbar"]
        for s in range(self.stages):
            names += [f"s{s}_block", f"s{s}_blocks", f"s{s}_width"]
            for j in range(MAX_BLOCKS * CONVS_PER_BLOCK):
                names += [f"s{s}_conv{j}_kernel", f"s{s}_conv{j}_crossbar"]
        names += ["head_pool", "fc_hidden", "fc1_crossbar", "fc2_crossbar"]
        names += ["w_bits", "in_bits", "cell_bits", "adc_rule"]
        return names


def canonicalize(index: np.ndarray, layout: Layout) -> np.ndarray:
    """Zero every coordinate that does not affect the network (vectorized over rows).

    Each such coordinate is gated by one other: it counts only while its gate exceeds a threshold
    (stem kernel and crossbar: a stem; a stage's block type and width: at least one block; conv
    slot j: more than j // 2 blocks; the first classifier's crossbar: a hidden layer). The gates
    are tabulated per layout, so this is two gathers and a multiply, whatever the stage count.
    """
    index = np.array(index, dtype=np.int64, copy=True)
    index *= _gated(index, layout)
    return index


def _gated(index: np.ndarray, layout: Layout) -> np.ndarray:
    """(n, d) int64, 1 where a coordinate counts given its gate's value, else 0."""
    gates, gate_of, threshold = layout.gates()
    values = np.concatenate([index[:, gates], np.zeros((len(index), 1), dtype=np.int64)], axis=1)
    keep = np.take(values, gate_of, axis=1)
    np.greater(keep, threshold, out=keep)
    return keep


def _layout_gates(layout: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gate columns (g,), each column's gate as an index into them (d,), thresholds (d,)).

    Ungated columns point at an extra always-zero gate with threshold -1 (always kept)."""
    gate_col = np.full(layout.dim, -1)
    threshold = np.full(layout.dim, -1)

    def add(col: int, by: int, above: int) -> None:
        gate_col[col] = by
        threshold[col] = above

    add(layout.stem + 1, layout.stem, 0)
    add(layout.stem + 2, layout.stem, 0)
    for s in range(layout.stages):
        base = layout.stage(s)
        add(base, base + 1, 0)
        add(base + 2, base + 1, 0)
        for j in range(MAX_BLOCKS * CONVS_PER_BLOCK):
            for col in layout.conv(s, j):
                add(col, base + 1, j // CONVS_PER_BLOCK)
    add(layout.head + 2, layout.head + 1, 0)
    gates = np.unique(gate_col[gate_col >= 0])
    gate_of = np.where(gate_col >= 0, np.searchsorted(gates, gate_col), len(gates))
    return gates, gate_of, threshold


class ImcCodec:
    """Builds, prints and parses ``imc`` architectures for one set of options."""

    def __init__(self, input_size: int = 32, in_channels: int = 3, num_classes: int = 10,
                 stages: int | None = None):
        self.input_size = _positive_int("input_size", input_size)
        self.in_channels = _positive_int("in_channels", in_channels)
        self.num_classes = _positive_int("num_classes", num_classes)
        if stages is None:
            stages = 3 if self.input_size <= 32 else 4
        self.stages = _positive_int("stages", stages)
        if self.stages > 6:
            raise BoundsError(f"stages must be between 1 and 6, got {stages}")
        self.layout = Layout(self.stages)

    @property
    def options(self) -> dict:
        return {"input_size": self.input_size, "in_channels": self.in_channels,
                "num_classes": self.num_classes, "stages": self.stages}

    def arch(self, index: np.ndarray) -> Architecture:
        return Architecture("imc", tuple(self.options.items()), tuple(int(v) for v in index))

    def hardware_knobs(self, arch: Architecture) -> dict[str, int]:
        g = arch.genotype
        k = self.layout.knobs
        return {"w_bits": W_BITS[g[k]], "in_bits": IN_BITS[g[k + 1]],
                "cell_bits": CELL_BITS[g[k + 2]], "adc_rule": g[k + 3]}

    # --- the network DAG (reference path: one architecture) --------------------------------------
    def build_layers(self, arch: Architecture) -> tuple[Layer, ...]:
        g = arch.genotype
        L = self.layout
        size = self.input_size
        layers: list[Layer] = [Layer("input", c_out=self.in_channels, in_hw=(size, size),
                                     out_hw=(size, size))]
        prev, c, h = 0, self.in_channels, size

        def add(layer: Layer) -> int:
            layers.append(layer)
            return len(layers) - 1

        if g[L.stem]:
            width, k, x = STEM_WIDTHS[g[L.stem]], KERNELS[g[L.stem + 1]], CROSSBARS[g[L.stem + 2]]
            prev = add(Layer("conv", (prev,), c, width, k, 1, (h, h), (h, h), x, "post", True))
            c = width
        for s in range(L.stages):
            base = L.stage(s)
            btype, blocks, width = BLOCK_TYPES[g[base]], g[base + 1], WIDTHS[g[base + 2]]
            for b in range(blocks):
                k1, x1 = (KERNELS[g[L.conv(s, 2 * b)[0]]], CROSSBARS[g[L.conv(s, 2 * b)[1]]])
                k2, x2 = (KERNELS[g[L.conv(s, 2 * b + 1)[0]]], CROSSBARS[g[L.conv(s, 2 * b + 1)[1]]])
                stride = 2 if (b == 0 and s > 0 and btype in ("res", "mvgg")) else 1
                h1 = _ceil_half(h) if stride == 2 else h
                conv1 = add(Layer("conv", (prev,), c, width, k1, stride, (h, h), (h1, h1), x1, "post", True))
                relu2 = "none" if btype == "res" else "post"
                conv2 = add(Layer("conv", (conv1,), width, width, k2, 1, (h1, h1), (h1, h1), x2, relu2, True))
                if btype == "res":
                    shortcut = prev
                    if stride == 2 or c != width:
                        shortcut = add(Layer("conv", (prev,), c, width, 1, stride, (h, h), (h1, h1), x1,
                                             "none", True))
                    prev = add(Layer("add", (conv2, shortcut), width, width, in_hw=(h1, h1),
                                     out_hw=(h1, h1), relu="post", skip_inputs=(shortcut,)))
                else:
                    prev = conv2
                c, h = width, h1
            if btype == "vgg" and blocks:
                h1 = _ceil_half(h)
                prev = add(Layer("maxpool", (prev,), c, c, 2, 2, (h, h), (h1, h1)))
                h = h1
        head = L.head
        pool, hidden = HEAD_POOLS[g[head]], FC_HIDDEN[g[head + 1]]
        if pool == "gap":
            prev = add(Layer("gap", (prev,), c, c, h, 1, (h, h), (1, 1)))
            features = c
        else:
            features = c * h * h
            prev = add(Layer("flatten", (prev,), c, features, 1, 1, (h, h), (1, 1)))
        if hidden:
            prev = add(Layer("linear", (prev,), features, hidden, 1, 1, (1, 1), (1, 1),
                             CROSSBARS[g[head + 2]], "post"))
            features = hidden
        add(Layer("linear", (prev,), features, self.num_classes, 1, 1, (1, 1), (1, 1),
                  CROSSBARS[g[head + 3]]))
        return tuple(layers)

    # --- the canonical string ----------------------------------------------------------------
    def format(self, arch: Architecture) -> str:
        g = arch.genotype
        L = self.layout
        knobs = self.hardware_knobs(arch)
        parts = [f"imc:{self.in_channels}x{self.input_size}x{self.input_size}:{self.num_classes}:"
                 f"w{knobs['w_bits']}a{knobs['in_bits']}c{knobs['cell_bits']}:{ADC_RULES[knobs['adc_rule']]}"]
        if g[L.stem]:
            parts.append(f"stem{STEM_WIDTHS[g[L.stem]]}k{KERNELS[g[L.stem + 1]]}x{CROSSBARS[g[L.stem + 2]]}")
        else:
            parts.append("stem0")
        for s in range(L.stages):
            base = L.stage(s)
            blocks = g[base + 1]
            if not blocks:
                parts.append("-")
                continue
            convs = ",".join(f"{KERNELS[g[L.conv(s, j)[0]]]}x{CROSSBARS[g[L.conv(s, j)[1]]]}"
                             for j in range(CONVS_PER_BLOCK * blocks))
            parts.append(f"{BLOCK_TYPES[g[base]]}{blocks}w{WIDTHS[g[base + 2]]}:{convs}")
        head = L.head
        hidden = FC_HIDDEN[g[head + 1]]
        text = HEAD_POOLS[g[head]]
        if hidden:
            text += f"-{hidden}x{CROSSBARS[g[head + 2]]}"
        text += f"-x{CROSSBARS[g[head + 3]]}"
        parts.append(text)
        return "/".join(parts)


_HEADER = re.compile(r"^imc:(\d+)x(\d+)x(\d+):(\d+):w(\d+)a(\d+)c(\d+):([a-z]+)$")
_STEM = re.compile(r"^stem(?:0|(\d+)k(\d+)x(\d+))$")
_STAGE = re.compile(r"^([a-z]+)(\d+)w(\d+):((?:\d+x\d+,)*\d+x\d+)$")
_HEAD = re.compile(r"^([a-z]+)(?:-(\d+)x(\d+))?-x(\d+)$")


def _choice(value: int, choices: tuple, what: str, text: str) -> int:
    if value not in choices:
        raise ArchitectureError(
            f"malformed imc architecture {text[:60]!r}: {what} {value} is not one of "
            f"{', '.join(map(str, choices))}")
    return choices.index(value)


def parse(text: str) -> Architecture:
    """Parse the canonical string of an ``imc`` architecture."""
    parts = text.split("/")
    header = _HEADER.match(parts[0])
    if not header or len(parts) < 3:
        raise ArchitectureError(
            f"malformed imc architecture {text[:60]!r}: expected 'imc:CxHxW:CLASSES:wWaAcC:ADC/"
            f"stem.../STAGE/.../HEAD', e.g. 'imc:1x8x8:10:w8a8c2:preset/stem16k3x64/res1w16:3x64,3x64/-/-/gap-x64'")
    c_in, h, w, classes, wb, ab, cb, adc = header.groups()
    if h != w:
        raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: inputs must be square, got {h}x{w}")
    stage_parts = parts[2:-1]
    codec = ImcCodec(int(h), int(c_in), int(classes), max(len(stage_parts), 1))
    if not stage_parts:
        raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: it has no stage")
    L = codec.layout
    g = np.zeros(L.dim, dtype=np.int64)
    if adc not in ADC_RULES:
        raise ArchitectureError(
            f"malformed imc architecture {text[:60]!r}: ADC rule {adc!r} is not one of {', '.join(ADC_RULES)}")
    g[L.knobs:L.knobs + 4] = [_choice(int(wb), W_BITS, "weight bits", text),
                              _choice(int(ab), IN_BITS, "input bits", text),
                              _choice(int(cb), CELL_BITS, "bits per cell", text), ADC_RULES.index(adc)]
    stem = _STEM.match(parts[1])
    if not stem:
        raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: bad stem {parts[1]!r}, "
                                f"expected 'stem0' or 'stemWIDTHkKERNELxCROSSBAR'")
    if stem.group(1):
        g[L.stem] = _choice(int(stem.group(1)), STEM_WIDTHS[1:], "stem width", text) + 1
        g[L.stem + 1] = _choice(int(stem.group(2)), KERNELS, "kernel", text)
        g[L.stem + 2] = _choice(int(stem.group(3)), CROSSBARS, "crossbar size", text)
    for s, part in enumerate(stage_parts):
        if part == "-":
            continue
        m = _STAGE.match(part)
        if not m:
            raise ArchitectureError(
                f"malformed imc architecture {text[:60]!r}: bad stage {part!r}, expected '-' or "
                f"'TYPEnBLOCKSwWIDTH:KxN,...' with TYPE one of {', '.join(BLOCK_TYPES)}")
        btype, blocks, width, convs = m.groups()
        base = L.stage(s)
        if btype not in BLOCK_TYPES:
            raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: block type {btype!r} is "
                                    f"not one of {', '.join(BLOCK_TYPES)}")
        blocks = int(blocks)
        if not 1 <= blocks <= MAX_BLOCKS:
            raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: {blocks} blocks in a "
                                    f"stage; valid: 1 to {MAX_BLOCKS} (or '-' for none)")
        conv_list = [tuple(int(v) for v in pair.split("x")) for pair in convs.split(",")]
        if len(conv_list) != CONVS_PER_BLOCK * blocks:
            raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: stage {s} has {blocks} "
                                    f"blocks and needs {CONVS_PER_BLOCK * blocks} convs, got {len(conv_list)}")
        g[base] = BLOCK_TYPES.index(btype)
        g[base + 1] = blocks
        g[base + 2] = _choice(int(width), WIDTHS, "width", text)
        for j, (k, x) in enumerate(conv_list):
            kp, xp = L.conv(s, j)
            g[kp] = _choice(k, KERNELS, "kernel", text)
            g[xp] = _choice(x, CROSSBARS, "crossbar size", text)
    head = _HEAD.match(parts[-1])
    if not head or head.group(1) not in HEAD_POOLS:
        raise ArchitectureError(f"malformed imc architecture {text[:60]!r}: bad head {parts[-1]!r}, "
                                f"expected 'gap-xN', 'flatten-xN' or 'gap-HIDDENxN-xN'")
    pool, hidden, x1, x2 = head.groups()
    g[L.head] = HEAD_POOLS.index(pool)
    if hidden is not None:
        g[L.head + 1] = _choice(int(hidden), FC_HIDDEN[1:], "hidden width", text) + 1
        g[L.head + 2] = _choice(int(x1), CROSSBARS, "crossbar size", text)
    g[L.head + 3] = _choice(int(x2), CROSSBARS, "crossbar size", text)
    return codec.arch(g)


@lru_cache(maxsize=64)
def _codec(**options) -> ImcCodec:
    return ImcCodec(**options)


def _positive_int(name: str, value) -> int:
    try:
        ivalue = int(value)
    except (TypeError, ValueError):
        raise BoundsError(f"{name} must be a positive integer, got {value!r}") from None
    if ivalue != value or ivalue <= 0:
        raise BoundsError(f"{name} must be a positive integer, got {value!r}")
    return ivalue
