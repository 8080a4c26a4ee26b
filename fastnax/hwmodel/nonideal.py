"""Device and circuit non-idealities as one effective relative weight-noise sigma per layer.

Every non-ideality is expressed as a random error on a stored weight relative to the layer's
largest weight magnitude ``max|w|``, the convention of noise-aware training (the trainer injects
``w + sigma * max|w| * eps``, ``eps ~ N(0, 1)``) and of IBM aihwkit's weight-noise modifiers.
Independent error sources add in variance.

Per memristive cell (relative to the cell's conductance range ``G_max - G_min``):

- programming / read variation ``conductance_sigma``;
- stuck-at faults: a cell stuck at ``G_min`` (rate ``stuck_at_gmin_rate``) or ``G_max``
  (``stuck_at_gmax_rate``) errs by the stored level ``u`` or by ``1 - u``; for levels spread
  uniformly over the range both have mean square ``1/3``;
- conductance drift ``G(t) = G(t0) (t / t0)^-nu``; a global drift compensation (aihwkit's
  ``GlobalDriftCompensation``) removes the mean exponent, the device-to-device spread of ``nu``
  (``drift_nu_sigma``) remains: ``sigma = drift_nu_sigma * ln(t / t0)``.

A weight of ``w_bits`` is sliced over ``S = ceil(w_bits / cell_bits)`` cells of ``2**cell_bits``
levels, slice ``s`` weighted ``2**(cell_bits * s)``; per-cell errors then reach the weight scaled by
``sqrt(sum 4**(c s)) / sum 2**(c s)`` of the code range (the most significant cell dominates).
Weights are signed: the code range spans ``[-max|w|, max|w|]`` (an offset code, or each cell of a
differential pair holding a magnitude of ``w_bits - 1`` bits), so relative to ``max|w|`` the error
is twice that; a differential pair (two cells per slice) doubles the error variance.
(``fastnax.train`` simulates the same cells one by one, stuck-at faults as the sparse large errors
they are; its measured per-weight error std matches this figure.)

Per crossbar column (after the cells):

- IR drop along the word and bit lines attenuates the column current; the error grows with the
  wire length (crossbar size ``N``) and with the current drawn (rows read at once), so
  ``sigma = ir_drop_at_128 * (N / 128) * (rows_active / 128)``: the largest crossbars lose most;
- ADC quantization: a partial sum of ``rows_active`` products read by a ``b``-bit ADC that is
  not lossless is rounded to ``full_scale / 2**b``; referred back to one weight this is
  ``sqrt(rows_active) / (sqrt(12) * 2**b)`` (uniform rounding error over the full-scale range,
  spread over the ``sqrt(rows_active)`` of the summed weight errors). A lossless ADC adds nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from fastnax.errors import HardwareError


def _check_fraction(name: str, value, upper: float = 1.0) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HardwareError(f"NonIdeality.{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or v > upper:
        raise HardwareError(f"NonIdeality.{name} must be between 0 and {upper:g}, got {value!r}")


@dataclass(frozen=True)
class NonIdeality:
    """Non-ideality levels of a crossbar technology (defaults: a typical RRAM at 1 hour).

    Every field is a plain number; build variants with ``dataclasses.replace``.
    """

    conductance_sigma: float = 0.05
    """Relative (to the conductance range) standard deviation of a programmed cell's conductance.
    RRAM programming with write-verify reaches 2-5 % (Wan et al., Nature 608, 2022, NeuRRAM);
    aihwkit's ``PCMLikeNoiseModel`` programming noise is ~3-10 % of ``g_max`` depending on the
    level. Default 5 %."""

    stuck_at_gmin_rate: float = 0.005
    """Fraction of cells stuck at ``G_min`` (stuck-at-0 / stuck-OFF). An unscreened fabricated
    RRAM array measured 1.75 % stuck-at-0 and 9.04 % stuck-at-1 (Chen et al., IEEE Trans. Computers
    64(1), 2015); fault-tolerance studies of tested, repaired arrays sweep 0.1-1 %. Default 0.5 %."""

    stuck_at_gmax_rate: float = 0.001
    """Fraction of cells stuck at ``G_max`` (stuck-at-1 / stuck-ON), rarer after forming/test
    screening/repair (same sources). Default 0.1 %."""

    ir_drop_at_128: float = 0.03
    """Relative column-current error from IR drop of a 128x128 crossbar with all 128 rows read at
    once; it scales with crossbar size and with the rows read in parallel. NeuroSim and
    CxDNN / GENIEx report a few percent of column-current error for 128x128 RRAM arrays with
    ~1-2.5 ohm wire segments at 100 kohm R_on (He et al., DAC 2019; Chakraborty et al., DAC 2020).
    Default 3 %."""

    drift_nu_sigma: float = 0.005
    """Device-to-device standard deviation of the drift exponent ``nu`` left after global drift
    compensation. PCM: nu ~ 0.05 +/- 0.02 (aihwkit ``PCMLikeNoiseModel``, Nandakumar et al. 2020);
    RRAM drifts an order of magnitude less. Default 0.005 (RRAM)."""

    drift_time_s: float = 3600.0
    """Time since programming at which the network is evaluated, in seconds (aihwkit examples
    evaluate at ``t_inference = 3600`` s). 0 or anything up to ``drift_t0_s`` means no drift."""

    drift_t0_s: float = 20.0
    """Reference time of the drift law, in seconds (aihwkit ``t_0 = 20`` s)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate"):
                _check_fraction(f.name, value, 0.5)
            elif f.name in ("drift_time_s", "drift_t0_s"):
                _check_fraction(f.name, value, math.inf)
            else:
                _check_fraction(f.name, value, 10.0)
        if float(self.drift_t0_s) <= 0:
            raise HardwareError(f"NonIdeality.drift_t0_s must be > 0, got {self.drift_t0_s!r}")

    # ------------------------------------------------------------------------------------------
    def cell_sigma(self) -> float:
        """Per-cell relative error sigma from variation, stuck-at faults and drift (a scalar)."""
        drift = 0.0
        if self.drift_time_s > self.drift_t0_s:
            drift = self.drift_nu_sigma * math.log(self.drift_time_s / self.drift_t0_s)
        faults = (self.stuck_at_gmin_rate + self.stuck_at_gmax_rate) / 3.0
        return math.sqrt(self.conductance_sigma ** 2 + faults + drift ** 2)

    def sigma(self, crossbar_size, cell_bits, adc_bits, w_bits=8, rows_parallel=None,
              lossless_adc_bits=None, differential: bool = False) -> np.ndarray:
        """Effective relative weight-noise sigma (vectorized; arguments broadcast).

        Parameters
        ----------
        crossbar_size : array_like of int
            Crossbar side ``N``.
        cell_bits, adc_bits, w_bits : array_like of int
            Bits per cell, ADC resolution, weight precision.
        rows_parallel : array_like of int, optional
            Rows read at once (default: all ``N``); capped at ``N``.
        lossless_adc_bits : array_like of int, optional
            ADC bits that resolve the full partial sum; an ADC with at least these adds no error.
            Default: ``ceil(log2(rows * (2**cell_bits - 1) + 1))`` (1-bit inputs).
        differential : bool
            Weights stored as a differential pair of cells.

        Returns
        -------
        ndarray
            Relative sigma (to the layer's max |w|), broadcast shape of the inputs, float64.
        """
        n = np.asarray(crossbar_size, dtype=np.float64)
        cb = np.asarray(cell_bits, dtype=np.float64)
        wb = np.asarray(w_bits, dtype=np.float64)
        b = np.asarray(adc_bits, dtype=np.float64)
        rows = n if rows_parallel is None else np.minimum(n, np.asarray(rows_parallel, dtype=np.float64))
        if lossless_adc_bits is None:
            lossless_adc_bits = np.ceil(np.log2(rows * (2.0 ** cb - 1.0) + 1.0))
        lossless = np.asarray(lossless_adc_bits, dtype=np.float64)
        return _sigma(self.cell_sigma(), self.ir_drop_at_128, n, cb, wb, b, rows, lossless,
                      2.0 if differential else 1.0)


def slice_factor(w_bits, cell_bits) -> np.ndarray:
    """How per-cell errors reach a sliced weight: sqrt(sum 4^(c s)) / sum 2^(c s) (vectorized)."""
    cb = np.asarray(cell_bits, dtype=np.float64)
    slices = np.ceil(np.asarray(w_bits, dtype=np.float64) / cb)
    r = 2.0 ** cb
    # geometric sums: sum_{s<S} r^s and sum_{s<S} r^(2s)
    lin = (r ** slices - 1.0) / (r - 1.0)
    sq = (r ** (2 * slices) - 1.0) / (r * r - 1.0)
    return np.sqrt(sq) / lin


def _sigma(cell_sigma, ir_drop_at_128, n, cb, wb, b, rows, lossless, cells_per_slice):
    # x2: signed weights, the code range is 2 max|w| (see the module docstring)
    per_weight = 2.0 * cell_sigma * slice_factor(wb, cb) * np.sqrt(cells_per_slice)
    ir = ir_drop_at_128 * (n / 128.0) * (rows / 128.0)
    adc = np.where(b < lossless, np.sqrt(rows) / (math.sqrt(12.0) * 2.0 ** b), 0.0)
    return np.sqrt(per_weight ** 2 + ir ** 2 + adc ** 2)
