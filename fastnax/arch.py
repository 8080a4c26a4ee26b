"""The architecture model: what a candidate network is, independent of torch and of any search.

- :class:`Layer` is one node of the network DAG (a convolution, a pooling, an addition, ...).
- :class:`Architecture` is one candidate: the space it belongs to, the space's options (input shape,
  number of classes) and its genotype, a canonical tuple of integers owned by the space. Its layers
  are derived from the genotype by the space, so the architecture stays a small hashable value and
  its canonical string round-trips: ``Architecture.from_string(str(a)) == a``.
- :class:`LayerTable` is the struct of arrays that describes a *batch* of architectures layer by
  layer, for the vectorized hardware model and features. Row ``i`` is architecture ``i``; column
  ``j`` is weight-layer slot ``j``; unused slots have ``kind == KIND_PAD``.

The spaces (``fastnax.spaces``) register their codecs and parsers here (:func:`register_codec`)
so that an architecture can find the code that builds and prints it without ``arch`` importing
the spaces (layering: arch knows no space; ``import fastnax`` registers the built-in ones).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Protocol

import numpy as np

from fastnax.errors import ArchitectureError, unknown

# Weight-layer kinds in a LayerTable. Only conv and linear layers hold weights that are mapped to
# crossbars; pooling and additions are priced as data movement by the hardware model.
KIND_PAD = 0
KIND_CONV = 1
KIND_LINEAR = 2

#: Rules that set the ADC precision of each crossbar (see fastnax.hwmodel):
#: ``preset``: the hardware preset's own rule; ``lossless``: enough bits to resolve the full partial
#: sum of the crossbar's rows; ``reduced``: two bits fewer than lossless (cheaper ADCs, more error).
ADC_RULES = ("preset", "lossless", "reduced")

#: Node operations of the network DAG.
OPS = ("input", "conv", "linear", "maxpool", "avgpool", "gap", "flatten", "add")


@dataclass(frozen=True)
class Layer:
    """One node of an architecture's DAG.

    Parameters
    ----------
    op : str
        One of :data:`OPS`. ``conv`` and ``linear`` hold weights; ``add`` sums its inputs (an add
        with no inputs is a zero tensor, as a NAS-Bench-201 node whose edges are all ``none``).
    inputs : tuple of int
        Indices of the nodes this node reads (all smaller than its own index).
    c_in, c_out : int
        Input and output channels (for ``linear``: input and output features).
    kernel, stride : int
        Kernel size and stride (convolutions use padding ``kernel // 2``; pooling of kernel 2 uses
        ``ceil_mode``, so every spatial size is ``ceil(in / stride)``).
    in_hw, out_hw : tuple of int
        Input and output spatial size (height, width).
    crossbar_size : int
        Side N of the N×N crossbars this weight layer is mapped to (0 for non-weight nodes).
    relu : str
        ``"pre"`` (ReLU before the op, NAS-Bench-201's ReLU-conv-BN), ``"post"`` (after) or
        ``"none"``.
    bn : bool
        Batch normalisation after the op.
    skip_inputs : tuple of int
        The inputs of an ``add`` node that arrive over a skip connection (an identity or projection
        shortcut, a NAS-Bench-201 ``skip_connect`` edge), a subset of ``inputs``.
    """

    op: str
    inputs: tuple[int, ...] = ()
    c_in: int = 0
    c_out: int = 0
    kernel: int = 1
    stride: int = 1
    in_hw: tuple[int, int] = (0, 0)
    out_hw: tuple[int, int] = (0, 0)
    crossbar_size: int = 0
    relu: str = "none"
    bn: bool = False
    skip_inputs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise unknown("layer op", self.op, OPS)
        if self.relu not in ("pre", "post", "none"):
            raise ArchitectureError(f"relu must be 'pre', 'post' or 'none', got {self.relu!r}")

    @property
    def has_weights(self) -> bool:
        return self.op in ("conv", "linear")

    @property
    def params(self) -> int:
        """Number of weights (biases and batch-norm parameters are not counted)."""
        if self.op == "conv":
            return self.kernel * self.kernel * self.c_in * self.c_out
        if self.op == "linear":
            return self.c_in * self.c_out
        return 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference."""
        return self.params * self.out_hw[0] * self.out_hw[1]


class SpaceCodec(Protocol):
    """What a search space registers so that architectures of it can be built and printed."""

    def build_layers(self, arch: Architecture) -> tuple[Layer, ...]: ...

    def format(self, arch: Architecture) -> str: ...

    def hardware_knobs(self, arch: Architecture) -> dict[str, int]: ...


# name -> callable(**options) -> SpaceCodec, and name -> parser of canonical strings. Filled by
# ``fastnax.spaces.register_space`` (``import fastnax`` registers the built-in spaces); this module
# never imports a space.
_CODECS: dict[str, Callable[..., SpaceCodec]] = {}
_PARSERS: dict[str, Callable[[str], "Architecture"]] = {}


def register_codec(name: str, codec_factory: Callable[..., SpaceCodec],
                   parser: Callable[[str], "Architecture"] | None) -> None:
    """Register the builder/printer (``codec_factory(**options)``) and the string parser of the
    architectures whose ``space`` is ``name``. ``parser=None``: the space prints strings that no
    parser reads back (it should not: spaces pass one)."""
    if not isinstance(name, str) or not name or ":" in name:
        raise ArchitectureError(f"space name must be a non-empty string without ':', got {name!r}")
    _CODECS[name] = codec_factory
    if parser is not None:
        _PARSERS[name] = parser


def codec_for(name: str, **options) -> SpaceCodec:
    """The registered codec of space ``name`` built with ``options`` (for a built-in space: the
    :class:`~fastnax.spaces.SearchSpace` itself)."""
    try:
        factory = _CODECS[name]
    except KeyError:
        raise unknown("space", name, _CODECS) from None
    return factory(**options)


def registered_codecs() -> list[str]:
    """Names of the spaces whose architectures can be built and printed."""
    return sorted(_CODECS)


@dataclass(frozen=True)
class Architecture:
    """One candidate network of a search space.

    Parameters
    ----------
    space : str
        Name of the codec that owns the genotype (``"imc"`` or ``"nb201"``).
    options : tuple of (str, value) pairs
        The space's options that shape the network (input shape, number of classes, stages).
    genotype : tuple of int
        The space's canonical description of the network and its hardware knobs.
    """

    space: str
    options: tuple[tuple[str, Any], ...]
    genotype: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(sorted((str(k), v) for k, v in self.options)))
        object.__setattr__(self, "genotype", tuple(int(g) for g in self.genotype))

    # --- derived views -------------------------------------------------------------------------
    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def codec(self) -> SpaceCodec:
        """The registered codec of the architecture's space and options (builds and prints it)."""
        return codec_for(self.space, **self.option_dict)

    _codec = codec

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """The network DAG, node 0 being the input and the last node the logits."""
        return self._codec().build_layers(self)

    @property
    def weight_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.has_weights)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def __str__(self) -> str:
        return self._codec().format(self)

    def __repr__(self) -> str:
        return f"Architecture.from_string({str(self)!r})"

    @classmethod
    def from_string(cls, text: str) -> Architecture:
        """Parse a canonical architecture string (``str(arch)``) of any registered space."""
        if not isinstance(text, str) or ":" not in text:
            raise ArchitectureError(
                f"malformed architecture string {str(text)[:80]!r}: expected 'SPACE:...' with SPACE "
                f"one of {', '.join(sorted(_PARSERS))}")
        space = text.split(":", 1)[0].strip()
        if space not in _PARSERS:
            raise ArchitectureError(
                f"malformed architecture string {text[:80]!r}: unknown space {space!r}; expected one "
                f"of {', '.join(sorted(_PARSERS))}")
        return _PARSERS[space](text.strip())


@dataclass
class LayerTable:
    """Weight layers of a batch of architectures as a struct of arrays.

    Every per-layer array has shape ``(n_archs, n_slots)``; slots whose ``kind`` is ``KIND_PAD``
    are unused and hold zeros. Per-architecture arrays have shape ``(n_archs,)``.

    Attributes
    ----------
    kind : int8 array (n, L)
        ``KIND_PAD``, ``KIND_CONV`` or ``KIND_LINEAR``.
    kernel, stride, c_in, c_out : int64 arrays (n, L)
    in_h, in_w, out_h, out_w : int64 arrays (n, L)
        Spatial sizes (1 for linear layers).
    crossbar_size : int64 array (n, L)
        Side N of the crossbars the layer is mapped to.
    w_bits, in_bits, cell_bits : int64 arrays (n,)
        Weight precision, input (activation) precision, bits stored per memristive cell.
    adc_rule : int64 array (n,)
        Index into :data:`ADC_RULES`.
    n_skip : int64 array (n,)
        Number of skip connections (identity or projection shortcuts, skip edges of a cell).
    act_elems : int64 array (n,)
        Activation elements moved between non-weight nodes (pooling, additions) per inference,
        priced by the hardware model as buffer traffic.
    n_pool : int64 array (n,)
        Max/average pooling nodes, for simulators that give each its own tile (MNSIM 2.0); set by
        :mod:`fastnax.hwmodel.importer`, 0 (the default) in the spaces' tables.
    src, pool_kernel, pool_stride, add_src : int64 arrays (n, L), optional
        The dataflow between slots, for a pixel-level pipeline (:mod:`fastnax.hwmodel.pipeline`).
        The *output* of slot ``j`` is its layer's output after the stages attached to it: a
        pooling stage (``pool_kernel`` > 0, with ``pool_stride``), then an addition stage
        (``add_src`` >= -1: the addition's other input is the output of slot ``add_src``, -1 the
        network input; -2: no addition). ``src[j]`` is the slot whose output slot ``j`` reads (-1:
        the network input). Set by :mod:`fastnax.hwmodel.importer`; None (the default, and the
        spaces' tables: nothing is stored, so the search's tables cost no more) reads as a chain:
        ``src[j] = j - 1``, no pooling or addition stages (:meth:`dataflow`).
    """

    kind: np.ndarray
    kernel: np.ndarray
    stride: np.ndarray
    c_in: np.ndarray
    c_out: np.ndarray
    in_h: np.ndarray
    in_w: np.ndarray
    out_h: np.ndarray
    out_w: np.ndarray
    crossbar_size: np.ndarray
    w_bits: np.ndarray
    in_bits: np.ndarray
    cell_bits: np.ndarray
    adc_rule: np.ndarray
    n_skip: np.ndarray
    act_elems: np.ndarray = field(default=None)  # type: ignore[assignment]
    n_pool: np.ndarray = field(default=None)  # type: ignore[assignment]
    src: np.ndarray = field(default=None)  # type: ignore[assignment]
    pool_kernel: np.ndarray = field(default=None)  # type: ignore[assignment]
    pool_stride: np.ndarray = field(default=None)  # type: ignore[assignment]
    add_src: np.ndarray = field(default=None)  # type: ignore[assignment]

    PER_LAYER = ("kind", "kernel", "stride", "c_in", "c_out", "in_h", "in_w", "out_h", "out_w",
                 "crossbar_size")
    PER_ARCH = ("w_bits", "in_bits", "cell_bits", "adc_rule", "n_skip", "act_elems", "n_pool")
    DATAFLOW = ("src", "pool_kernel", "pool_stride", "add_src")

    def __post_init__(self) -> None:
        if self.act_elems is None:
            self.act_elems = np.zeros(self.kind.shape[0], dtype=np.int64)
        if self.n_pool is None:
            self.n_pool = np.zeros(self.kind.shape[0], dtype=np.int64)
        n, slots = self.kind.shape
        given = [name for name in self.DATAFLOW if getattr(self, name) is not None]
        if given and len(given) != len(self.DATAFLOW):
            raise ArchitectureError(f"LayerTable dataflow needs all of {', '.join(self.DATAFLOW)} or none, "
                                    f"got only {', '.join(given)}")
        for name in self.PER_LAYER + tuple(given):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n, slots):
                raise ArchitectureError(f"LayerTable.{name} has shape {arr.shape}, expected {(n, slots)}")
            setattr(self, name, arr)
        for name in self.PER_ARCH:
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n,):
                raise ArchitectureError(f"LayerTable.{name} has shape {arr.shape}, expected {(n,)}")
            setattr(self, name, arr)

    @property
    def n_archs(self) -> int:
        return int(self.kind.shape[0])

    @property
    def n_slots(self) -> int:
        return int(self.kind.shape[1])

    @property
    def mask(self) -> np.ndarray:
        """Boolean (n, L): slot holds a weight layer."""
        return self.kind != KIND_PAD

    def __len__(self) -> int:
        return self.n_archs

    def __getitem__(self, rows: Any) -> LayerTable:
        """Rows of the table (an index array, slice or boolean mask), as a new table."""
        if isinstance(rows, (int, np.integer)):
            rows = [int(rows)]
        return LayerTable(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[rows]
                             for f in dataclasses.fields(self)})

    def dataflow(self, rows: Any = slice(None)) -> dict[str, np.ndarray]:
        """The dataflow arrays (:attr:`DATAFLOW`) of ``rows``: the stored ones, or the default chain."""
        if self.src is not None:
            return {name: getattr(self, name)[rows] for name in self.DATAFLOW}
        n = len(np.arange(self.n_archs)[rows])
        slots = self.n_slots
        return {"src": np.broadcast_to(np.arange(-1, slots - 1, dtype=np.int64), (n, slots)),
                "pool_kernel": np.zeros((n, slots), dtype=np.int64), "pool_stride": np.zeros((n, slots), dtype=np.int64),
                "add_src": np.full((n, slots), -2, dtype=np.int64)}

    @classmethod
    def from_architectures(cls, archs: list[Architecture] | tuple[Architecture, ...]) -> LayerTable:
        """Build the table from architecture objects (the reference path, one Python loop)."""
        archs = list(archs)
        rows = [[layer for layer in a.layers if layer.has_weights] for a in archs]
        n = len(archs)
        slots = max((len(r) for r in rows), default=0)
        arrays = {name: np.zeros((n, slots), dtype=np.int64) for name in cls.PER_LAYER}
        arrays["kind"] = np.zeros((n, slots), dtype=np.int8)
        per_arch = {name: np.zeros(n, dtype=np.int64) for name in cls.PER_ARCH}
        for i, (arch, layers) in enumerate(zip(archs, rows)):
            for j, layer in enumerate(layers):
                arrays["kind"][i, j] = KIND_CONV if layer.op == "conv" else KIND_LINEAR
                arrays["kernel"][i, j] = layer.kernel
                arrays["stride"][i, j] = layer.stride
                arrays["c_in"][i, j] = layer.c_in
                arrays["c_out"][i, j] = layer.c_out
                arrays["in_h"][i, j], arrays["in_w"][i, j] = layer.in_hw
                arrays["out_h"][i, j], arrays["out_w"][i, j] = layer.out_hw
                arrays["crossbar_size"][i, j] = layer.crossbar_size
            knobs = hardware_knobs(arch)
            for name in ("w_bits", "in_bits", "cell_bits", "adc_rule"):
                per_arch[name][i] = knobs[name]
            per_arch["n_skip"][i] = count_skips(arch.layers)
            per_arch["act_elems"][i] = activation_traffic(arch.layers)
        return cls(**arrays, **per_arch)

    def compact(self) -> LayerTable:
        """The same table with the slots that are unused in every row removed.

        Vectorized builders lay layers out in fixed slots; the reference builder packs them. Costs
        and features are sums over slots, so both layouts give the same results.
        """
        used = self.mask.any(axis=0)
        out = {}
        for f in dataclasses.fields(self):
            arr = getattr(self, f.name)
            out[f.name] = arr[:, used] if f.name in self.PER_LAYER + self.DATAFLOW and arr is not None else arr
        # slot references follow their slots to the new positions (a removed slot: the one before)
        new_index = np.cumsum(used) - 1
        for name in ("src", "add_src"):
            ref = out[name]
            if ref is not None:
                out[name] = np.where(ref >= 0, new_index[np.clip(ref, 0, None)], ref)
        return LayerTable(**out)


def hardware_knobs(arch: Architecture) -> dict[str, int]:
    """The global hardware knobs an architecture carries (space-specific position in genotype)."""
    return arch.codec().hardware_knobs(arch)


def count_skips(layers: tuple[Layer, ...]) -> int:
    """Skip connections of a DAG: the inputs its ``add`` nodes mark as skip inputs."""
    return sum(len(layer.skip_inputs) for layer in layers)


def activation_traffic(layers: tuple[Layer, ...]) -> int:
    """Activation elements read and written by the weight-free nodes (pools, adds, flatten)."""
    total = 0
    for layer in layers:
        if layer.op in ("maxpool", "avgpool", "gap", "add"):
            h, w = layer.out_hw
            total += layer.c_out * h * w * (max(len(layer.inputs), 1) + 1)
    return total
