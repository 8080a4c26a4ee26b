"""Price any PyTorch or ONNX network: its weight layers as a :class:`fastnax.arch.LayerTable`.

The hardware model prices layer tables; the search spaces build them from their grammars. This
module builds one from a network that no grammar spells, so that MNSIM- or NeuroSim-style network
files need not be written by hand:

- :func:`import_torch` runs the module once on a zero input of ``(1, C, H, W)`` (eval mode, no
  gradients) and records, with forward hooks on its modules and a ``TorchFunctionMode`` for the
  functional calls between them, every operation that reads an activation (a tensor computed from
  the input). Python control flow, ``torch.fx``-untraceable code and functional ops are all seen as
  they run; shapes are the ones the network really produced.
- :func:`import_onnx` reads an ONNX graph (the optional ``onnx`` extra) with its shape inference.

Why ~900 lines in one module: the torch and ONNX front ends feed one op table (conv with stride,
padding, dilation and groups; linear; pooling; adds; concatenations; folded batch norm), one
activation-provenance tracker and one unsupported-op error; the two front ends share every one of
those rules, which is what keeps an imported network priced the same from either format.

Both give an :class:`ImportedNetwork` (one :class:`ImportedLayer` per priced node) whose
:meth:`~ImportedNetwork.layer_table` is what :meth:`fastnax.hwmodel.HardwareModel.evaluate` prices.

What each operation costs:

- ``conv`` (any kernel, stride, padding, dilation; the rows of a crossbar are ``k^2 C_in / groups``
  whatever the stride, padding and dilation, which only set the output size, read from the run):
  a weight layer. A grouped convolution (depthwise included) maps each group to its own crossbars,
  so it becomes ``groups`` table slots of ``C_in / groups`` rows and ``C_out / groups`` columns
  (additive costs: the same totals as one block-diagonal layer that wastes its off-diagonal cells);
- ``linear``: a weight layer (``in_features`` rows, ``out_features`` columns);
- ``maxpool`` / ``avgpool`` / ``gap`` (global average pooling: ``mean`` over the spatial axes,
  adaptive average pooling to 1x1), ``add`` (residual additions: an addition or subtraction of two
  or more activations) and ``concat``: weight-free nodes, priced as buffer traffic
  (``LayerTable.act_elems``): ``out_elems (inputs + 1)`` for pools and additions (the rule of
  :func:`fastnax.arch.activation_traffic`) and ``2 out_elems`` for a concatenation (each element
  read and written once);
- free (no cost): batch normalization (folded into the preceding weight layer's weights and bias),
  elementwise activations, dropout, flatten/reshape/view, and arithmetic of an activation with
  constants (input normalization, scaling), which the crossbar periphery folds in.

Anything else that reads an activation (an upsampling, attention, an elementwise product of two
activations, a non-square kernel, ...) raises one :class:`fastnax.errors.ArchitectureError` line
naming the operation and its module path.

This module imports torch only inside :func:`import_torch` and ``onnx`` only inside
:func:`import_onnx`, so ``import fastnax.hwmodel`` stays free of both.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fastnax.arch import ADC_RULES, KIND_CONV, KIND_LINEAR, LayerTable
from fastnax.errors import ArchitectureError, FastnaxError

#: Priced node operations of an imported network.
IMPORTED_OPS = ("conv", "linear", "maxpool", "avgpool", "gap", "add", "concat")

_NETWORK_INPUT = -1


@dataclass(frozen=True)
class ImportedLayer:
    """One priced node of an imported network.

    Parameters
    ----------
    op : str
        One of :data:`IMPORTED_OPS`.
    path : str
        Module path (torch: ``layer1.0.conv1``; ONNX: the node name) where the op runs.
    inputs : tuple of int
        Indices of the layers it reads; ``-1`` is the network input.
    c_in, c_out : int
        Input and output channels (features for ``linear``; summed inputs for ``concat``).
    kernel, stride, padding, dilation : tuple of int
        (height, width) of each (pools: the pooling window; ``gap``: the input size).
    groups : int
        Convolution groups (``c_in`` for depthwise).
    in_hw, out_hw : tuple of int
        Input and output spatial size (``(1, 1)`` for a linear layer on a vector).
    """

    op: str
    path: str
    inputs: tuple[int, ...]
    c_in: int
    c_out: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    in_hw: tuple[int, int] = (1, 1)
    out_hw: tuple[int, int] = (1, 1)

    @property
    def has_weights(self) -> bool:
        return self.op in ("conv", "linear")

    @property
    def params(self) -> int:
        """Weights (no biases, no batch-norm parameters)."""
        if self.op == "conv":
            return self.kernel[0] * self.kernel[1] * (self.c_in // self.groups) * self.c_out
        if self.op == "linear":
            return self.c_in * self.c_out
        return 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference."""
        return self.params * self.out_hw[0] * self.out_hw[1]

    @property
    def out_elems(self) -> int:
        return self.c_out * self.out_hw[0] * self.out_hw[1]


@dataclass(frozen=True)
class ImportedNetwork:
    """The priced nodes of a network, in execution order.

    Attributes
    ----------
    name : str
        Where it came from (a class name, a file name).
    input_shape : tuple of int
        ``(C, H, W)`` of one input image.
    layers : tuple of ImportedLayer
    """

    name: str
    input_shape: tuple[int, int, int]
    layers: tuple[ImportedLayer, ...]

    @property
    def weight_layers(self) -> tuple[ImportedLayer, ...]:
        return tuple(layer for layer in self.layers if layer.has_weights)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def n_skip(self) -> int:
        """Skip connections: every input of an addition beyond its first."""
        return sum(max(len(layer.inputs) - 1, 0) for layer in self.layers if layer.op == "add")

    @property
    def n_pool(self) -> int:
        """Max and average pooling nodes (global average pooling not counted)."""
        return sum(layer.op in ("maxpool", "avgpool") for layer in self.layers)

    @property
    def act_elems(self) -> int:
        """Activation elements moved by the weight-free nodes (see the module docstring)."""
        total = 0
        for layer in self.layers:
            if layer.op in ("maxpool", "avgpool", "gap", "add"):
                total += layer.out_elems * (max(len(layer.inputs), 1) + 1)
            elif layer.op == "concat":
                total += 2 * layer.out_elems
        return total

    def slot_layers(self) -> np.ndarray:
        """Weight-layer index (into :attr:`weight_layers`) of each table slot, shape (n_slots,)
        (a grouped convolution fills ``groups`` consecutive slots)."""
        return np.repeat(np.arange(len(self.weight_layers)),
                         [layer.groups if layer.op == "conv" else 1 for layer in self.weight_layers])

    def dataflow(self) -> dict[str, np.ndarray]:
        """The table's dataflow fields (``LayerTable.src``, ``pool_kernel``, ``pool_stride``,
        ``add_src``, each of shape (n_slots,)) from the graph.

        A pooling node is attached to the weight layer it reads, an addition to the later of
        its inputs (the other input is ``add_src``); a node that reads such an output reads that
        slot. Batch norm, activations, flattening and global pooling pass their input through; a
        concatenation stands for its last input. Where a pooling follows a slot that already has
        a pooling or an addition, or an addition has more than two inputs, the table falls back
        to its default chain (and :func:`fastnax.hwmodel.pipeline.pixel_pipeline` prices a chain).
        """
        slots = self.slot_layers()
        n = len(slots)
        last_slot = {}  # weight-layer index -> its last table slot (a grouped conv fills several)
        for j, index in enumerate(slots):
            last_slot[int(index)] = j
        flow = {"src": np.arange(-1, n - 1, dtype=np.int64), "pool_kernel": np.zeros(n, dtype=np.int64),
                "pool_stride": np.zeros(n, dtype=np.int64), "add_src": np.full(n, -2, dtype=np.int64)}
        chain = {name: value.copy() for name, value in flow.items()}
        producer = {_NETWORK_INPUT: -1}  # node index -> slot whose output it is
        weight_index = {id(layer): i for i, layer in enumerate(self.weight_layers)}
        first_slot = {}
        for j, index in enumerate(slots):
            first_slot.setdefault(int(index), j)
        for node, layer in enumerate(self.layers):
            ins = [producer.get(i, -1) for i in layer.inputs] or [-1]
            if layer.has_weights:
                w = weight_index[id(layer)]
                for j in range(first_slot[w], last_slot[w] + 1):
                    flow["src"][j] = ins[0]
                producer[node] = last_slot[w]
            elif layer.op in ("maxpool", "avgpool"):
                j = ins[0]
                if j < 0 or flow["pool_kernel"][j] > 0 or flow["add_src"][j] >= -1:
                    return chain
                flow["pool_kernel"][j], flow["pool_stride"][j] = layer.kernel[0], layer.stride[0]
                producer[node] = j
            elif layer.op == "add":
                if len(ins) != 2:
                    return chain
                j, other = max(ins), min(ins)
                if j < 0 or flow["add_src"][j] >= -1:
                    return chain
                flow["add_src"][j] = other
                producer[node] = j
            else:  # gap, concat: the (last) input's slot
                producer[node] = max(ins)
        return flow

    def layer_table(self, crossbar_size: int | Sequence[int] = 128, w_bits: int = 8, in_bits: int = 8,
                    cell_bits: int = 2, adc_rule: str | int = "preset") -> LayerTable:
        """The one-row layer table that the hardware model prices.

        Parameters
        ----------
        crossbar_size : int or sequence of int
            Side N of the crossbars, one for every weight layer or one per weight layer (in
            :attr:`weight_layers` order).
        w_bits, in_bits, cell_bits : int
            Weight and input (activation) precision, bits stored per cell.
        adc_rule : str or int
            One of :data:`fastnax.arch.ADC_RULES` (or its index).

        Returns
        -------
        LayerTable
            Shape ``(1, n_slots)``; slot ``j`` is weight layer ``slot_layers()[j]``.
        """
        weights = self.weight_layers
        sizes = _per_layer_sizes(crossbar_size, len(weights))
        knobs = {}
        for name, value in (("w_bits", w_bits), ("in_bits", in_bits), ("cell_bits", cell_bits)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
                raise ArchitectureError(f"{name} must be a positive integer, got {value!r}")
            knobs[name] = int(value)
        if isinstance(adc_rule, str):
            if adc_rule not in ADC_RULES:
                raise ArchitectureError(f"unknown ADC rule {adc_rule!r}; expected one of: {', '.join(ADC_RULES)}")
            rule = ADC_RULES.index(adc_rule)
        elif isinstance(adc_rule, (int, np.integer)) and 0 <= int(adc_rule) < len(ADC_RULES):
            rule = int(adc_rule)
        else:
            raise ArchitectureError(f"adc_rule must be one of {', '.join(ADC_RULES)}, got {adc_rule!r}")
        slots = self.slot_layers()
        arrays = {name: np.zeros((1, len(slots)), dtype=np.int64) for name in LayerTable.PER_LAYER}
        arrays["kind"] = np.zeros((1, len(slots)), dtype=np.int8)
        for j, index in enumerate(slots):
            layer = weights[index]
            groups = layer.groups if layer.op == "conv" else 1
            arrays["kind"][0, j] = KIND_CONV if layer.op == "conv" else KIND_LINEAR
            arrays["kernel"][0, j] = layer.kernel[0]
            arrays["stride"][0, j] = layer.stride[0]
            arrays["c_in"][0, j] = layer.c_in // groups
            arrays["c_out"][0, j] = layer.c_out // groups
            arrays["in_h"][0, j], arrays["in_w"][0, j] = layer.in_hw
            arrays["out_h"][0, j], arrays["out_w"][0, j] = layer.out_hw
            arrays["crossbar_size"][0, j] = sizes[index]
        per_arch = {name: np.array([value], dtype=np.int64) for name, value in knobs.items()}
        return LayerTable(**arrays, **per_arch, adc_rule=np.array([rule], dtype=np.int64),
                          n_skip=np.array([self.n_skip], dtype=np.int64),
                          act_elems=np.array([self.act_elems], dtype=np.int64),
                          n_pool=np.array([self.n_pool], dtype=np.int64),
                          **{name: value[None, :] for name, value in self.dataflow().items()})

    def neurosim_rows(self) -> list[tuple[int, ...]]:
        """DNN+NeuroSim ``NetWork.csv`` rows (see :mod:`fastnax.hwmodel.export`), one per table
        slot: input height, width, channels, kernel height, width, output channels, pooling flag
        (a max/average pooling reads the layer's output), stride. A linear layer is a 1x1
        convolution on a 1x1 input; a grouped convolution is one row per group."""
        pooled = set()
        for layer in self.layers:
            if layer.op in ("maxpool", "avgpool"):
                pooled.update(layer.inputs)
        rows = []
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        for layer in self.weight_layers:
            flag = 1 if index[id(layer)] in pooled else 0
            if layer.op == "linear":
                rows.append((1, 1, layer.c_in, 1, 1, layer.c_out, flag, 1))
                continue
            for _ in range(layer.groups):
                rows.append((layer.in_hw[0], layer.in_hw[1], layer.c_in // layer.groups, layer.kernel[0],
                             layer.kernel[1], layer.c_out // layer.groups, flag, layer.stride[0]))
        return rows


def _per_layer_sizes(crossbar_size, n_layers: int) -> list[int]:
    if isinstance(crossbar_size, (int, np.integer)) and not isinstance(crossbar_size, bool):
        sizes = [int(crossbar_size)] * n_layers
    else:
        try:
            sizes = [int(s) for s in crossbar_size]
        except (TypeError, ValueError):
            raise ArchitectureError(f"crossbar_size must be an integer or one integer per weight layer, "
                                    f"got {crossbar_size!r}") from None
        if len(sizes) != n_layers:
            raise ArchitectureError(f"crossbar_size lists {len(sizes)} sizes for {n_layers} weight layers")
    if any(s < 1 for s in sizes):
        raise ArchitectureError(f"crossbar sizes must be positive integers, got {min(sizes)}")
    return sizes


def _check_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ArchitectureError(f"input shape must be three positive integers C,H,W, got {input_shape!r}")
    return shape  # type: ignore[return-value]


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1])) if len(value) else (1, 1)
    return int(value), int(value)


# --- torch --------------------------------------------------------------------------------------
# Functional ops that leave an activation's values to the periphery (or change only its layout).
_FREE_FUNCS = frozenset("""
relu relu_ relu6 hardtanh hardtanh_ gelu silu silu_ sigmoid sigmoid_ tanh tanh_ hardswish hardswish_
hardsigmoid hardsigmoid_ leaky_relu leaky_relu_ elu elu_ selu softplus mish threshold threshold_ clamp
clamp_ clip clip_ clamp_min clamp_max dropout dropout_ dropout2d feature_dropout alpha_dropout
batch_norm flatten view reshape view_as reshape_as contiguous squeeze unsqueeze clone detach to float
double half type type_as requires_grad_ softmax log_softmax neg __neg__ abs __pos__
""".split())
# Arithmetic: with constants it is folded (free); an addition or subtraction of activations is a
# residual add; a product or quotient of two activations is refused.
_SUM_FUNCS = frozenset("add add_ sub sub_ __add__ __radd__ __iadd__ __sub__ __rsub__ __isub__".split())
_ARITH_FUNCS = frozenset("mul mul_ div div_ true_divide __mul__ __rmul__ __imul__ __truediv__ "
                         "__rtruediv__ __itruediv__".split())
_CAT_FUNCS = frozenset(("cat", "concat", "concatenate"))


def _func_name(func) -> str:
    name = getattr(func, "__name__", None) or repr(func)
    return "__get__" if name == "__get__" else name


class _Recorder:
    """Collects the priced nodes of one forward pass (see :func:`import_torch`)."""

    def __init__(self, names: dict):
        self.names = names  # id(module) -> module path
        self.producer: dict[int, tuple[int, Any]] = {}  # id(tensor) -> (layer index, tensor)
        self.layers: list[ImportedLayer] = []
        self.stack: list[str] = []  # module paths of the calls in progress
        self.leaf_depth = 0  # > 0 inside a leaf module (its inner calls are its own)
        self.busy = False

    # activations: tensors computed from the network input
    def source(self, tensor) -> int | None:
        entry = self.producer.get(id(tensor))
        if entry is not None and entry[1] is tensor:
            return entry[0]
        return None

    def mark(self, result, index: int) -> None:
        import torch

        if isinstance(result, torch.Tensor):
            self.producer[id(result)] = (index, result)
        elif isinstance(result, (tuple, list)):
            for item in result:
                self.mark(item, index)

    def path(self) -> str:
        return self.stack[-1] if self.stack else "<top>"

    def add(self, layer: ImportedLayer, result) -> None:
        self.layers.append(layer)
        self.mark(result, len(self.layers) - 1)

    def sources(self, args, kwargs) -> list[int]:
        import torch

        found: list[int] = []

        def visit(value):
            if isinstance(value, torch.Tensor):
                s = self.source(value)
                if s is not None:
                    found.append(s)
            elif isinstance(value, (tuple, list)):
                for item in value:
                    visit(item)
            elif isinstance(value, dict):
                for item in value.values():
                    visit(item)

        visit(args)
        visit(kwargs)
        return found


def _hw(tensor) -> tuple[int, int]:
    if tensor.dim() >= 4:
        return int(tensor.shape[-2]), int(tensor.shape[-1])
    if tensor.dim() == 3:  # (batch, positions, features) or (C, H, W) without batch: positions
        return int(tensor.shape[1]), 1
    return 1, 1


def _channels(tensor) -> int:
    return int(tensor.shape[1]) if tensor.dim() >= 2 else int(tensor.shape[0])


def _refuse(what: str, path: str) -> FastnaxError:
    return ArchitectureError(
        f"unsupported operation {what} at module path {path!r}: the hardware model prices convolutions, "
        f"linear layers, pooling, residual additions and concatenations (batch norm, activations and "
        f"reshapes are free)")


def _conv_layer(path: str, inputs: list[int], x, out, weight_shape, stride, padding, dilation,
                groups: int) -> ImportedLayer:
    kh, kw = int(weight_shape[-2]), int(weight_shape[-1])
    if kh != kw:
        raise _refuse(f"conv with a non-square {kh}x{kw} kernel", path)
    if isinstance(padding, str):
        padding = (0, 0) if padding == "valid" else (kh // 2, kw // 2)
    return ImportedLayer("conv", path, tuple(inputs[:1]), _channels(x), _channels(out), (kh, kw),
                         _pair(stride), _pair(padding), _pair(dilation), int(groups), _hw(x), _hw(out))


def _linear_layer(path: str, inputs: list[int], x, out, in_features: int, out_features: int) -> ImportedLayer:
    positions = int(out.numel() // max(out_features, 1))  # batch 1: vectors, or positions x features
    hw = (positions, 1) if positions > 1 else (1, 1)
    return ImportedLayer("linear", path, tuple(inputs[:1]), int(in_features), int(out_features),
                         in_hw=hw, out_hw=hw)


def _pool_layer(op: str, path: str, inputs: list[int], x, out, kernel, stride, padding=0) -> ImportedLayer:
    out_hw = _hw(out)
    if op == "avgpool" and out_hw == (1, 1) and out.dim() >= 4 and _hw(x) != (1, 1):
        op, kernel = "gap", _hw(x)
    return ImportedLayer(op, path, tuple(inputs[:1]), _channels(x), _channels(out), _pair(kernel),
                         _pair(stride if stride is not None else kernel), _pair(padding), in_hw=_hw(x),
                         out_hw=out_hw)


def _module_layer(module, path: str, inputs: list[int], x, out) -> ImportedLayer | None | str:
    """The priced node of a leaf module call; None when the module is free; a string naming the
    module type when it is not supported."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        return _conv_layer(path, inputs, x, out, module.weight.shape, module.stride, module.padding,
                           module.dilation, module.groups)
    if isinstance(module, nn.Linear):
        return _linear_layer(path, inputs, x, out, module.in_features, module.out_features)
    if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        if isinstance(module, nn.AdaptiveMaxPool2d):
            kernel = (max(_hw(x)[0] // max(_hw(out)[0], 1), 1), max(_hw(x)[1] // max(_hw(out)[1], 1), 1))
            return _pool_layer("maxpool", path, inputs, x, out, kernel, kernel)
        return _pool_layer("maxpool", path, inputs, x, out, module.kernel_size, module.stride, module.padding)
    if isinstance(module, nn.AvgPool2d):
        return _pool_layer("avgpool", path, inputs, x, out, module.kernel_size, module.stride, module.padding)
    if isinstance(module, nn.AdaptiveAvgPool2d):
        kernel = (max(_hw(x)[0] // max(_hw(out)[0], 1), 1), max(_hw(x)[1] // max(_hw(out)[1], 1), 1))
        return _pool_layer("avgpool", path, inputs, x, out, kernel, kernel)
    free = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm, nn.Dropout, nn.Dropout2d, nn.AlphaDropout,
            nn.Identity, nn.Flatten, nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
            nn.Hardsigmoid, nn.Hardtanh, nn.LeakyReLU, nn.ELU, nn.SELU, nn.Softplus, nn.Mish, nn.Softmax,
            nn.LogSoftmax, nn.Threshold)
    if isinstance(module, free):
        return None
    return f"{type(module).__module__}.{type(module).__qualname__}"


def _is_leaf(module) -> bool:
    """Modules whose call is recorded as one node (torch.nn layers and their subclasses); the
    calls inside every other module (containers, user blocks) are recorded one by one."""
    from torch import nn

    if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        return False
    kind = type(module)
    known = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
             nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.Identity, nn.Flatten)
    if isinstance(module, known):
        return True
    # any other layer of torch.nn itself (activations, and the unsupported ones: Upsample, LSTM, ...)
    return kind.__module__.startswith("torch.nn.")


def import_torch(module, input_shape: Sequence[int], name: str | None = None) -> ImportedNetwork:
    """Run ``module`` once and record its priced nodes (see the module docstring).

    Parameters
    ----------
    module : torch.nn.Module
    input_shape : (C, H, W)
        One input image; the network runs on a zero batch of one, in eval mode (its training
        mode is restored afterwards), without gradients.
    name : str, optional
        Default: the module's class name.

    Returns
    -------
    ImportedNetwork

    Raises
    ------
    ArchitectureError
        An operation the hardware model cannot price (named with its module path), a network
        that does not run on ``input_shape``, or one with no weight layer.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    if not isinstance(module, torch.nn.Module):
        raise ArchitectureError(f"expected a torch.nn.Module, got {type(module).__name__}")
    shape = _check_shape(input_shape)
    names = {id(m): (n or "<top>") for n, m in module.named_modules()}
    rec = _Recorder(names)
    handles = []

    def pre_hook(mod, args):
        if rec.busy:
            return
        rec.stack.append(names.get(id(mod), type(mod).__name__))
        if rec.leaf_depth == 0 and _is_leaf(mod):
            rec.leaf_depth = 1
            mod._fastnax_leaf = True
        elif rec.leaf_depth:
            rec.leaf_depth += 1

    def post_hook(mod, args, out):
        if rec.busy:
            return
        path = rec.stack.pop() if rec.stack else "<top>"
        if rec.leaf_depth > 1:
            rec.leaf_depth -= 1
            return
        if rec.leaf_depth == 1 and getattr(mod, "_fastnax_leaf", False):
            rec.leaf_depth = 0
            del mod._fastnax_leaf
            x = args[0] if args else None
            inputs = rec.sources(args, {})
            if not inputs:
                return  # computes on constants only
            rec.busy = True
            try:
                layer = _module_layer(mod, path, inputs, x, out)
            finally:
                rec.busy = False
            if isinstance(layer, str):
                raise _refuse(layer, path)
            if layer is None:
                rec.mark(out, inputs[0])
            else:
                rec.add(layer, out)

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if rec.busy or rec.leaf_depth:
                return out
            inputs = rec.sources(args, kwargs)
            if not inputs or not isinstance(out, (torch.Tensor, tuple, list)):
                return out  # constants, or a shape query
            rec.busy = True
            try:
                _record_function(rec, _func_name(func), args, kwargs, inputs, out)
            finally:
                rec.busy = False
            return out

    for mod in module.modules():
        handles.append(mod.register_forward_pre_hook(pre_hook))
        handles.append(mod.register_forward_hook(post_hook))
    was_training = module.training
    x = torch.zeros((1,) + shape)
    rec.producer[id(x)] = (_NETWORK_INPUT, x)
    try:
        module.eval()
        with torch.no_grad(), Mode():
            module(x)
    except FastnaxError:
        raise
    except Exception as exc:  # the user's network fails on this input: one line saying so
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchitectureError(f"the network does not run on an input of shape {shape} "
                                f"(at module path {rec.path()!r}): {message}") from None
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
        for mod in module.modules():
            if hasattr(mod, "_fastnax_leaf"):
                del mod._fastnax_leaf
    net = ImportedNetwork(name or type(module).__name__, shape, tuple(rec.layers))
    if not net.weight_layers:
        raise ArchitectureError(f"network {net.name!r} has no convolution or linear layer to map to crossbars")
    return net


def _record_function(rec: _Recorder, name: str, args, kwargs, inputs: list[int], out) -> None:
    import torch

    path = rec.path()
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None

    def arg(i, key, default=None):
        if len(args) > i:
            return args[i]
        return kwargs.get(key, default)

    if name in _FREE_FUNCS or name == "__get__":
        rec.mark(out, inputs[0])
        return
    if name == "conv2d":
        weight = arg(1, "weight")
        rec.add(_conv_layer(path, inputs, x, out, weight.shape, arg(3, "stride", 1), arg(4, "padding", 0),
                            arg(5, "dilation", 1), int(arg(6, "groups", 1))), out)
        return
    if name == "linear":
        weight = arg(1, "weight")
        rec.add(_linear_layer(path, inputs, x, out, int(weight.shape[1]), int(weight.shape[0])), out)
        return
    if name in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
        op = "avgpool" if name == "avg_pool2d" else "maxpool"
        kernel = arg(1, "kernel_size")
        stride = arg(2, "stride") or kernel
        tensor = out[0] if isinstance(out, tuple) else out
        rec.add(_pool_layer(op, path, inputs, x, tensor, kernel, stride, arg(3, "padding", 0)), out)
        return
    if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"):
        tensor = out[0] if isinstance(out, tuple) else out
        kernel = (max(_hw(x)[0] // _hw(tensor)[0], 1), max(_hw(x)[1] // _hw(tensor)[1], 1))
        op = "avgpool" if "avg" in name else "maxpool"
        rec.add(_pool_layer(op, path, inputs, x, tensor, kernel, kernel), out)
        return
    if name in ("mean", "amax", "max") and x is not None and x.dim() == 4:
        dims = arg(1, "dim")
        dims = tuple(sorted(d % 4 for d in (dims if isinstance(dims, (tuple, list)) else [dims]))) \
            if dims is not None else None
        if dims == (2, 3):
            tensor = out[0] if isinstance(out, tuple) else out
            op = "gap" if name == "mean" else "maxpool"
            rec.add(ImportedLayer(op, path, tuple(inputs[:1]), _channels(x), _channels(x), _hw(x), _hw(x),
                                  in_hw=_hw(x), out_hw=(1, 1)), tensor)
            return
        raise _refuse(f"{name} over dims {dims}", path)
    if name in _SUM_FUNCS:
        if len(inputs) == 1:
            rec.mark(out, inputs[0])  # an activation plus a constant
        else:
            rec.add(ImportedLayer("add", path, tuple(inputs), _channels(out), _channels(out),
                                  in_hw=_hw(out), out_hw=_hw(out)), out)
        return
    if name in _ARITH_FUNCS:
        if len(inputs) == 1:
            rec.mark(out, inputs[0])
            return
        raise _refuse(f"{name} of two activations", path)
    if name in _CAT_FUNCS:
        tensors = arg(0, "tensors")
        dim = arg(1, "dim", 0)
        if out.dim() >= 2 and dim % out.dim() != 1:
            raise _refuse(f"{name} along dim {dim} (only channels concatenate)", path)
        consts = [t for t in tensors if rec.source(t) is None]
        if consts:
            raise _refuse(f"{name} of an activation with a constant", path)
        rec.add(ImportedLayer("concat", path, tuple(inputs), _channels(out), _channels(out), in_hw=_hw(out),
                              out_hw=_hw(out)), out)
        return
    raise _refuse(name, path)


# --- ONNX ---------------------------------------------------------------------------------------
_ONNX_FREE = frozenset("""
Relu LeakyRelu Sigmoid Tanh Clip Elu Selu HardSigmoid HardSwish Gelu Softplus Mish PRelu Identity Dropout
BatchNormalization Flatten Reshape Squeeze Unsqueeze Softmax LogSoftmax Cast Shape Gather Constant
ConstantOfShape Transpose
""".split())


class _Dims:
    """The shape of an ONNX weight (its values are neither needed nor loaded)."""

    def __init__(self, dims):
        self.shape = tuple(int(d) for d in dims)
        self.ndim = len(self.shape)


def _initializer(tensor, numpy_helper):
    """Small integer initializers (axes, shapes) as arrays; every other one as its shape."""
    small = len(tensor.dims) <= 1 and (not tensor.dims or tensor.dims[0] <= 16)
    if small and tensor.data_type in (6, 7) and not tensor.external_data:  # INT32, INT64
        return numpy_helper.to_array(tensor)
    return _Dims(tensor.dims)


def import_onnx(source, input_shape: Sequence[int] | None = None, name: str | None = None) -> ImportedNetwork:
    """Read the priced nodes of an ONNX graph.

    Parameters
    ----------
    source : path or onnx.ModelProto
    input_shape : (C, H, W), optional
        Overrides the graph input's shape (required when the file leaves it symbolic).

    Returns
    -------
    ImportedNetwork

    Raises
    ------
    ArchitectureError
        An unreadable file, an unsupported node (named with the node's name), a missing shape.
    """
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        raise ArchitectureError("reading ONNX files needs the 'onnx' package: pip install 'fastnax[onnx]'") from None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            # external weight files are never opened: only the shapes are read, from the graph
            model = onnx.load(str(path), load_external_data=False)
        except FileNotFoundError:
            raise ArchitectureError(f"ONNX file not found: {path}") from None
        except Exception as exc:  # protobuf decode errors
            raise ArchitectureError(f"{path} is not a readable ONNX model: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        name = name or path.name
    else:
        model = source
        name = name or (model.graph.name or "onnx")
    graph = model.graph
    initializers = {t.name: _initializer(t, numpy_helper) for t in graph.initializer}
    real_inputs = [v for v in graph.input if v.name not in initializers]
    if len(real_inputs) != 1:
        raise ArchitectureError(f"ONNX model {name!r} has {len(real_inputs)} graph inputs; expected one image input")
    graph_input = real_inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in graph_input.type.tensor_type.shape.dim]
    if input_shape is not None:
        shape = _check_shape(input_shape)
        model = onnx.ModelProto.FromString(model.SerializeToString())
        tensor_shape = model.graph.input[[v.name for v in model.graph.input].index(graph_input.name)] \
            .type.tensor_type.shape
        del tensor_shape.dim[:]
        for value in (1,) + shape:
            tensor_shape.dim.add().dim_value = value
        graph = model.graph
    else:
        if len(dims) != 4 or min(dims[1:]) < 1:
            raise ArchitectureError(f"ONNX model {name!r} has input shape {dims}; give --input-shape C,H,W")
        shape = tuple(dims[1:])  # type: ignore[assignment]
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception as exc:
        raise ArchitectureError(f"ONNX shape inference failed for {name!r}: {str(exc).splitlines()[0]}") from None
    shapes: dict[str, tuple[int, ...]] = {graph_input.name: (1,) + tuple(shape)}
    for value in list(inferred.graph.value_info) + list(inferred.graph.output):
        d = [x.dim_value if x.HasField("dim_value") else 0 for x in value.type.tensor_type.shape.dim]
        shapes[value.name] = tuple(d)
    constants = dict(initializers)
    producer: dict[str, int] = {graph_input.name: _NETWORK_INPUT}
    layers: list[ImportedLayer] = []

    def attrs(node) -> dict:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def hw_of(tensor_name):
        s = shapes.get(tensor_name)
        if s is None or (s and min(s) < 1):
            raise ArchitectureError(f"ONNX node output {tensor_name!r} has no static shape; give --input-shape")
        return (s[2], s[3]) if len(s) >= 4 else (1, 1)

    def ch_of(tensor_name):
        s = shapes.get(tensor_name)
        if not s:
            raise ArchitectureError(f"ONNX tensor {tensor_name!r} has no static shape; give --input-shape")
        return int(s[1]) if len(s) >= 2 else int(s[0])

    for k, node in enumerate(graph.node):
        path = node.name or f"{node.op_type}_{k}"
        ins = [producer[i] for i in node.input if i in producer]
        out = node.output[0] if node.output else ""
        if node.op_type == "Constant":
            for o in node.output:
                a = attrs(node)
                if "value" in a:
                    constants[o] = numpy_helper.to_array(a["value"])
            continue
        if not ins:
            continue  # computes on constants only
        a = attrs(node)
        op = node.op_type
        layer = None
        if op == "Conv":
            weight = constants.get(node.input[1])
            if weight is None:
                raise _refuse("Conv with a computed weight", path)
            kh, kw = int(weight.shape[2]), int(weight.shape[3]) if weight.ndim == 4 else 1
            if kh != kw:
                raise _refuse(f"Conv with a non-square {kh}x{kw} kernel", path)
            pads = a.get("pads", [0, 0, 0, 0])
            layer = ImportedLayer("conv", path, tuple(ins[:1]), ch_of(node.input[0]), int(weight.shape[0]),
                                  (kh, kw), _pair(a.get("strides", [1, 1])), (int(pads[0]), int(pads[1])),
                                  _pair(a.get("dilations", [1, 1])), int(a.get("group", 1)),
                                  hw_of(node.input[0]), hw_of(out))
        elif op in ("Gemm", "MatMul"):
            weight = constants.get(node.input[1])
            if weight is None or weight.ndim != 2:
                raise _refuse(f"{op} of two activations", path)
            transposed = op == "Gemm" and int(a.get("transB", 0)) == 1
            fan_in, fan_out = (weight.shape[1], weight.shape[0]) if transposed else weight.shape
            layer = ImportedLayer("linear", path, tuple(ins[:1]), int(fan_in), int(fan_out))
        elif op in ("MaxPool", "AveragePool"):
            kernel = _pair(a.get("kernel_shape", [1, 1]))
            pads = a.get("pads", [0, 0, 0, 0])
            kind = "maxpool" if op == "MaxPool" else "avgpool"
            layer = ImportedLayer(kind, path, tuple(ins[:1]), ch_of(node.input[0]), ch_of(out), kernel,
                                  _pair(a.get("strides", kernel)), (int(pads[0]), int(pads[1])),
                                  in_hw=hw_of(node.input[0]), out_hw=hw_of(out))
            if kind == "avgpool" and layer.out_hw == (1, 1) and layer.in_hw != (1, 1):
                layer = ImportedLayer("gap", path, layer.inputs, layer.c_in, layer.c_out, layer.in_hw,
                                      layer.in_hw, in_hw=layer.in_hw, out_hw=(1, 1))
        elif op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean"):
            if op == "ReduceMean":
                axes = a.get("axes")
                if axes is None and len(node.input) > 1 and node.input[1] in constants:
                    axes = constants[node.input[1]].tolist()
                if sorted(int(x) % 4 for x in (axes or [])) != [2, 3]:
                    raise _refuse(f"ReduceMean over axes {axes}", path)
            in_hw = hw_of(node.input[0])
            kind = "maxpool" if op == "GlobalMaxPool" else "gap"
            layer = ImportedLayer(kind, path, tuple(ins[:1]), ch_of(node.input[0]), ch_of(node.input[0]), in_hw,
                                  in_hw, in_hw=in_hw, out_hw=(1, 1))
        elif op in ("Add", "Sub", "Sum"):
            if len(ins) == 1:
                producer[out] = ins[0]
                continue
            layer = ImportedLayer("add", path, tuple(ins), ch_of(out), ch_of(out), in_hw=hw_of(out),
                                  out_hw=hw_of(out))
        elif op in ("Mul", "Div"):
            if len(ins) == 1:
                producer[out] = ins[0]
                continue
            raise _refuse(f"{op} of two activations", path)
        elif op == "Concat":
            if int(a.get("axis", 1)) % max(len(shapes.get(out, (0, 0))), 1) != 1:
                raise _refuse(f"Concat along axis {a.get('axis')} (only channels concatenate)", path)
            if len(ins) != len(node.input):
                raise _refuse("Concat of an activation with a constant", path)
            layer = ImportedLayer("concat", path, tuple(ins), ch_of(out), ch_of(out), in_hw=hw_of(out),
                                  out_hw=hw_of(out))
        elif op in _ONNX_FREE:
            for o in node.output[:1]:
                producer[o] = ins[0]
            continue
        else:
            raise _refuse(f"ONNX {op}", path)
        layers.append(layer)
        producer[out] = len(layers) - 1
    net = ImportedNetwork(name, tuple(shape), tuple(layers))  # type: ignore[arg-type]
    if not net.weight_layers:
        raise ArchitectureError(f"network {name!r} has no convolution or linear layer to map to crossbars")
    return net


# --- loading for the command line ---------------------------------------------------------------
def load_network(spec: str, input_shape: Sequence[int] | None = None) -> ImportedNetwork:
    """The network named on the command line: ``FILE.py:FACTORY`` (a function or class of the
    file that returns / is a ``torch.nn.Module``, called without arguments) or ``FILE.onnx``.

    The Python file is executed: load only files you trust.
    """
    if not isinstance(spec, str) or not spec:
        raise ArchitectureError("--model must be FILE.py:FACTORY or FILE.onnx")
    if spec.lower().endswith(".onnx"):
        return import_onnx(spec, input_shape)
    if ":" not in spec:
        raise ArchitectureError(f"--model {spec!r} must be FILE.py:FACTORY (a function returning a torch "
                                f"module) or FILE.onnx")
    file, factory_name = spec.rsplit(":", 1)
    path = Path(file)
    if not path.is_file():
        raise ArchitectureError(f"model file not found: {path}")
    if input_shape is None:
        raise ArchitectureError("--model FILE.py:FACTORY needs --input-shape C,H,W")
    shape = _check_shape(input_shape)
    module_name = f"_fastnax_model_{abs(hash(str(path.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ArchitectureError(f"cannot load {path} as Python")
    py = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = py
    try:
        loader_spec.loader.exec_module(py)
    except Exception as exc:
        raise ArchitectureError(f"{path} failed to run: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    finally:
        sys.modules.pop(module_name, None)
    factory = getattr(py, factory_name, None)
    if factory is None or not callable(factory):
        found = sorted(n for n, v in vars(py).items() if callable(v) and not n.startswith("_"))
        raise ArchitectureError(f"{path} has no callable {factory_name!r}; it defines: {', '.join(found) or 'nothing'}")
    try:
        module = factory()
    except Exception as exc:
        raise ArchitectureError(f"{spec} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return import_torch(module, shape, name=f"{path.name}:{factory_name}")


def layer_table_from_torch(module, input_shape: Sequence[int], crossbar_size: int | Sequence[int] = 128,
                           w_bits: int = 8, in_bits: int = 8, cell_bits: int = 2,
                           adc_rule: str | int = "preset") -> LayerTable:
    """The one-row :class:`~fastnax.arch.LayerTable` of a torch module (see :func:`import_torch`
    and :meth:`ImportedNetwork.layer_table` for the arguments).

    >>> import torch  # doctest: +SKIP
    >>> from fastnax import hwmodel  # doctest: +SKIP
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(16 * 32 * 32, 10))  # doctest: +SKIP
    >>> table = hwmodel.layer_table_from_torch(net, (3, 32, 32), crossbar_size=64)  # doctest: +SKIP
    >>> hwmodel.get_preset("puma-32nm").evaluate(table).energy_pj.shape  # doctest: +SKIP
    (1,)
    """
    return import_torch(module, input_shape).layer_table(crossbar_size, w_bits, in_bits, cell_bits, adc_rule)


def layer_table_from_onnx(source, input_shape: Sequence[int] | None = None,
                          crossbar_size: int | Sequence[int] = 128, w_bits: int = 8, in_bits: int = 8,
                          cell_bits: int = 2, adc_rule: str | int = "preset") -> LayerTable:
    """The one-row :class:`~fastnax.arch.LayerTable` of an ONNX model (see :func:`import_onnx`)."""
    return import_onnx(source, input_shape).layer_table(crossbar_size, w_bits, in_bits, cell_bits, adc_rule)
