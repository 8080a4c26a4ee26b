"""The torch network of any architecture: one builder that walks the architecture's layer DAG.

Every node of ``arch.layers`` becomes one module (``ReLU`` if ``relu == "pre"``, the op, batch norm
if ``bn``, ``ReLU`` if ``relu == "post"``); the forward pass evaluates the nodes in index order,
an ``add`` summing its inputs (a zero tensor when it has none, as a NAS-Bench-201 node whose edges
are all ``none``). Convolutions have no bias (batch norm follows them), so the weight count of the
network equals ``arch.params``. Weight layers are the noise-aware layers of
:mod:`fastnax.train.noise`, listed in ``network.weight_layers`` in ``arch.weight_layers`` order, and
configured with the per-layer noise sigma of the hardware model.

Inputs are images in [0, 1]; the network standardizes them itself with per-channel ``mean`` /
``std`` buffers (set from the training data), so a checkpoint carries its normalization.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fastnax.arch import Architecture, Layer
from fastnax.errors import ArchitectureError, BoundsError
from fastnax.train.noise import CellNoise, NoisyConv2d, NoisyLinear, configure_nonideality


class _Gap(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class _Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def _op_module(layer: Layer) -> nn.Module | None:
    if layer.op == "conv":
        return NoisyConv2d(layer.c_in, layer.c_out, layer.kernel, stride=layer.stride,
                           padding=layer.kernel // 2, bias=False)
    if layer.op == "linear":
        return NoisyLinear(layer.c_in, layer.c_out, bias=True)
    if layer.op == "maxpool":
        return nn.MaxPool2d(layer.kernel, layer.stride, padding=layer.kernel // 2 if layer.stride == 1 else 0,
                            ceil_mode=True)
    if layer.op == "avgpool":
        if layer.stride == 1:  # NAS-Bench-201's avg_pool_3x3: same size, padding not averaged in
            return nn.AvgPool2d(layer.kernel, 1, padding=layer.kernel // 2, count_include_pad=False)
        return nn.AvgPool2d(layer.kernel, layer.stride, ceil_mode=True, count_include_pad=False)
    if layer.op == "gap":
        return _Gap()
    if layer.op == "flatten":
        return _Flatten()
    return None  # input, add


class ArchNetwork(nn.Module):
    """The torch network of an :class:`~fastnax.arch.Architecture` (see the module docstring).

    Attributes
    ----------
    arch_string : str
        ``str(arch)``.
    weight_layers : list of NoisyConv2d / NoisyLinear
        The weight layers in ``arch.weight_layers`` order.
    """

    def __init__(self, arch: Architecture, num_classes: int, in_channels: int):
        super().__init__()
        layers = list(arch.layers)
        if not layers or layers[0].op != "input":
            raise ArchitectureError(f"architecture {str(arch)[:60]!r} does not start with an input node")
        self.arch_string = str(arch)
        self.num_classes, self.in_channels = int(num_classes), int(in_channels)
        last_linear = max((i for i, l in enumerate(layers) if l.op == "linear"), default=None)
        blocks = []
        self._inputs: list[tuple[int, ...]] = []
        self._ops: list[str] = []
        self._zero_shape: list[tuple[int, ...]] = []
        weight_index: list[int] = []
        for i, layer in enumerate(layers):
            if i == 0:
                layer = Layer("input", c_out=self.in_channels, in_hw=layer.in_hw, out_hw=layer.out_hw)
            elif 0 in layer.inputs and layer.has_weights:
                layer = _replace(layer, c_in=self.in_channels)
            if i == last_linear:
                layer = _replace(layer, c_out=self.num_classes)
            if any(j >= i or j < 0 for j in layer.inputs):
                raise ArchitectureError(f"layer {i} of {str(arch)[:60]!r} reads a later node")
            parts: list[nn.Module] = []
            if layer.relu == "pre":
                parts.append(nn.ReLU())
            op = _op_module(layer)
            if op is not None:
                parts.append(op)
                if layer.has_weights:
                    weight_index.append(i)
            if layer.bn:
                flat = layer.op in ("linear", "gap", "flatten")
                parts.append(nn.BatchNorm1d(layer.c_out) if flat else nn.BatchNorm2d(layer.c_out))
            if layer.relu == "post":
                parts.append(nn.ReLU(inplace=False))
            pre = layer.relu == "pre" and layer.op == "add"
            blocks.append(nn.Sequential(*(parts[1:] if pre else parts)))
            self._inputs.append(tuple(layer.inputs))
            self._ops.append(layer.op)
            self._zero_shape.append((layer.c_out,) + tuple(layer.out_hw))
        self.nodes = nn.ModuleList(blocks)
        self._pre_add = [l.op == "add" and l.relu == "pre" for l in layers]
        self._weight_index = weight_index
        # the last reader of each node, to free activations early
        last_use = list(range(len(layers)))
        for i, inputs in enumerate(self._inputs):
            for j in inputs:
                last_use[j] = max(last_use[j], i)
        self._last_use = last_use
        self.register_buffer("mean", torch.zeros(self.in_channels))
        self.register_buffer("std", torch.ones(self.in_channels))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def weight_layers(self) -> list[nn.Module]:
        return [m for i in self._weight_index for m in self.nodes[i]
                if isinstance(m, (NoisyConv2d, NoisyLinear))]

    def set_normalization(self, mean, std) -> None:
        """Per-channel mean and std (arrays of shape (in_channels,)) of the [0, 1] inputs."""
        mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)).reshape(-1)
        std = torch.as_tensor(np.asarray(std, dtype=np.float32)).reshape(-1)
        if mean.shape[0] != self.in_channels or std.shape[0] != self.in_channels:
            raise BoundsError(f"normalization needs {self.in_channels} channels, got {mean.shape[0]}")
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        outputs: list[torch.Tensor | None] = [None] * len(self._ops)
        for i, (op, inputs, block) in enumerate(zip(self._ops, self._inputs, self.nodes)):
            if op == "input":
                out = x
            elif op == "add":
                if inputs:
                    terms = [outputs[j] for j in inputs]
                    if self._pre_add[i]:
                        terms = [torch.relu(t) for t in terms]
                    out = terms[0]
                    for t in terms[1:]:
                        out = out + t
                else:
                    out = x.new_zeros((x.shape[0],) + self._zero_shape[i])
            else:
                out = outputs[inputs[0]]
            out = block(out)
            outputs[i] = out
            for j in inputs:
                if self._last_use[j] == i:
                    outputs[j] = None
        return outputs[-1]


def _replace(layer: Layer, **changes) -> Layer:
    import dataclasses

    return dataclasses.replace(layer, **changes)


def hardware_settings(arch: Architecture, preset: str | None = None, nonideality=None) -> dict:
    """Per-layer noise settings and precisions of ``arch`` from the hardware model.

    Returns
    -------
    dict
        ``sigmas`` (ndarray of shape (n_weight_layers,): every non-ideality folded into one
        relative weight-noise sigma per layer, ``fastnax.hwmodel.layer_noise_sigma``),
        ``column_sigmas`` (same shape: the column-level part alone, IR drop and a lossy ADC, the
        Gaussian noise left once the cells are simulated explicitly), ``cells``
        (:class:`~fastnax.train.noise.CellNoise`: the per-cell terms, the architecture's
        ``cell_bits``, the preset's ``differential``), ``w_bits``, ``in_bits`` (the
        architecture's knobs) and ``adc_bits`` (ndarray of shape (n_weight_layers,)).
    """
    import dataclasses

    from fastnax import hwmodel
    from fastnax.arch import hardware_knobs

    # nonideality: a NonIdeality, a registered name, a TOML/JSON file or None (the preset's own)
    hw = hwmodel.with_nonideality(preset if preset is not None else "puma-32nm", nonideality)
    ni = hw.nonideality
    sigmas = np.asarray(hwmodel.layer_noise_sigma(arch, model=hw, nonideality=ni), dtype=float).reshape(-1)
    # the column-level part (IR drop, a lossy ADC, output noise): every cell term off, no drift or
    # read noise (no time elapsed); the output noise as the drift compensation at the preset's
    # time grows it
    column_only = dataclasses.replace(ni, output_noise=ni.output_noise_referred(),
                                      conductance_sigma=0.0, conductance_sigma_lin=0.0,
                                      conductance_sigma_quad=0.0, conductance_sigma_cubic=0.0,
                                      conductance_sigma_quartic=0.0, stuck_at_gmin_rate=0.0,
                                      stuck_at_gmax_rate=0.0, drift_nu_sigma=0.0, drift_time_s=0.0,
                                      drift_time_offset_s=0.0, read_noise_q=0.0)
    column = np.asarray(hwmodel.layer_noise_sigma(arch, model=hw, nonideality=column_only),
                        dtype=float).reshape(-1)
    knobs = hardware_knobs(arch)
    # signed weights as the analytical sigma stores them: a differential pair when the crossbar is
    # differential or the non-ideality's convention is the pair (aihwkit's)
    differential = bool(hw.crossbar.differential) or ni.signed_code == "pair"
    cells = CellNoise.from_nonideality(ni, int(knobs["cell_bits"]), differential)
    return {"sigmas": sigmas, "column_sigmas": column, "cells": cells, "w_bits": knobs["w_bits"],
            "in_bits": knobs["in_bits"], "adc_bits": layer_adc_bits(arch, hw)}


def layer_adc_bits(arch: Architecture, model=None) -> np.ndarray:
    """ADC precision per weight layer (ndarray of int, shape (n_weight_layers,)), clipped to 2..16.

    From the hardware model's ADC rule (:meth:`fastnax.hwmodel.HardwareModel.adc_bits`);
    ``model`` is a :class:`~fastnax.hwmodel.HardwareModel` or a preset name (default ``puma-32nm``).
    """
    from fastnax import hwmodel
    from fastnax.arch import hardware_knobs

    knobs = hardware_knobs(arch)
    n = np.asarray([layer.crossbar_size or 64 for layer in arch.weight_layers], dtype=float)
    hw = hwmodel.get_preset(model if model is not None else "puma-32nm")
    bits = hw.adc_bits(n, knobs["cell_bits"], knobs["adc_rule"])
    return np.clip(np.asarray(bits), 2, 16).astype(np.int64).reshape(-1)


def hardware_cost(arch: Architecture, preset=None, nonideality=None) -> dict:
    """Energy, latency, area and EDAP of ``arch`` from the hardware model.

    Returns
    -------
    dict
        ``preset`` (the model's name), ``energy_pj``, ``latency_ns``, ``area_mm2``, ``edap``,
        ``mean_noise_sigma``.
    """
    from fastnax import hwmodel

    hw = hwmodel.with_nonideality(preset if preset is not None else "puma-32nm", nonideality)
    cost = hw.evaluate_archs([arch])
    return {"preset": hw.name, "nonideality": hw.nonideality.name, "energy_pj": float(cost.energy_pj[0]),
            "latency_ns": float(cost.latency_ns[0]), "area_mm2": float(cost.area_mm2[0]),
            "edap": float(cost.edap[0]), "mean_noise_sigma": float(cost.mean_noise_sigma[0])}


def build_model(arch: Architecture | str, num_classes: int | None = None, in_channels: int | None = None,
                *, noise_sigma=None, preset: str | None = None, nonideality=None,
                hardware: bool = True, explicit_cells: bool = True) -> ArchNetwork:
    """The torch network of ``arch``, its weight layers configured with the crossbar non-idealities.

    Parameters
    ----------
    arch : Architecture or its canonical string
    num_classes, in_channels : int, optional
        Override the architecture's classifier outputs and input channels (default: the arch's).
    noise_sigma : float or array of shape (n_weight_layers,), optional
        Explicit relative Gaussian weight-noise sigma per layer, and no cell model. Default: the
        hardware model's non-idealities (:func:`hardware_settings`): the memristive cells
        simulated one by one (variation, drift, stuck-at faults on every weight slice) plus the
        column-level Gaussian sigma.
    preset, nonideality : optional
        Hardware preset name and :class:`fastnax.hwmodel.NonIdeality` for the default sigma.
    hardware : bool
        When False, the layers get no noise and no quantization (a plain software network).
    explicit_cells : bool
        When False (and ``noise_sigma`` is None), every non-ideality is folded into the hardware
        model's one Gaussian sigma per layer (``layer_noise_sigma``) instead of simulating cells.

    Returns
    -------
    ArchNetwork
        Its non-idealities are off until switched on (:func:`fastnax.train.noise.nonideal`).
    """
    if isinstance(arch, str):
        arch = Architecture.from_string(arch)
    if not isinstance(arch, Architecture):
        raise ArchitectureError(f"build_model needs an Architecture, got {type(arch).__name__}")
    opts = arch.option_dict
    num_classes = int(num_classes if num_classes is not None else opts.get("num_classes", 10))
    in_channels = int(in_channels if in_channels is not None else opts.get("in_channels", 3))
    if num_classes <= 0 or in_channels <= 0:
        raise BoundsError(f"num_classes and in_channels must be positive, got {num_classes}, {in_channels}")
    net = ArchNetwork(arch, num_classes, in_channels)
    if hardware:
        cells = None
        if noise_sigma is None:
            settings = hardware_settings(arch, preset, nonideality)
            if explicit_cells:
                settings["sigmas"], cells = settings["column_sigmas"], settings["cells"]
        else:
            from fastnax.arch import hardware_knobs

            knobs = hardware_knobs(arch)
            settings = {"sigmas": noise_sigma, "w_bits": knobs["w_bits"], "in_bits": knobs["in_bits"],
                        "adc_bits": layer_adc_bits(arch, preset)}
        configure_nonideality(net, settings["sigmas"], settings["w_bits"], settings["adc_bits"],
                              settings["in_bits"], cells)
    return net


def count_weights(model: nn.Module) -> int:
    """Number of conv and linear weights of a model (biases and batch norm excluded)."""
    return int(sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))))
