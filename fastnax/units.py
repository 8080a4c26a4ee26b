"""One unit per quantity, printed with SI prefixes that keep three significant digits.

Every cost is computed and stored in one unit (``energy_pj``, ``latency_ns``, ``area_mm2``, EDAP in
pJ·ns·mm², the units in the field names); tables print it scaled to the prefix that keeps three
significant digits (``36.0 nJ``, ``1.13 µs``), so no design prints as ``0.000``.
"""

from __future__ import annotations

import math

_PREFIXES = [(1e-24, "y"), (1e-21, "z"), (1e-18, "a"), (1e-15, "f"), (1e-12, "p"), (1e-9, "n"),
             (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"),
             (1e15, "P"), (1e18, "E")]
#: Base unit of each quantity and the factor from its stored unit to that base unit.
UNITS = {"energy_pj": ("J", 1e-12), "latency_ns": ("s", 1e-9)}


def si(value: float, unit: str, digits: int = 3) -> str:
    """``value`` (in ``unit``) with the SI prefix that leaves 1-999 before the point, rounded to
    ``digits`` significant digits: ``si(3.6e-8, 'J')`` is ``'36.0 nJ'``."""
    if value is None or not math.isfinite(value):
        return f"{value} {unit}"
    if value == 0:
        return f"0 {unit}"
    rounded = float(f"{value:.{digits - 1}e}")  # rounding first: 999.96 n becomes 1.00 µ
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if abs(rounded) >= s:
            scale, prefix = s, p
    scaled = rounded / scale
    decimals = max(digits - 1 - int(math.floor(math.log10(abs(scaled)) + 1e-12)), 0)
    return f"{scaled:.{decimals}f} {prefix}{unit}"


def quantity(name: str, value: float) -> str:
    """A stored cost (``energy_pj``, ``latency_ns``) printed in SI units."""
    unit, factor = UNITS[name]
    return si(value * factor, unit)
