"""Noise-aware layers: torch ``Conv2d`` / ``Linear`` that see the crossbar's non-idealities.

Each layer carries its own non-ideality settings (the IBM aihwkit habit: an analog layer *is* a
``Conv2d``, with the same signature and state dict, plus hardware fields):

- ``cells`` (:class:`CellNoise`, optional): the memristive cells, injected explicitly. The weight is
  quantized to ``w_bits`` (signed, ``2^(w_bits-1) - 1`` levels per sign over ``[-max|w|, max|w|]``),
  stored as an offset code (or a differential pair of magnitudes) sliced over
  ``ceil(w_bits / cell_bits)`` cells of ``cell_bits`` bits, and every cell gets its own
  programming variation, drift (device-to-device spread of the drift exponent after global drift
  compensation) and stuck-at faults (the cell reads ``G_min`` or ``G_max`` whatever it stores).
  A stuck cell is a large, sparse error: a most-significant cell stuck at ``G_max`` moves the
  weight by up to ``(2^cell_bits - 1) 2^(cell_bits (S-1))`` levels, which a Gaussian of the same
  variance does not capture;
- ``sigma``: relative Gaussian weight-noise sigma on top (with ``cells``: the column-level errors,
  IR drop and a lossy ADC; without: every non-ideality folded into one figure, the hardware model's
  ``layer_noise_sigma``): adds ``N(0, sigma · max|w|)`` to every weight;
- ``noise_scale``: multiplies every noise figure (sigmas and fault rates); noise-aware training
  trains at ``noise_scale > 1`` (a little more noise than the hardware has), evaluation at 1;
- ``w_bits``: weights quantized symmetrically to ``w_bits`` with a straight-through estimator;
- ``in_bits``: input activations quantized (the DAC streams ``in_bits``-bit inputs);
- ``adc_bits``: the layer's outputs (the crossbars' partial sums, summed digitally) quantized to
  the ADC precision over their dynamic range. This is a layer-level approximation: the ADCs
  resolve each crossbar's partial sum, whose range is the output range split over the crossbars.

Non-idealities apply only while ``nonideal`` is True; :func:`set_nonideal` switches a whole model
(noise-aware training switches them on while training, a fresh draw every forward pass).
Evaluation programs one chip per noise trial: :func:`frozen_noise` draws every layer's perturbed
weights once from a seeded ``torch.Generator`` and keeps them for the whole test set (stuck cells
stay stuck from one batch to the next).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastnax.errors import BoundsError
from fastnax.train.cells import CellNoise, program_cells, read_back_levels  # noqa: F401 (re-exported)


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward identity (straight-through estimator)."""
    return x + (q - x).detach()


def quantize_symmetric(x: torch.Tensor, bits: int, scale: torch.Tensor) -> torch.Tensor:
    """Round ``x`` to ``2^(bits-1) - 1`` levels per sign over ``[-scale, scale]`` (STE)."""
    levels = float(2 ** (int(bits) - 1) - 1)
    step = scale / levels
    q = torch.clamp(torch.round(x / step), -levels, levels) * step
    return _ste(x, q)


class _RoundToStep(torch.autograd.Function):
    """``round(x / step) * step`` forward (two passes, one of them in place), identity backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.div(x, step).round_().mul_(step)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad, None


def quantize_activation(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Quantize over the tensor's detached range: unsigned when ``x >= 0`` (post-ReLU), else signed.

    Unsigned: ``2^bits - 1`` levels over ``[0, max x]``; signed: ``2^(bits-1) - 1`` levels per
    sign over ``[-max|x|, max|x|]``; straight-through (identity) gradient. The range is the
    tensor's own, so nothing needs clipping: an ``amin`` and an ``amax`` pass for the range, then
    ``round(x / step) * step``, with no host synchronisation (the signed/unsigned choice is made
    on the device).
    """
    if not bits:
        return x
    step = activation_step(x, bits)
    if x.requires_grad:
        return _RoundToStep.apply(x, step)
    return torch.div(x, step).round_().mul_(step)


@torch.no_grad()
def activation_step(x: torch.Tensor, bits: int) -> torch.Tensor:
    """The quantization step (a 0-d tensor on ``x``'s device) of :func:`quantize_activation`."""
    x = x.detach()
    # two reductions: on a CPU thread torch's ``amin`` and ``amax`` together cost less than its
    # fused ``aminmax`` (``amax`` 101 against ``aminmax`` 332 us on a 128x16x32x32 float32 batch;
    # in a chip's pass 164 against 194 us a layer), and are exact alike
    lo, hi = x.amin(), x.amax()
    unsigned = lo >= 0
    scale = torch.where(unsigned, hi, torch.maximum(hi, -lo)).clamp_min(1e-12)
    levels = torch.where(unsigned, float(2 ** int(bits) - 1), float(2 ** (int(bits) - 1) - 1))
    return (scale / levels).to(x.dtype)



class _Scratch:
    """One reusable buffer for the quantized inputs of a model's layers, inference only.

    Every layer consumes its quantized input in its own operation, so one buffer serves them all
    in turn. On the CPU, allocating and first touching a fresh activation-sized tensor for every
    layer cost more than the rounding itself: a ResNet-20 pass with the non-idealities on fell
    from 1.44x to 1.18x a clean pass when the input codes were written into a reused buffer (128
    random 32x32 images, one thread), and the 10-chip CIFAR-10 evaluation from 16.24 to 15.06
    clean passes.
    """

    def __init__(self) -> None:
        self.flat: torch.Tensor | None = None

    def like(self, x: torch.Tensor) -> torch.Tensor:
        n = x.numel()
        flat = self.flat
        if flat is None or flat.numel() < n or flat.dtype != x.dtype or flat.device != x.device:
            flat = self.flat = torch.empty(n, dtype=x.dtype, device=x.device)
        return flat[:n].view(x.shape)


class NoisyMixin:
    """Non-ideality fields and the noisy weight shared by the conv and linear layers."""

    sigma: float
    w_bits: int | None
    in_bits: int | None
    adc_bits: int | None
    nonideal: bool
    generator: torch.Generator | None
    cells: CellNoise | None
    noise_scale: float

    def __init__(self, *args, sigma: float = 0.0, w_bits: int | None = None, in_bits: int | None = None,
                 adc_bits: int | None = None, cells: CellNoise | None = None, **kwargs):
        super().__init__(*args, **kwargs)  # the torch layer's own arguments
        self.configure(sigma, w_bits, in_bits, adc_bits, cells)
        self.nonideal = False
        self.generator = None
        self.noise_scale = 1.0
        self.frozen_weight = None
        self.scratch: _Scratch | None = None  # set by ``nonideal`` (shared by the model's layers)

    def _apply_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The layer's own operation with ``weight`` in place of its parameter."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.nonideal:
            return super().forward(x)  # type: ignore[misc]
        if not torch.is_grad_enabled():
            return self._forward_inference(x)
        x = quantize_activation(x, self.in_bits)
        out = self._apply_weight(x, self.effective_weight())
        return quantize_activation(out, self.adc_bits)

    def _forward_inference(self, x: torch.Tensor) -> torch.Tensor:
        """The non-ideal forward without autograd, with fewer passes over the activations: the
        input step is folded into the (small) weight, ``conv(round(x / s), s W) = conv(q(x), W)``
        (up to float rounding), the input codes go into the model's reused buffer on the CPU
        (:class:`_Scratch`), and the ADC quantization rounds the fresh output in place."""
        weight = self.effective_weight()
        if self.in_bits:
            step = activation_step(x, self.in_bits)
            scratch = getattr(self, "scratch", None)
            if scratch is not None and x.device.type == "cpu":
                x = torch.div(x, step, out=scratch.like(x)).round_()
            else:
                x = torch.div(x, step).round_()
            weight = weight * step
        out = self._apply_weight(x, weight)
        if self.adc_bits:
            step = activation_step(out, self.adc_bits)
            out = out.div_(step).round_().mul_(step)
        return out

    def configure(self, sigma=0.0, w_bits=None, in_bits=None, adc_bits=None,
                  cells: CellNoise | None = None) -> None:
        sigma = float(sigma)
        if not np.isfinite(sigma) or sigma < 0:
            raise BoundsError(f"weight-noise sigma must be finite and >= 0, got {sigma}")
        for name, bits in (("w_bits", w_bits), ("in_bits", in_bits), ("adc_bits", adc_bits)):
            if bits is not None and not 2 <= int(bits) <= 32:
                raise BoundsError(f"{name} must be between 2 and 32 (or None), got {bits}")
        self.sigma = sigma
        self.w_bits = int(w_bits) if w_bits else None
        self.in_bits = int(in_bits) if in_bits else None
        self.adc_bits = int(adc_bits) if adc_bits else None
        if cells is not None and not isinstance(cells, CellNoise):
            raise BoundsError(f"cells must be a CellNoise or None, got {type(cells).__name__}")
        self.cells = cells

    def draw_weight(self, generator: torch.Generator | None = None, noise_scale: float = 1.0) -> torch.Tensor:
        """One draw of the weight as the crossbar holds it (quantized, cells perturbed, noise).

        Differentiable with respect to ``weight`` through a straight-through estimator: the
        forward value is the perturbed weight, the gradient is the identity.
        """
        w = self.weight  # type: ignore[attr-defined]
        scale = w.detach().abs().amax().clamp_min(1e-12)
        cells = self.cells
        if cells is not None:
            if noise_scale != 1.0:
                cells = cells.scaled(noise_scale)
            w = _ste(w, program_cells(w, scale, self.w_bits or 8, cells, generator))
        elif self.w_bits:
            w = quantize_symmetric(w, self.w_bits, scale)
        sigma = self.sigma * float(noise_scale)
        if sigma > 0:
            noise = torch.randn(w.shape, generator=generator, device=w.device, dtype=w.dtype)
            w = w + noise * (sigma * scale)
        return w

    def effective_weight(self) -> torch.Tensor:
        w = self.weight  # type: ignore[attr-defined]
        if not self.nonideal:
            return w
        if self.frozen_weight is not None:
            if not torch.is_grad_enabled():  # evaluation: the chip's weights as they are
                return self.frozen_weight
            return _ste(w, self.frozen_weight)
        return self.draw_weight(self.generator, self.noise_scale)

    def extra_repr(self) -> str:
        return (super().extra_repr() +  # type: ignore[misc]
                f", sigma={self.sigma:.4g}, w_bits={self.w_bits}, in_bits={self.in_bits}, "
                f"adc_bits={self.adc_bits}, cells={self.cells}")


class NoisyConv2d(NoisyMixin, nn.Conv2d):
    """``nn.Conv2d`` with crossbar non-idealities (see the module docstring)."""

    def _apply_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, weight, self.bias)


class NoisyLinear(NoisyMixin, nn.Linear):
    """``nn.Linear`` with crossbar non-idealities (see the module docstring)."""

    def _apply_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return F.linear(x, weight, self.bias)


def noisy_layers(model: nn.Module) -> list[NoisyMixin]:
    """The noise-aware layers of a model, in module order (for built models: arch.weight_layers)."""
    return [m for m in model.modules() if isinstance(m, NoisyMixin)]


def convert_to_noisy(model: nn.Module, sigmas: Sequence[float] | np.ndarray | float | None = None,
                     w_bits: int | None = None, adc_bits: int | Sequence[int] | None = None,
                     in_bits: int | None = None) -> nn.Module:
    """Replace every ``Conv2d`` / ``Linear`` of a module tree by its noise-aware twin, in place.

    Weights are kept. Layers that are already noise-aware are re-configured.

    Parameters
    ----------
    model : nn.Module
    sigmas : float or array of shape (n_weight_layers,), optional
        Relative weight-noise sigma per weight layer, in module order (0 when omitted).
    w_bits, in_bits : int, optional
        Weight and input precision (no quantization when omitted).
    adc_bits : int or array of shape (n_weight_layers,), optional
        ADC precision per weight layer.

    Returns
    -------
    nn.Module
        ``model`` itself.
    """
    def replace(parent: nn.Module) -> None:
        for name, child in parent.named_children():
            if isinstance(child, NoisyMixin):
                continue
            if isinstance(child, nn.Conv2d):
                new = NoisyConv2d(child.in_channels, child.out_channels, child.kernel_size,
                                  stride=child.stride, padding=child.padding, dilation=child.dilation,
                                  groups=child.groups, bias=child.bias is not None,
                                  padding_mode=child.padding_mode)
            elif isinstance(child, nn.Linear):
                new = NoisyLinear(child.in_features, child.out_features, bias=child.bias is not None)
            else:
                replace(child)
                continue
            new.load_state_dict(child.state_dict())
            new.to(device=child.weight.device, dtype=child.weight.dtype)
            setattr(parent, name, new)

    replace(model)
    configure_nonideality(model, sigmas, w_bits, adc_bits, in_bits)
    return model


def configure_nonideality(model: nn.Module, sigmas=None, w_bits: int | None = None,
                          adc_bits=None, in_bits: int | None = None, cells=None) -> None:
    """Set sigma / precisions / cell model of a model's noise-aware layers (arrays in layer order).

    ``cells`` is one :class:`CellNoise` for every layer, a sequence of one per layer, or None
    (Gaussian weight noise at ``sigmas`` only).
    """
    layers = noisy_layers(model)
    n = len(layers)

    def per_layer(value, what):
        if value is None or np.ndim(value) == 0:
            return [value] * n
        arr = np.asarray(value).ravel()
        if arr.shape[0] != n:
            raise BoundsError(f"{what} has {arr.shape[0]} entries but the model has {n} weight layers")
        return list(arr)

    sig = per_layer(0.0 if sigmas is None else sigmas, "sigmas")
    adc = per_layer(adc_bits, "adc_bits")
    if cells is None or isinstance(cells, CellNoise):
        cell = [cells] * n
    else:
        cell = list(cells)
        if len(cell) != n:
            raise BoundsError(f"cells has {len(cell)} entries but the model has {n} weight layers")
    for layer, s, a, c in zip(layers, sig, adc, cell):
        layer.configure(float(s), w_bits, in_bits, None if a is None else int(a), c)


@contextmanager
def nonideal(model: nn.Module, enabled: bool = True,
             generator: torch.Generator | None = None) -> Iterator[nn.Module]:
    """Switch the non-idealities of every noise-aware layer on (or off) inside a ``with`` block.

    While they are on, the layers share one buffer for their quantized inputs in inference
    (:class:`_Scratch`), released when the block ends.
    """
    layers = noisy_layers(model)
    saved = [(layer.nonideal, layer.generator, getattr(layer, "scratch", None)) for layer in layers]
    set_nonideal(model, enabled, generator)
    scratch = _Scratch() if enabled else None
    for layer in layers:
        layer.scratch = scratch
    try:
        yield model
    finally:
        for layer, (flag, gen, buf) in zip(layers, saved):
            layer.nonideal, layer.generator, layer.scratch = flag, gen, buf


def set_nonideal(model: nn.Module, enabled: bool, generator: torch.Generator | None = None) -> None:
    for layer in noisy_layers(model):
        layer.nonideal = bool(enabled)
        layer.generator = generator


@contextmanager
def noise_scale(model: nn.Module, factor: float) -> Iterator[nn.Module]:
    """Multiply every noise figure of the model's layers by ``factor`` inside a ``with`` block."""
    factor = float(factor)
    if not math.isfinite(factor) or factor < 0:
        raise BoundsError(f"noise scale must be finite and >= 0, got {factor}")
    layers = noisy_layers(model)
    saved = [layer.noise_scale for layer in layers]
    for layer in layers:
        layer.noise_scale = factor
    try:
        yield model
    finally:
        for layer, old in zip(layers, saved):
            layer.noise_scale = old


@contextmanager
def frozen_noise(model: nn.Module, generator: torch.Generator | None = None) -> Iterator[nn.Module]:
    """Program one chip: draw every layer's perturbed weight once and use it for every forward
    pass inside the block (non-idealities on); the draws come from ``generator`` in layer order."""
    layers = noisy_layers(model)
    with nonideal(model, True, generator):
        with torch.no_grad():
            for layer in layers:
                layer.frozen_weight = layer.draw_weight(generator, layer.noise_scale).detach()
        try:
            yield model
        finally:
            for layer in layers:
                layer.frozen_weight = None
