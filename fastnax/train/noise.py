"""Noise-aware layers: torch ``Conv2d`` / ``Linear`` that see the crossbar's non-idealities.

Each layer carries its own non-ideality settings (the IBM aihwkit habit: an analog layer *is* a
``Conv2d``, with the same signature and state dict, plus hardware fields):

- ``sigma``: relative weight-noise sigma from the hardware model (conductance variation, stuck-at
  faults, IR drop, drift folded into one effective figure per layer): each forward pass with
  non-idealities on adds ``N(0, sigma · max|w|)`` to every weight;
- ``w_bits``: weights quantized symmetrically to ``w_bits`` with a straight-through estimator;
- ``in_bits``: input activations quantized (the DAC streams ``in_bits``-bit inputs);
- ``adc_bits``: the layer's outputs (the crossbars' partial sums, summed digitally) quantized to
  the ADC precision over their dynamic range. This is a layer-level approximation: the ADCs
  resolve each crossbar's partial sum, whose range is the output range split over the crossbars.

Non-idealities apply only while ``nonideal`` is True; :func:`set_nonideal` switches a whole model
(noise-aware training switches them on while training; evaluation switches them on per noise
trial, drawing the noise from a seeded ``torch.Generator``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastnax.errors import BoundsError


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward identity (straight-through estimator)."""
    return x + (q - x).detach()


def quantize_symmetric(x: torch.Tensor, bits: int, scale: torch.Tensor) -> torch.Tensor:
    """Round ``x`` to ``2^(bits-1) - 1`` levels per sign over ``[-scale, scale]`` (STE)."""
    levels = float(2 ** (int(bits) - 1) - 1)
    step = scale / levels
    q = torch.clamp(torch.round(x / step), -levels, levels) * step
    return _ste(x, q)


def quantize_activation(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Quantize over the tensor's detached range: unsigned when ``x >= 0`` (post-ReLU), else signed."""
    if not bits:
        return x
    with torch.no_grad():
        scale = x.abs().amax().clamp_min(1e-12)
        unsigned = bool((x.amin() >= 0).item())
    if unsigned:
        levels = float(2 ** int(bits) - 1)
        step = scale / levels
        q = torch.clamp(torch.round(x / step), 0, levels) * step
        return _ste(x, q)
    return quantize_symmetric(x, bits, scale)


class NoisyMixin:
    """Non-ideality fields and the noisy weight shared by the conv and linear layers."""

    sigma: float
    w_bits: int | None
    in_bits: int | None
    adc_bits: int | None
    nonideal: bool
    generator: torch.Generator | None

    def _init_nonideal(self, sigma=0.0, w_bits=None, in_bits=None, adc_bits=None) -> None:
        self.configure(sigma, w_bits, in_bits, adc_bits)
        self.nonideal = False
        self.generator = None

    def configure(self, sigma=0.0, w_bits=None, in_bits=None, adc_bits=None) -> None:
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

    def effective_weight(self) -> torch.Tensor:
        w = self.weight  # type: ignore[attr-defined]
        if not self.nonideal:
            return w
        scale = w.detach().abs().amax().clamp_min(1e-12)
        if self.w_bits:
            w = quantize_symmetric(w, self.w_bits, scale)
        if self.sigma > 0:
            noise = torch.randn(w.shape, generator=self.generator, device=w.device, dtype=w.dtype)
            w = w + noise * (self.sigma * scale)
        return w

    def extra_repr(self) -> str:
        return (super().extra_repr() +  # type: ignore[misc]
                f", sigma={self.sigma:.4g}, w_bits={self.w_bits}, in_bits={self.in_bits}, "
                f"adc_bits={self.adc_bits}")


class NoisyConv2d(NoisyMixin, nn.Conv2d):
    """``nn.Conv2d`` with crossbar non-idealities (see the module docstring)."""

    def __init__(self, *args, sigma: float = 0.0, w_bits: int | None = None,
                 in_bits: int | None = None, adc_bits: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_nonideal(sigma, w_bits, in_bits, adc_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.nonideal:
            return super().forward(x)
        x = quantize_activation(x, self.in_bits)
        out = self._conv_forward(x, self.effective_weight(), self.bias)
        return quantize_activation(out, self.adc_bits)


class NoisyLinear(NoisyMixin, nn.Linear):
    """``nn.Linear`` with crossbar non-idealities (see the module docstring)."""

    def __init__(self, *args, sigma: float = 0.0, w_bits: int | None = None,
                 in_bits: int | None = None, adc_bits: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_nonideal(sigma, w_bits, in_bits, adc_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.nonideal:
            return super().forward(x)
        x = quantize_activation(x, self.in_bits)
        out = F.linear(x, self.effective_weight(), self.bias)
        return quantize_activation(out, self.adc_bits)


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
                          adc_bits=None, in_bits: int | None = None) -> None:
    """Set sigma / precisions of a model's noise-aware layers (arrays in layer order)."""
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
    for layer, s, a in zip(layers, sig, adc):
        layer.configure(float(s), w_bits, in_bits, None if a is None else int(a))


@contextmanager
def nonideal(model: nn.Module, enabled: bool = True,
             generator: torch.Generator | None = None) -> Iterator[nn.Module]:
    """Switch the non-idealities of every noise-aware layer on (or off) inside a ``with`` block."""
    layers = noisy_layers(model)
    saved = [(layer.nonideal, layer.generator) for layer in layers]
    set_nonideal(model, enabled, generator)
    try:
        yield model
    finally:
        for layer, (flag, gen) in zip(layers, saved):
            layer.nonideal, layer.generator = flag, gen


def set_nonideal(model: nn.Module, enabled: bool, generator: torch.Generator | None = None) -> None:
    for layer in noisy_layers(model):
        layer.nonideal = bool(enabled)
        layer.generator = generator
