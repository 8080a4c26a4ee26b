"""The result of pricing a batch (:class:`Cost`) and its per-layer breakdown.

The search reads only the totals; the per-layer arrays (energy, latency, area, crossbars,
utilization, ADC bits, noise sigma of every weight layer) are computed on first access, by
:func:`per_layer`: the engine's formulas (:mod:`fastnax.hwmodel.engine`) written plainly over
blocks of rows, in float64. The tests hold the totals' fast path equal to these arrays' sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from fastnax.arch import KIND_PAD, LayerTable
from fastnax.errors import HardwareError
from fastnax.hwmodel.tables import check_block

# Rows per block of the per-layer breakdown.
BLOCK_ROWS = 4096


def per_layer(lut, table: LayerTable) -> dict:
    """The :data:`Cost.PER_LAYER` arrays, each of shape (n_archs, n_slots), of a priced table.

    ``lut`` is the engine's :class:`fastnax.hwmodel.engine.Lookup` of the table: per-crossbar,
    per-pixel costs gathered by ``key = key_base[arch] + crossbar_size``.
    """
    n, slots = table.n_archs, table.n_slots
    store = {name: np.zeros((n, slots)) for name in Cost.PER_LAYER}
    for start in range(0, n, BLOCK_ROWS):
        rows = slice(start, min(n, start + BLOCK_ROWS))
        kind = table.kind[rows]
        mask = kind != KIND_PAD
        crossbar = table.crossbar_size[rows]
        key = crossbar + lut.key_base[rows, None]
        N = lut.n_safe.take(key)  # 1 in padded slots
        c_in = table.c_in[rows]
        c_out = table.c_out[rows].astype(np.float64)
        R = (table.kernel[rows] ** 2 * c_in).astype(np.float64)  # crossbar rows of the layer
        X = np.ceil(R / N) * np.ceil(c_out * lut.slices[rows, None] / N)  # crossbars
        pixels = (table.out_h[rows] * table.out_w[rows]).astype(np.float64)
        in_act = table.in_h[rows] * table.in_w[rows] * c_in
        act = pixels * c_out + in_act  # activation elements read and written
        # a weight layer with a zero field has zero MACs or input activations, a padded slot with
        # a nonzero field has nonzero ones (fields are >= 0, checked by the engine)
        if not np.array_equal((R * c_out * pixels * in_act * crossbar) != 0, mask):
            check_block(table, rows, mask)
        store["layer_energy_pj"][rows] = pixels * X * lut.energy_per_pixel.take(key) + act * lut.bit_energy[rows, None]
        store["layer_latency_ns"][rows] = pixels * lut.latency_per_pixel.take(key) + act * lut.bit_time[rows, None]
        store["layer_area_mm2"][rows] = X * lut.area.take(key)
        store["crossbars"][rows] = X
        store["utilization"][rows] = np.where(mask, R * c_out * lut.slices[rows, None]
                                              / np.maximum(X * N * N, 1.0), 0.0)
        store["adc_bits"][rows] = lut.adc_bits.take(key)
        store["noise_sigma"][rows] = lut.sigma.take(key)
    return store


@dataclass
class Cost:
    """Costs of a batch of architectures.

    Attributes
    ----------
    energy_pj, latency_ns, area_mm2 : ndarray of shape (n_archs,)
        Energy and latency of one inference (one image), chip area.
    macs : ndarray of shape (n_archs,)
        Multiply-accumulates of one inference.
    mean_noise_sigma : ndarray of shape (n_archs,)
        MAC-weighted mean of ``noise_sigma`` over the layers.
    layer_energy_pj, layer_latency_ns, layer_area_mm2 : ndarray of shape (n_archs, n_slots)
        Per weight layer (0 in padded slots). Totals add the weight-free nodes' buffer traffic.
    crossbars, utilization, adc_bits, noise_sigma : ndarray of shape (n_archs, n_slots)
        Crossbar count, fraction of used cells, ADC resolution, effective relative weight-noise
        sigma of each weight layer (0 in padded slots).
    edap, tops, tops_per_w : ndarray of shape (n_archs,)
        Energy x latency x area (pJ ns mm^2); throughput (2 ops per MAC, tera-ops per second);
        energy efficiency (tera-ops per joule).
    """

    energy_pj: np.ndarray
    latency_ns: np.ndarray
    area_mm2: np.ndarray
    macs: np.ndarray
    mean_noise_sigma: np.ndarray
    _layers: Callable[[], dict] = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    PER_LAYER = ("layer_energy_pj", "layer_latency_ns", "layer_area_mm2", "crossbars",
                 "utilization", "adc_bits", "noise_sigma")

    @cached_property
    def _per_layer(self) -> dict:
        if self._layers is None:
            raise HardwareError("this Cost carries no per-layer breakdown")
        return self._layers()

    layer_energy_pj = property(lambda self: self._per_layer["layer_energy_pj"])
    layer_latency_ns = property(lambda self: self._per_layer["layer_latency_ns"])
    layer_area_mm2 = property(lambda self: self._per_layer["layer_area_mm2"])
    crossbars = property(lambda self: self._per_layer["crossbars"])
    utilization = property(lambda self: self._per_layer["utilization"])
    adc_bits = property(lambda self: self._per_layer["adc_bits"])
    noise_sigma = property(lambda self: self._per_layer["noise_sigma"])

    @cached_property
    def edap(self) -> np.ndarray:
        return self.energy_pj * self.latency_ns * self.area_mm2

    @cached_property
    def tops(self) -> np.ndarray:
        # ops per ns = 1e9 ops/s; 1 TOPS = 1e12 ops/s
        return 2.0 * self.macs / self.latency_ns / 1e3

    @cached_property
    def tops_per_w(self) -> np.ndarray:
        # ops per pJ = 1e12 ops/J = 1 TOPS/W
        return 2.0 * self.macs / self.energy_pj

    def __len__(self) -> int:
        return int(self.energy_pj.shape[0])
