"""Memristive cells of the noise-aware layers: what a crossbar reads back of the weights it stores.

:class:`CellNoise` is the per-cell model of one layer's crossbars; :func:`program_cells` slices
a weight tensor over ``ceil(w_bits / cell_bits)`` cells (an offset code or a differential pair),
perturbs every cell and recombines the slices; :func:`read_back_levels` is the torch form of a
non-ideality preset's per-cell laws (:meth:`fastnax.hwmodel.NonIdeality.sample_cells`, the numpy
reference it is tested against), so the trainer follows the preset it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from fastnax.errors import BoundsError


@dataclass(frozen=True)
class CellNoise:
    """Per-cell non-idealities of the crossbar that stores a layer (see the module docstring).

    Attributes
    ----------
    cell_bits : int
        Bits per cell; a ``w_bits`` weight uses ``ceil(w_bits / cell_bits)`` cells (per side).
    differential : bool
        Positive and negative parts of the weight in two cells per slice (else one offset code).
    conductance_sigma : float
        Programming/read variation, std relative to the conductance range ``G_max - G_min``.
    stuck_at_gmin_rate, stuck_at_gmax_rate : float
        Fraction of cells stuck at ``G_min`` / ``G_max``.
    drift_sigma : float
        Std of the log-conductance error left by drift after global compensation,
        ``drift_nu_sigma * ln(t / t0)`` (0 without drift); a cell's conductance is multiplied by
        ``exp(-drift_sigma * eps)``, ``eps ~ N(0, 1)``.
    law : fastnax.hwmodel.NonIdeality, optional
        The named non-ideality configuration whose per-cell laws the cells follow (set by
        :meth:`from_nonideality`): level-dependent programming noise, drift exponents drawn per
        cell (``range`` or ``level`` law), 1/f read noise, global drift compensation estimated
        from the layer's own cells, stuck-at faults: the torch form of
        :meth:`fastnax.hwmodel.NonIdeality.sample_cells`, which is its reference. The numeric
        fields above are then a summary; without a law they are the whole model (the
        multiplicative drift above).
    """

    cell_bits: int = 2
    differential: bool = False
    conductance_sigma: float = 0.0
    stuck_at_gmin_rate: float = 0.0
    stuck_at_gmax_rate: float = 0.0
    drift_sigma: float = 0.0
    law: object = None

    def __post_init__(self) -> None:
        if not 1 <= int(self.cell_bits) <= 8:
            raise BoundsError(f"cell_bits must be between 1 and 8, got {self.cell_bits}")
        for name in ("conductance_sigma", "stuck_at_gmin_rate", "stuck_at_gmax_rate", "drift_sigma"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise BoundsError(f"CellNoise.{name} must be finite and >= 0, got {v}")
        if self.stuck_at_gmin_rate + self.stuck_at_gmax_rate > 1:
            raise BoundsError("CellNoise stuck-at rates must add up to at most 1, got "
                              f"{self.stuck_at_gmin_rate} + {self.stuck_at_gmax_rate}")

    @classmethod
    def from_nonideality(cls, nonideality, cell_bits: int, differential: bool = False) -> "CellNoise":
        """The cells of a :class:`fastnax.hwmodel.NonIdeality` (a preset name is looked up): they
        follow its laws (``law``); the numeric fields summarise it (``drift_sigma``: the spread
        of the drift exponent at full scale times ``ln(t / t0)``)."""
        from fastnax.hwmodel import get_nonideality

        ni = get_nonideality(nonideality) if isinstance(nonideality, str) else nonideality
        _, spread = ni.nu_moments(np.ones(1))
        drift = float(spread[0]) * ni.drift_log()
        return cls(int(cell_bits), bool(differential), float(ni.conductance_sigma),
                   float(ni.stuck_at_gmin_rate), float(ni.stuck_at_gmax_rate), drift, ni)

    def scaled(self, factor: float) -> "CellNoise":
        """Every sigma and fault rate times ``factor`` (rates capped so they add up to <= 1).

        With a ``law``: its programming-noise polynomial, drift-exponent spread (and its clips),
        read-noise amplitude (and cap) and stuck-at rates (capped at 0.5 each)."""
        f = float(factor)
        rmin, rmax = self.stuck_at_gmin_rate * f, self.stuck_at_gmax_rate * f
        total = rmin + rmax
        if total > 1:
            rmin, rmax = rmin / total, rmax / total
        law = self.law
        if law is not None and f != 1.0:
            law = replace(law, conductance_sigma=law.conductance_sigma * f,
                          conductance_sigma_lin=law.conductance_sigma_lin * f,
                          conductance_sigma_quad=law.conductance_sigma_quad * f,
                          conductance_sigma_cubic=law.conductance_sigma_cubic * f,
                          conductance_sigma_quartic=law.conductance_sigma_quartic * f,
                          drift_nu_sigma=law.drift_nu_sigma * f,
                          drift_nu_sigma_log_slope=law.drift_nu_sigma_log_slope * f,
                          drift_nu_sigma_min=law.drift_nu_sigma_min * f,
                          drift_nu_sigma_max=law.drift_nu_sigma_max * f,
                          read_noise_q=law.read_noise_q * f, read_noise_q_max=law.read_noise_q_max * f,
                          stuck_at_gmin_rate=min(law.stuck_at_gmin_rate * f, 0.5),
                          stuck_at_gmax_rate=min(law.stuck_at_gmax_rate * f, 0.5))
        return replace(self, conductance_sigma=self.conductance_sigma * f, stuck_at_gmin_rate=rmin,
                       stuck_at_gmax_rate=rmax, drift_sigma=self.drift_sigma * f, law=law)


def program_cells(w: torch.Tensor, scale: torch.Tensor, w_bits: int, cells: CellNoise,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """The weights read back from crossbar cells that stored ``w`` (no gradient).

    Parameters
    ----------
    w : Tensor of any shape
        Weights (detached).
    scale : Tensor (scalar)
        ``max|w|`` (or the clipping range): the largest level.
    w_bits : int
        Signed weight precision: integer levels ``q`` in ``[-L, L]``, ``L = 2^(w_bits-1) - 1``.
    cells : CellNoise
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape of ``w``
        ``q' * scale / L`` where ``q'`` is the level read back: offset code ``q + 2^(w_bits-1)``
        (or the pair ``max(q, 0)``, ``max(-q, 0)``) split in ``S = ceil(w_bits / cell_bits)``
        slices, each cell perturbed (variation, drift, stuck-at), recombined with weights
        ``2^(cell_bits s)``.
    """
    w = w.detach()
    levels = 2 ** (int(w_bits) - 1) - 1
    q = torch.clamp(torch.round(w / scale * levels), -levels, levels).to(torch.int64)
    c = int(cells.cell_bits)
    top = 2 ** c - 1
    n_slices = -(-int(w_bits) // c)
    if cells.differential:
        codes = torch.stack([q.clamp_min(0), (-q).clamp_min(0)])
    else:
        codes = (q + 2 ** (int(w_bits) - 1)).unsqueeze(0)
    shifts = (torch.arange(n_slices, device=w.device) * c).reshape((-1,) + (1,) * codes.ndim)
    g = ((codes.unsqueeze(0) >> shifts) & top).to(w.dtype)  # (S, sides, *w.shape) levels 0..top
    shape, dev, dt = g.shape, w.device, w.dtype
    if cells.law is not None:
        g = read_back_levels(g / top, cells.law, generator, levels=top) * top
    if cells.law is None and cells.conductance_sigma > 0:
        g = g + torch.randn(shape, generator=generator, device=dev, dtype=dt) * (cells.conductance_sigma * top)
    if cells.law is None and cells.drift_sigma > 0:
        g = g * torch.exp(torch.randn(shape, generator=generator, device=dev, dtype=dt) * -cells.drift_sigma)
    if cells.law is None and (cells.stuck_at_gmin_rate > 0 or cells.stuck_at_gmax_rate > 0):
        u = torch.rand(shape, generator=generator, device=dev, dtype=dt)
        g = torch.where(u < cells.stuck_at_gmin_rate, torch.zeros_like(g), g)
        stuck_max = (u >= cells.stuck_at_gmin_rate) & (u < cells.stuck_at_gmin_rate + cells.stuck_at_gmax_rate)
        g = torch.where(stuck_max, torch.full_like(g, float(top)), g)
    code = (g * (2.0 ** shifts).to(dt)).sum(0)  # (sides, *w.shape)
    value = code[0] - code[1] if cells.differential else code[0] - 2.0 ** (int(w_bits) - 1)
    return value * (scale / levels)


def read_back_levels(x: torch.Tensor, ni, generator: torch.Generator | None = None,
                     levels: int | None = None) -> torch.Tensor:
    """Read-back levels of cells programmed to target levels ``x`` (``g / g_max`` in [0, 1]) under
    the laws of the :class:`~fastnax.hwmodel.NonIdeality` ``ni``: the torch form of
    :meth:`~fastnax.hwmodel.NonIdeality.sample_cells` (``clip=True``), drawn with ``generator``.

    Global drift compensation is estimated from the cells of ``x`` (one layer). The laws of the
    target level (programming sigma, drift-exponent moments, read noise) are ``ni``'s own methods,
    evaluated once per distinct level and looked up: ``levels`` says ``x`` holds only the values
    ``k / levels`` (a cell's integer levels), else the distinct values are found. No gradient.
    """
    dev, dt = x.device, x.dtype
    if levels:
        index = torch.round(x * levels).long()
        grid = np.arange(int(levels) + 1, dtype=np.float64) / int(levels)
    else:
        values, index = torch.unique(x, return_inverse=True)
        grid = values.detach().cpu().numpy().astype(np.float64)

    def of_target(table: np.ndarray) -> torch.Tensor:  # a law of the target level, at each cell
        return torch.as_tensor(table, device=dev, dtype=dt)[index]

    def normal():
        return torch.randn(x.shape, generator=generator, device=dev, dtype=dt)

    read_noise = ni.read_noise_q > 0 and ni.drift_time_s > 0 and ni._t() > 0

    def read_sigma_of(level: torch.Tensor) -> torch.Tensor:  # NonIdeality.read_sigma, on tensors
        q = torch.clamp(ni.read_noise_q / torch.clamp(level.abs() ** ni.read_noise_exponent, min=1e-3),
                        max=ni.read_noise_q_max)
        return q * math.sqrt(math.log((ni._t() + ni.read_noise_t_read_s) / (2.0 * ni.read_noise_t_read_s)))

    g = torch.clamp(x + of_target(ni.programming_sigma(grid)) * normal(), min=0.0)
    L = ni.drift_log()
    if ni.drift_law == "range":
        spread = float(ni.nu_moments(np.ones(1))[1][0])
        out = g + spread * L * normal()
        if ni.drift_compensation == "none" and L > 0:
            mu, _ = ni.nu_moments(grid)
            out = out - x * (1.0 - torch.exp(-of_target(mu) * L))
        if read_noise:
            out = out + g.abs() * of_target(ni.read_sigma(grid)) * normal()
    else:
        mu, spread = ni.nu_moments(grid)
        nu = (of_target(mu) + of_target(spread) * normal()).abs()
        gd = g * torch.exp(-nu * L)
        # aihwkit evaluates the read noise at the programmed conductance, not the target level
        out = gd + gd.abs() * read_sigma_of(g) * normal() if read_noise else gd
        out = torch.clamp(out, min=0.0)
        if ni.drift_compensation == "global":
            out = out * (g.abs().mean() / out.abs().mean().clamp_min(1e-12))
    if ni.stuck_at_gmin_rate > 0 or ni.stuck_at_gmax_rate > 0:
        u = torch.rand(x.shape, generator=generator, device=dev, dtype=dt)
        out = torch.where(u < ni.stuck_at_gmin_rate, torch.zeros_like(out), out)
        stuck_max = (u >= ni.stuck_at_gmin_rate) & (u < ni.stuck_at_gmin_rate + ni.stuck_at_gmax_rate)
        out = torch.where(stuck_max, torch.ones_like(out), out)
    return out
