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

Two drift laws (``drift_law``):

- ``"range"`` (fastnax's own, the ``rram-fastnax-default`` preset): the mean drift is taken as
  compensated and the spread of ``nu`` is referred to the whole conductance range,
  ``sigma_drift = nu_sigma * ln(t / t0)`` whatever the stored level (exact for a cell at
  ``G_max``, an upper bound for the others);
- ``"level"`` (aihwkit's ``PCMLikeNoiseModel``, the ``pcm-aihwkit`` preset): every cell of target
  level ``x`` (``g / g_max`` in [0, 1]) is programmed to ``g_p = x + sigma_p(x) z1`` with
  ``sigma_p(x) = c0 + c1 x + c2 x^2``, drifts as ``g_d = g_p (t / t0)^-nu`` with
  ``nu ~ N(mu(x), s(x))`` (``mu``, ``s`` clipped affine functions of ``ln x``) and is read with
  1/f noise ``g = g_d (1 + sigma_r(x, t) z3)``,
  ``sigma_r = min(q / x^e, q_max) sqrt(ln((t + t_read) / (2 t_read)))``. Global drift compensation
  multiplies the read-out by ``alpha = E[x] / E[x M1(x)]`` (aihwkit's ratio of the mean absolute
  read-out at programming time to that at time ``t``); without it ``alpha = 1``. With
  ``L = ln(t / t0)``, ``M1 = E[(t/t0)^-nu] = exp(-mu L + s^2 L^2 / 2)`` and
  ``M2 = exp(-2 mu L + 2 s^2 L^2)`` the mean square error of a level is exactly

  ``E[(alpha g - x)^2 | x] = alpha^2 (x^2 + sigma_p^2) M2 (1 + sigma_r^2) - 2 alpha x^2 M1 + x^2``

  for a Gaussian ``nu`` and no clipping at ``g = 0`` (aihwkit folds ``nu`` at 0 and clips
  conductances at 0, which only the per-cell simulation :meth:`NonIdeality.sample_cells` does;
  aihwkit also evaluates ``sigma_r`` at the programmed rather than the target conductance). Levels
  are taken uniform over [0, 1] and the mean is a 2048-point midpoint quadrature. Without
  compensation the drift error is systematic (every weight shrinks by the same factor in
  expectation): the sigma counts it as its root-mean-square size, and a network loses more from
  it than from a random error of the same size (its biases and normalisation no longer match).

Signed weights (``signed_code``): ``"offset"`` (fastnax's convention above, the error doubled
relative to ``max|w|``) or ``"pair"`` (aihwkit's ``SinglePairConductanceConverter``: ``w / max|w| =
g_+ - g_-`` with the unused device programmed to ``G_min = 0``, so the error relative to
``max|w|`` is the active device's plus that of the device left at 0, whose programming noise is
clipped at 0: mean square ``c0^2 / 2``; the hardware's differential flag then adds nothing).

Output noise (``output_noise``, aihwkit's ``out_noise``: the std of a Gaussian added to each
column output, in units of one full-scale weight times one full-scale input) is referred to one
weight as ``output_noise / sqrt(rows_active)`` (all inputs at full scale: the most favourable
case; smaller activations make it relatively larger). Global drift compensation scales the column
output, its noise included (aihwkit multiplies the tile output after the noise and the ADC), so
the noise referred to a weight grows by the compensation factor
(:meth:`NonIdeality.output_noise_referred`).

Named configurations (``rram-fastnax-default``, ``pcm-aihwkit``, ``none``, ...) are registered by
:mod:`fastnax.hwmodel.nonideal_presets` (:func:`get_nonideality`, :func:`nonidealities`); a
:class:`NonIdeality` carries its name, and one that carries a registered name with other
constants is renamed ``NAME+modified`` (as hardware presets are).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from fastnax.errors import HardwareError, unknown

#: Values of the text fields.
CHOICES = {"drift_law": ("range", "level"), "drift_compensation": ("global", "none"),
           "signed_code": ("offset", "pair")}

#: Fields that may be negative (polynomial and log-slope coefficients).
SIGNED_FIELDS = ("conductance_sigma_lin", "conductance_sigma_quad", "conductance_sigma_cubic",
                 "conductance_sigma_quartic", "drift_nu_mean",
                 "drift_nu_mean_log_slope", "drift_nu_sigma", "drift_nu_sigma_log_slope")

#: Quadrature of the mean over levels uniform in [0, 1] (midpoints).
_LEVELS = (np.arange(2048, dtype=np.float64) + 0.5) / 2048.0

_NONIDEALITIES: dict[str, "NonIdeality"] = {}


def _check_fraction(name: str, value, upper: float = 1.0, lower: float = 0.0) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HardwareError(f"NonIdeality.{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(v) or v < lower or v > upper:
        raise HardwareError(f"NonIdeality.{name} must be between {lower:g} and {upper:g}, got {value!r}")


@dataclass(frozen=True)
class NonIdeality:
    """Non-ideality levels of a crossbar technology (defaults: fastnax's typical RRAM at 1 hour).

    Every field is a plain number or one of a few words; build variants with
    ``dataclasses.replace`` (or :meth:`at_time`). The defaults are the ``rram-fastnax-default``
    preset; the other named sets are in :mod:`fastnax.hwmodel.nonideal_presets`.
    """

    # the fields of fastnax 0.x, in their (positional) order
    conductance_sigma: float = 0.05
    """Relative (to the conductance range) standard deviation of a programmed cell's conductance
    (the constant term ``c0`` of ``sigma_p(x)``). RRAM programming with write-verify reaches 2-5 %
    (Wan et al., Nature 608, 2022, NeuRRAM); aihwkit's ``PCMLikeNoiseModel`` programming noise is
    ~1-4 % of ``g_max`` depending on the level. Default 5 %."""

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
    """Device-to-device standard deviation of the drift exponent ``nu`` (the constant term of
    ``s(x) = clip(drift_nu_sigma + drift_nu_sigma_log_slope ln x, min, max)``). PCM: nu ~ 0.05
    +/- 0.01-0.04 (aihwkit ``PCMLikeNoiseModel``, Nandakumar et al. 2019); RRAM drifts an order of
    magnitude less. Default 0.005 (RRAM)."""

    drift_time_s: float = 3600.0
    """Time since programming at which the network is evaluated, in seconds (aihwkit examples
    evaluate at ``t_inference = 3600`` s)."""

    drift_t0_s: float = 20.0
    """Reference time of the drift law, in seconds (aihwkit ``t_0 = 20`` s)."""

    # the named configurations and the laws of issue 18
    name: str = ""
    """The configuration's name: a registered preset's, ``NAME+modified`` (a preset's name on
    other constants), ``BASE+FILE``; left empty, the name of the registered preset with the same
    constants, else ``custom``."""

    conductance_sigma_lin: float = 0.0
    """Linear coefficient ``c1`` of ``sigma_p(x) = c0 + c1 x + c2 x^2 + c3 x^3 + c4 x^4``
    (``x = g / g_max``)."""

    conductance_sigma_quad: float = 0.0
    """Quadratic coefficient ``c2`` of ``sigma_p(x)``."""

    drift_law: str = "range"
    """``"range"`` (the spread of ``nu`` referred to the whole range) or ``"level"`` (every level
    drifts by its own ``(t/t0)^-nu``, aihwkit's law); see the module docstring."""

    drift_nu_mean: float = 0.0
    """Mean drift exponent: ``mu(x) = clip(drift_nu_mean + drift_nu_mean_log_slope ln x, min,
    max)``. Under the ``range`` law the mean is taken as compensated (it is read only without
    compensation). Default 0."""

    drift_nu_mean_log_slope: float = 0.0
    """Slope of ``mu`` in ``ln(g / g_max)``."""

    drift_nu_mean_min: float = 0.0
    """Lower clip of ``mu``."""

    drift_nu_mean_max: float = 1.0
    """Upper clip of ``mu``."""

    drift_nu_sigma_log_slope: float = 0.0
    """Slope of ``s`` in ``ln(g / g_max)``."""

    drift_nu_sigma_min: float = 0.0
    """Lower clip of ``s``."""

    drift_nu_sigma_max: float = 1.0
    """Upper clip of ``s``."""

    drift_compensation: str = "global"
    """``"global"`` (one read-out scale per layer restores the mean conductance, aihwkit's
    ``GlobalDriftCompensation``) or ``"none"``."""

    drift_time_offset_s: float = 0.0
    """Added to ``drift_time_s`` before the drift and read-noise laws: 0 (fastnax: no drift
    until ``t0``) or ``t0`` (aihwkit counts ``t_inference`` from the end of programming and
    uses ``t = t_inference + t0``)."""

    read_noise_q: float = 0.0
    """1/f read-noise amplitude ``q`` of ``sigma_r = min(q / x^e, q_max) sqrt(ln((t + t_read) /
    (2 t_read)))`` (relative to the drifted conductance). 0: no read noise."""

    read_noise_exponent: float = 0.65
    """Exponent ``e`` of the level in ``sigma_r``."""

    read_noise_q_max: float = 0.2
    """Cap ``q_max`` of ``q / x^e``."""

    read_noise_t_read_s: float = 250e-9
    """Read duration ``t_read`` of the 1/f law, s."""

    signed_code: str = "offset"
    """How signed weights are stored: ``"offset"`` or ``"pair"`` (see the module docstring)."""

    output_noise: float = 0.0
    """Std of the Gaussian noise on each column output (full-scale weight x full-scale input
    units); referred to a weight as ``output_noise / sqrt(rows_active)``. Default 0."""

    conductance_sigma_cubic: float = 0.0
    """Cubic coefficient ``c3`` of ``sigma_p(x)`` (aihwkit's ReRAM fit is a quartic)."""

    conductance_sigma_quartic: float = 0.0
    """Quartic coefficient ``c4`` of ``sigma_p(x)``."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise HardwareError(f"NonIdeality.name must be a string, got {self.name!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name":
                continue
            if f.name in CHOICES:
                if value not in CHOICES[f.name]:
                    raise HardwareError(f"NonIdeality.{f.name} must be one of "
                                        f"{', '.join(CHOICES[f.name])}, got {value!r}")
            elif f.name.endswith("_rate"):
                _check_fraction(f.name, value, 0.5)
            elif f.name.endswith("_s"):
                _check_fraction(f.name, value, math.inf)
            elif f.name in SIGNED_FIELDS:
                _check_fraction(f.name, value, 10.0, -10.0)
            else:
                _check_fraction(f.name, value, 10.0)
        if float(self.drift_t0_s) <= 0:
            raise HardwareError(f"NonIdeality.drift_t0_s must be > 0, got {self.drift_t0_s!r}")
        for kind in ("mean", "sigma"):
            lo, hi = getattr(self, f"drift_nu_{kind}_min"), getattr(self, f"drift_nu_{kind}_max")
            if lo > hi:
                raise HardwareError(f"NonIdeality.drift_nu_{kind}_min ({lo!r}) must not exceed "
                                    f"drift_nu_{kind}_max ({hi!r})")
        if float(self.read_noise_t_read_s) <= 0:
            raise HardwareError(f"NonIdeality.read_noise_t_read_s must be > 0, got "
                                f"{self.read_noise_t_read_s!r}")
        if not self.name:
            same = [n for n, ni in _NONIDEALITIES.items() if ni.constants() == self.constants()]
            object.__setattr__(self, "name", same[0] if same else "custom")
        registered = _NONIDEALITIES.get(self.name)
        if registered is not None and registered.constants() != self.constants():
            object.__setattr__(self, "name", f"{self.name}+modified")

    def constants(self) -> tuple:
        """Every field but the name (what two configurations must share to be the same)."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "name")

    # --- the laws, per target level x = g / g_max (arrays) ---------------------------------------
    def at_time(self, t_s: float) -> "NonIdeality":
        """A copy evaluated ``t_s`` seconds after programming (keeps the name, suffixed ``@t``)."""
        base = self.name.split("@")[0]
        return dataclasses.replace(self, drift_time_s=float(t_s), name=f"{base}@{float(t_s):g}s")

    def _t(self) -> float:
        return float(self.drift_time_s) + float(self.drift_time_offset_s)

    def drift_log(self) -> float:
        """``L = ln(t / t0)`` at the evaluation time (0 before ``t0``)."""
        t = self._t()
        return math.log(t / self.drift_t0_s) if t > self.drift_t0_s else 0.0

    def programming_sigma(self, x) -> np.ndarray:
        """``sigma_p(x)`` of target levels ``x`` (relative to the range), clipped at 0."""
        x = np.asarray(x, dtype=np.float64)
        return np.maximum(self.conductance_sigma + x * (self.conductance_sigma_lin + x * (
            self.conductance_sigma_quad + x * (self.conductance_sigma_cubic + x * self.conductance_sigma_quartic))),
            0.0)

    def nu_moments(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``mu(x)`` and spread ``s(x)`` of the drift exponent of target levels ``x``."""
        lx = np.log(np.maximum(np.asarray(x, dtype=np.float64), 1e-6))  # aihwkit's _ZERO_CLIP-like floor
        mu = np.clip(self.drift_nu_mean + self.drift_nu_mean_log_slope * lx,
                     self.drift_nu_mean_min, self.drift_nu_mean_max)
        s = np.clip(self.drift_nu_sigma + self.drift_nu_sigma_log_slope * lx,
                    self.drift_nu_sigma_min, self.drift_nu_sigma_max)
        return mu, s

    def read_sigma(self, x) -> np.ndarray:
        """Relative 1/f read-noise std ``sigma_r`` of levels ``x`` at the evaluation time."""
        x = np.abs(np.asarray(x, dtype=np.float64))
        t = self._t()
        if self.read_noise_q <= 0 or self.drift_time_s <= 0 or t <= 0:
            return np.zeros_like(x)
        q = np.minimum(self.read_noise_q / np.maximum(x ** self.read_noise_exponent, 1e-3),
                       self.read_noise_q_max)
        return q * math.sqrt(math.log((t + self.read_noise_t_read_s) / (2.0 * self.read_noise_t_read_s)))

    def output_noise_referred(self) -> float:
        """Output noise after global drift compensation, in full-scale weight x input units:
        ``output_noise * compensation_factor()`` (the compensation multiplies the noisy output)."""
        return float(self.output_noise) * self.compensation_factor()

    def compensation_factor(self) -> float:
        """Global drift compensation ``alpha = E[x] / E[x M1(x)]`` (1 without compensation)."""
        if self.drift_compensation == "none" or self.drift_law == "range":
            return 1.0
        m1, _ = self._drift_factors(_LEVELS)
        return float(np.mean(_LEVELS) / np.mean(_LEVELS * m1))

    def _drift_factors(self, x):
        L = self.drift_log()
        mu, s = self.nu_moments(x)
        return np.exp(-mu * L + 0.5 * (s * L) ** 2), np.exp(-2.0 * mu * L + 2.0 * (s * L) ** 2)

    def level_error_ms(self, x) -> np.ndarray:
        """Mean square read-back error of cells of target level ``x`` (relative to the range).

        Variation, drift and read noise (stuck-at faults and the device of a pair left at 0 are
        added by :meth:`cell_sigma`); exact for the ``level`` law as the module docstring says.

        Parameters
        ----------
        x : array_like
            Target levels ``g / g_max`` in [0, 1].

        Returns
        -------
        ndarray, the shape of ``x``
        """
        x = np.asarray(x, dtype=np.float64)
        sp2 = self.programming_sigma(x) ** 2
        if self.drift_law == "range":
            L = self.drift_log()
            _, s = self.nu_moments(np.ones_like(x))
            ms = sp2 + (s * L) ** 2
            if self.drift_compensation == "none" and L > 0:
                mu, _ = self.nu_moments(x)
                ms = ms + (x * (1.0 - np.exp(-mu * L))) ** 2
            return ms + (x ** 2 + sp2) * self.read_sigma(x) ** 2
        m1, m2 = self._drift_factors(x)
        a = self.compensation_factor()
        r2 = self.read_sigma(x) ** 2
        return a * a * (x * x + sp2) * m2 * (1.0 + r2) - 2.0 * a * x * x * m1 + x * x

    def cell_sigma(self) -> float:
        """Per-cell relative error sigma from variation, drift, read noise and stuck-at faults.

        The root mean square over levels uniform in [0, 1]; with ``signed_code = "pair"`` it
        includes the device of the pair left at 0. A scalar.
        """
        faults = (self.stuck_at_gmin_rate + self.stuck_at_gmax_rate) / 3.0
        simple = (self.drift_law == "range" and self.conductance_sigma_lin == 0
                  and self.conductance_sigma_quad == 0 and self.conductance_sigma_cubic == 0
                  and self.conductance_sigma_quartic == 0 and self.read_noise_q == 0
                  and (self.drift_compensation == "global" or self.drift_nu_mean == 0)
                  and self.drift_nu_sigma_log_slope == 0)
        if simple:  # the closed form of fastnax's own law (kept exact)
            s = min(max(self.drift_nu_sigma, self.drift_nu_sigma_min), self.drift_nu_sigma_max)
            drift = s * self.drift_log()
            pair = self.zero_device_ms() if self.signed_code == "pair" else 0.0
            return math.sqrt(self.conductance_sigma ** 2 + faults + drift ** 2 + pair)
        ms = float(np.mean(self.level_error_ms(_LEVELS)))
        if self.signed_code == "pair":
            ms += self.zero_device_ms()
        return math.sqrt(ms + faults)

    def zero_device_ms(self) -> float:
        """Mean square error of the unused device of a pair (target 0: noise clipped at 0)."""
        c0 = max(float(self.conductance_sigma), 0.0)
        if self.drift_law == "range":
            return 0.5 * c0 * c0
        _, m2 = self._drift_factors(np.array([0.0]))
        a = self.compensation_factor()
        r2 = self.read_sigma(np.array([0.0]))[0] ** 2
        return float(a * a * 0.5 * c0 * c0 * m2[0] * (1.0 + r2))

    # --- the per-cell simulation (numpy; the reference of the analytical form) ------------------
    def sample_cells(self, x, rng: np.random.Generator, clip: bool = True) -> np.ndarray:
        """Read-back levels of cells programmed to target levels ``x``, simulated cell by cell.

        Programming noise, drift exponents drawn per cell, 1/f read noise evaluated at the
        programmed conductance, stuck-at faults, and global drift compensation estimated from the
        array itself (aihwkit's mean-absolute read-out ratio). ``clip``: fold ``nu`` and clip
        conductances at 0 as aihwkit does (False: the Gaussian laws the analytical form assumes).

        Parameters
        ----------
        x : array_like, shape (n,)
            Target levels ``g / g_max`` in [0, 1] (one layer: compensation is shared).
        rng : numpy.random.Generator

        Returns
        -------
        ndarray, shape (n,)
        """
        x = np.asarray(x, dtype=np.float64)
        g = x + self.programming_sigma(x) * rng.standard_normal(x.shape)
        if clip:
            g = np.maximum(g, 0.0)
        L = self.drift_log()
        if self.drift_law == "range":
            _, s = self.nu_moments(np.ones_like(x))
            out = g + s * L * rng.standard_normal(x.shape)
            if self.drift_compensation == "none" and L > 0:
                mu, _ = self.nu_moments(x)
                out = out - x * (1.0 - np.exp(-mu * L))
            out = out + np.abs(g) * self.read_sigma(x) * rng.standard_normal(x.shape)
        else:
            mu, s = self.nu_moments(x)
            nu = mu + s * rng.standard_normal(x.shape)
            if clip:
                nu = np.abs(nu)
            gd = g * np.exp(-nu * L)
            out = gd + np.abs(gd) * self.read_sigma(g) * rng.standard_normal(x.shape)
            if clip:
                out = np.maximum(out, 0.0)
            if self.drift_compensation == "global":
                out = out * (np.mean(np.abs(g)) / max(float(np.mean(np.abs(out))), 1e-12))
        u = rng.random(x.shape)
        out = np.where(u < self.stuck_at_gmin_rate, 0.0, out)
        out = np.where((u >= self.stuck_at_gmin_rate) & (u < self.stuck_at_gmin_rate + self.stuck_at_gmax_rate),
                       1.0, out)
        return out

    # --- the effective sigma of a layer ---------------------------------------------------------
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
        return self.layer_sigma(n, cb, wb, b, rows, lossless, 2.0 if differential else 1.0)

    def layer_sigma(self, n, cb, wb, b, rows, lossless, cells_per_slice) -> np.ndarray:
        """:meth:`sigma` on float64 arrays already broadcast-ready (what the engine calls)."""
        if self.signed_code == "pair":
            # the pair is the differential pair: the error relative to max|w| is the cell's
            per_weight = self.cell_sigma() * slice_factor(wb, cb)
            out = np.sqrt(per_weight ** 2 + (self.output_noise_referred() ** 2) / rows)
            return _sigma(0.0, self.ir_drop_at_128, n, cb, wb, b, rows, lossless, cells_per_slice,
                          extra=out)
        sig = _sigma(self.cell_sigma(), self.ir_drop_at_128, n, cb, wb, b, rows, lossless, cells_per_slice)
        if self.output_noise:
            sig = np.sqrt(sig ** 2 + self.output_noise_referred() ** 2 / rows)
        return sig

    def to_dict(self) -> dict:
        """Every field (JSON-ready)."""
        return dataclasses.asdict(self)


def slice_factor(w_bits, cell_bits) -> np.ndarray:
    """How per-cell errors reach a sliced weight: sqrt(sum 4^(c s)) / sum 2^(c s) (vectorized)."""
    cb = np.asarray(cell_bits, dtype=np.float64)
    slices = np.ceil(np.asarray(w_bits, dtype=np.float64) / cb)
    r = 2.0 ** cb
    # geometric sums: sum_{s<S} r^s and sum_{s<S} r^(2s)
    lin = (r ** slices - 1.0) / (r - 1.0)
    sq = (r ** (2 * slices) - 1.0) / (r * r - 1.0)
    return np.sqrt(sq) / lin


def _sigma(cell_sigma, ir_drop_at_128, n, cb, wb, b, rows, lossless, cells_per_slice, extra=None):
    # x2: signed weights, the code range is 2 max|w| (see the module docstring)
    per_weight = 2.0 * cell_sigma * slice_factor(wb, cb) * np.sqrt(cells_per_slice)
    if extra is not None:  # a per-weight term computed by the caller (the "pair" code)
        per_weight = np.sqrt(per_weight ** 2 + extra ** 2)
    ir = ir_drop_at_128 * (n / 128.0) * (rows / 128.0)
    adc = np.where(b < lossless, np.sqrt(rows) / (math.sqrt(12.0) * 2.0 ** b), 0.0)
    return np.sqrt(per_weight ** 2 + ir ** 2 + adc ** 2)


# --- the registry ---------------------------------------------------------------------------------------
def register_nonideality(ni: NonIdeality) -> NonIdeality:
    """Make ``ni`` available as ``get_nonideality(ni.name)`` (and in ``--nonideality``)."""
    if not isinstance(ni, NonIdeality):
        raise HardwareError(f"register_nonideality needs a NonIdeality, got {type(ni).__name__}")
    if _NONIDEALITIES.get(ni.name, ni) != ni:
        raise HardwareError(f"a different non-ideality is already registered as {ni.name!r}")
    _NONIDEALITIES[ni.name] = ni
    return ni


def nonidealities() -> list[str]:
    """Names of the registered non-ideality presets."""
    return sorted(_NONIDEALITIES)


def get_nonideality(name: "str | NonIdeality") -> NonIdeality:
    """The non-ideality preset ``name``, or one loaded from a TOML/JSON file (a path ending in
    ``.toml`` or ``.json``); a :class:`NonIdeality` is returned as is."""
    if isinstance(name, NonIdeality):
        return name
    if isinstance(name, str) and name.lower().endswith((".toml", ".json")):
        return nonideality_from_file(name)
    if name not in _NONIDEALITIES:
        raise unknown("non-ideality", name, _NONIDEALITIES)
    return _NONIDEALITIES[name]


#: The base of a non-ideality file that names none: the RRAM hardware presets' non-ideality
#: (``fastnax.hwmodel.nonideal_presets.DEFAULT_RRAM``; ``rram-fastnax-default`` until 2026-12).
DEFAULT_BASE = "rram-wan2022-1d"


def nonideality_from_file(path: "str | Path") -> NonIdeality:
    """Load a non-ideality from a TOML or JSON file: a ``base`` preset (default
    :data:`DEFAULT_BASE`, the RRAM hardware presets' own) and any of its fields; named
    ``BASE+FILE`` unless it gives a ``name``. Example (TOML)::

        base = "pcm-aihwkit"
        drift_time_s = 86400
    """
    from fastnax.hwmodel.specs import read_table_file

    path = Path(path)
    data = read_table_file(path, "non-ideality")
    base = data.pop("base", DEFAULT_BASE)
    if not isinstance(base, str) or base.lower().endswith((".toml", ".json")):
        raise HardwareError(f"non-ideality file {path}: base must be a preset name, got {base!r}")
    base_ni = get_nonideality(base)
    valid = [f.name for f in fields(NonIdeality)]
    for key in data:
        if key not in valid:
            raise unknown(f"non-ideality field (in {path.name})", key, valid)
    data.setdefault("name", f"{base_ni.name}+{path.name}")
    return dataclasses.replace(base_ni, **data)
