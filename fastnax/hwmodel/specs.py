"""The parts of an IMC accelerator as nested frozen dataclasses: documented constants, validated.

One dataclass per part (crossbar array, ADCs, DACs, periphery, buffers, schedule), each field with
its unit and its meaning under a docstring (IBM aihwkit's convention: hardware is configuration).
A spec validates itself when built: a NaN, an infinity, a negative energy, a text in a numeric
field or a fractional count raises :class:`fastnax.errors.HardwareError` naming the field. The
bounds keep every cost finite in float64 (``2**bits`` levels, ``N**exponent`` scaling).

:class:`fastnax.hwmodel.HardwareModel` composes the specs; the engine
(:mod:`fastnax.hwmodel.engine`) reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from fastnax.errors import HardwareError, unknown

ADC_PRESET_RULES = ("partial_sum", "fixed")
ADC_SCALINGS = ("linear", "levels", "design")

# Validation limits that keep every cost finite in float64 (2**bits levels, N**exponent scaling).
MAX_CONVERTER_BITS = 32
MAX_EXPONENT = 8.0


# --- validation helpers ------------------------------------------------------------------------
def check_number(owner: str, name: str, value: Any, minimum: float = 0.0, strict: bool = False) -> None:
    """Raise HardwareError unless ``value`` is a finite number >= ``minimum`` (> with ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise HardwareError(f"{owner}.{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < minimum or (strict and v == minimum):
        op = ">" if strict else ">="
        raise HardwareError(f"{owner}.{name} must be a finite number {op} {minimum:g}, got {value!r}")


def _check_int(owner: str, name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise HardwareError(f"{owner}.{name} must be an integer >= {minimum}, got {value!r}")


def _check_fields(obj: Any, ints: dict[str, int] = {}, strict: tuple[str, ...] = (),
                  choices: dict[str, tuple] = {}, bools: tuple[str, ...] = ()) -> None:
    owner = type(obj).__name__
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in choices:
            if value not in choices[f.name]:
                raise unknown(f"{owner}.{f.name}", value, choices[f.name])
        elif f.name in bools:
            if not isinstance(value, (bool, np.bool_)):
                raise HardwareError(f"{owner}.{f.name} must be true or false, got {value!r}")
        elif f.name in ints:
            _check_int(owner, f.name, value, ints[f.name])
        elif isinstance(value, str) and f.type in ("str", str):
            continue  # a text field (documentation); a string in a numeric field is refused below
        else:
            check_number(owner, f.name, value, strict=f.name in strict)


# --- the parts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossbarSpec:
    """The memristive (or SRAM) cell array."""

    energy_pj_at_128: float
    """Energy of one read of a whole 128x128 array (all rows driven, one input bit), pJ."""

    energy_exponent: float = 3.0
    """``E_xbar(N) = energy_pj_at_128 (N / 128) ** energy_exponent`` (PUMA/NAX: N^3)."""

    area_um2_at_128: float = 25.0
    """Cell-array area of a 128x128 array, um^2."""

    area_exponent: float = 2.0
    """``A_xbar(N) = area_um2_at_128 (N / 128) ** area_exponent`` (cells: N^2)."""

    bitline_energy_pj_at_128: float = 0.0
    """Energy of one column's bit line per row-group read for a 128-row array (scales with N), pJ."""

    read_latency_ns: float = 0.0
    """Array read time on the critical path of each conversion step, ns (0: overlapped)."""

    rows_parallel: int = 0
    """Rows read at once (partial-sum group); 0 means all N rows."""

    differential: bool = False
    """Weights stored as differential pairs (doubles the columns)."""

    def __post_init__(self) -> None:
        _check_fields(self, ints={"rows_parallel": 0}, bools=("differential",))
        for name in ("energy_exponent", "area_exponent"):  # beyond this N**e overflows float64
            if float(getattr(self, name)) > MAX_EXPONENT:
                raise HardwareError(f"CrossbarSpec.{name} must be <= {MAX_EXPONENT:g} (physical "
                                    f"scaling is 1 to 3), got {getattr(self, name)!r}")


@dataclass(frozen=True)
class AdcSpec:
    """Column analog-to-digital converters."""

    rule: str = "partial_sum"
    """The preset's ADC-precision rule: ``partial_sum`` (ISAAC/PUMA: ``ceil(log2(rows (2^cell_bits
    - 1)(2^dac_bits - 1)))``, i.e. ``ceil(log2(3N))`` for 2-bit cells) or ``fixed`` (``bits``)."""

    bits: int = 8
    """ADC resolution under the ``fixed`` rule."""

    scaling: str = "linear"
    """How ADC cost grows with resolution: ``linear`` in bits (SAR), ``levels`` (``2^b - 1``,
    flash / multi-level sense amplifiers) or ``design`` (one published design picked from a table,
    e.g. ``fastnax.hwmodel.presets.MNSIM_ADC_DESIGNS``: the ``*_per_unit`` fields are that
    design's cost per conversion, whatever the bits)."""

    energy_pj_per_unit: float = 0.225
    """Energy per conversion per bit (linear) or per level (levels), pJ."""

    latency_ns_per_unit: float = 12.5
    """Conversion time per bit (linear) or per level (levels), ns."""

    area_mm2_per_unit: float = 0.00015
    """ADC area per bit (linear) or per level (levels), mm^2."""

    columns_per_adc: int = 1
    """Columns multiplexed onto one ADC (converted one after the other)."""

    def __post_init__(self) -> None:
        _check_fields(self, ints={"bits": 1, "columns_per_adc": 1},
                      choices={"rule": ADC_PRESET_RULES, "scaling": ADC_SCALINGS})
        if int(self.bits) > MAX_CONVERTER_BITS:
            raise HardwareError(f"AdcSpec.bits must be an integer from 1 to {MAX_CONVERTER_BITS}, got {self.bits!r}")

    def units(self, bits):
        """Cost units of a ``bits``-bit conversion: ``bits`` (linear) or ``2**bits - 1`` (levels)."""
        bits = np.asarray(bits, dtype=np.float64)
        if self.scaling == "design":
            return np.ones_like(bits)
        return bits if self.scaling == "linear" else 2.0 ** bits - 1.0


@dataclass(frozen=True)
class DacSpec:
    """Row drivers (input DACs)."""

    bits: int = 1
    """Input bits applied per cycle (bit-serial inputs: 1)."""

    energy_pj: float = 0.0035
    """Energy of one row driver per input cycle, pJ."""

    area_mm2: float = 1.67e-7
    """Area of one row driver, mm^2."""

    def __post_init__(self) -> None:
        _check_fields(self, ints={"bits": 1})
        if int(self.bits) > MAX_CONVERTER_BITS:
            raise HardwareError(f"DacSpec.bits must be an integer from 1 to {MAX_CONVERTER_BITS}, got {self.bits!r}")


@dataclass(frozen=True)
class PeripherySpec:
    """Digital periphery of a crossbar and the tile around it."""

    shift_add_energy_pj: float = 0.05
    """Shift-and-add (partial-sum accumulation) energy per conversion, pJ."""

    shift_add_area_mm2: float = 0.00003
    """Shift-and-add area per crossbar, mm^2."""

    line_area_um2: float = 0.0
    """Area per row and per column line of other periphery (write drivers, switch matrices, level
    shifters, multiplexers), um^2; a crossbar has 2N lines."""

    tile_overhead: float = 0.0
    """Tile area (buffers, routers, control) as a fraction of the crossbars' area."""

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True)
class BufferSpec:
    """On-chip activation buffers and interconnect."""

    energy_pj_per_bit: float = 0.067
    """Energy to read or write one activation bit (buffer + interconnect), pJ."""

    bandwidth_bits_per_ns: float = 256.0
    """Activation bits moved per ns."""

    def __post_init__(self) -> None:
        _check_fields(self, strict=("bandwidth_bits_per_ns",))


@dataclass(frozen=True)
class ScheduleSpec:
    """How layers are scheduled in time."""

    pipeline_fill_steps: float = 2.0
    """Extra conversion steps per pixel to fill the read/convert pipeline (PUMA: 2)."""

    replication: float = 1.0
    """Average number of copies of each layer's weights working on different pixels (>= 1)."""

    layer_pipelined: bool = False
    """Layers run as a pipeline: latency is the slowest layer plus the others' one-pixel fill."""

    def __post_init__(self) -> None:
        _check_fields(self, bools=("layer_pipelined",))
        if float(self.replication) < 1:
            raise HardwareError(f"ScheduleSpec.replication must be >= 1, got {self.replication!r}")


#: The tables of a hardware model file and the spec each one builds.
SPECS = {"crossbar": CrossbarSpec, "adc": AdcSpec, "dac": DacSpec, "periphery": PeripherySpec,
         "buffer": BufferSpec, "schedule": ScheduleSpec}


def read_table_file(path, what: str) -> dict:
    """The table of a TOML or JSON configuration file (``what``: "hardware model" or
    "non-ideality", for the messages), as a dict; HardwareError on a missing or malformed file."""
    import json
    from pathlib import Path

    path = Path(path)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise HardwareError(f"{what} file not found: {path}") from None
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        if kind == "JSON":
            data = json.loads(raw.decode("utf-8"))
        else:
            import tomllib

            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HardwareError(f"{what} file {path} is not valid {kind}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise HardwareError(f"{what} file {path} must hold a table/object of fields")
    return data
