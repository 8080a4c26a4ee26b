"""The analytical IMC cost model: layer-to-crossbar mapping, energy, latency, area, EDAP.

For weight layer ``l`` (kernel ``k``, ``C_in`` input and ``C_out`` output channels, ``P`` output
pixels) mapped to ``N x N`` crossbars whose cells hold ``cell_bits`` bits, with weights of
``w_bits`` and inputs of ``in_bits`` streamed ``dac_bits`` at a time:

- rows ``R = k^2 C_in``; columns ``C = C_out ceil(w_bits / cell_bits)`` (x2 for differential
  pairs); crossbars ``X = ceil(R / N) ceil(C / N)``; utilization ``R C / (X N^2)``;
- ``cycles = ceil(in_bits / dac_bits)`` input cycles per pixel; in each cycle every crossbar fires
  once: its ``N`` rows are driven, its rows are read in ``G = ceil(N / rows_parallel)`` groups and
  every group converts all ``N`` columns (an under-used crossbar pays its full periphery);
- energy ``= P cycles X (E_xbar(N) + G N (E_bitline + E_adc(b) + E_shift_add) + N E_dac)``
  ``+ E_bit (input + output activation bits)``;
- latency ``= P (cycles + fill) t_step / replication + activation bits / bandwidth`` with
  ``t_step = G columns_per_adc t_adc(b) + t_read``; summed over layers, or (layer-pipelined
  presets) the slowest layer plus every other layer's one-pixel fill;
- area ``= X (A_xbar(N) + ceil(N / columns_per_adc) A_adc(b) + N A_dac + 2 N A_line + A_shift_add)``
  ``(1 + tile_overhead)``;
- the activation traffic of weight-free nodes (pooling, additions; ``LayerTable.act_elems``) is
  priced as buffer energy and latency of the whole network.

EDAP = energy x latency x area. Everything is vectorized over the batch of architectures: per-layer
arrays of shape ``(n_archs, n_slots)``, totals ``(n_archs,)``; padded slots cost exactly zero.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fastnax.arch import ADC_RULES, KIND_PAD, LayerTable
from fastnax.errors import HardwareError, unknown
from fastnax.hwmodel.nonideal import NonIdeality, _sigma

ADC_PRESET_RULES = ("partial_sum", "fixed")
ADC_SCALINGS = ("linear", "levels")

# Validation limits that keep every cost finite in float64 (2**bits levels, N**exponent scaling).
MAX_CONVERTER_BITS = 32
MAX_EXPONENT = 8.0

# Rows per block of the per-layer breakdown.
_BLOCK_ROWS = 4096
# Slot entries (rows x slots) per block of the totals' fast path: the block's temporaries (256 kB
# each in float32) stay in the CPU caches, and numpy's per-call overhead is small next to a block.
_BLOCK_ELEMS = 1 << 16
# Slots per block of a Fortran-ordered table: a block reads each field in a few long runs.
_GROUP_SLOTS = 4
# float32 holds every integer up to 2**24 exactly.
_EXACT_F32 = float(1 << 24)


# --- validation helpers ------------------------------------------------------------------------
def _check_number(owner: str, name: str, value: Any, minimum: float = 0.0, strict: bool = False) -> None:
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
            _check_number(owner, f.name, value, strict=f.name in strict)


# --- the configuration: nested frozen dataclasses -----------------------------------------------
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
    """How ADC cost grows with resolution: ``linear`` in bits (SAR) or ``levels`` (``2^b - 1``,
    flash / multi-level sense amplifiers)."""

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
        bits = np.asarray(bits, dtype=np.float64)
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


_SPECS = {"crossbar": CrossbarSpec, "adc": AdcSpec, "dac": DacSpec, "periphery": PeripherySpec,
          "buffer": BufferSpec, "schedule": ScheduleSpec}


@dataclass(frozen=True)
class HardwareModel:
    """An IMC accelerator as documented constants; ``evaluate`` prices a batch of networks.

    Build one with :func:`fastnax.hwmodel.get_preset`, change fields with ``dataclasses.replace``
    (nested: ``replace(m, adc=replace(m.adc, bits=4))``) or load one with :meth:`from_file`.
    """

    name: str
    """Preset name (or a user name)."""

    crossbar: CrossbarSpec
    adc: AdcSpec = field(default_factory=AdcSpec)
    dac: DacSpec = field(default_factory=DacSpec)
    periphery: PeripherySpec = field(default_factory=PeripherySpec)
    buffer: BufferSpec = field(default_factory=BufferSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    nonideality: NonIdeality = field(default_factory=NonIdeality)
    """Default non-idealities of the technology (used when ``evaluate`` gets none)."""

    technology_nm: float = 32.0
    """Process node, nm (documentation)."""

    clock_ghz: float = 1.0
    """Clock frequency, GHz (documentation; the constants above are already in ns and pJ)."""

    description: str = ""
    """Where the constants come from."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise HardwareError(f"HardwareModel.name must be a string, got {self.name!r}")
        for key, cls in {**_SPECS, "nonideality": NonIdeality}.items():
            if not isinstance(getattr(self, key), cls):
                raise HardwareError(f"HardwareModel.{key} must be a {cls.__name__}, got "
                                    f"{type(getattr(self, key)).__name__}")
        _check_number("HardwareModel", "technology_nm", self.technology_nm, strict=True)
        _check_number("HardwareModel", "clock_ghz", self.clock_ghz, strict=True)

    # --- building ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain nested dict of every field (JSON-ready)."""
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: dict) -> HardwareModel:
        """A copy with fields replaced from a nested dict (``{"adc": {"bits": 4}}``)."""
        if not isinstance(overrides, dict):
            raise HardwareError(f"hardware overrides must be a table/object, got {type(overrides).__name__}")
        top = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key == "base":
                continue
            if key not in top:
                raise unknown("hardware model field", key, top)
            current = getattr(self, key)
            if dataclasses.is_dataclass(current):
                if not isinstance(value, dict):
                    raise HardwareError(f"hardware field {key!r} must be a table of fields, got {value!r}")
                valid = {f.name for f in fields(current)}
                for sub in value:
                    if sub not in valid:
                        raise unknown(f"field of {key}", sub, valid)
                try:
                    changes[key] = dataclasses.replace(current, **value)
                except TypeError as exc:
                    raise HardwareError(f"bad hardware field in {key!r}: {exc}") from None
            else:
                changes[key] = value
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_file(cls, path: str | Path) -> HardwareModel:
        """Load a model from a TOML or JSON file.

        The file names a ``base`` preset (default ``puma-32nm``) and overrides any of its fields,
        top-level or in the nested tables ``crossbar``, ``adc``, ``dac``, ``periphery``,
        ``buffer``, ``schedule``, ``nonideality``. Example (TOML)::

            base = "neurosim-22nm-rram"
            name = "my-chip"
            [adc]
            bits = 4
        """
        from fastnax.hwmodel.presets import get_preset

        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise HardwareError(f"hardware model file not found: {path}") from None
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(raw.decode("utf-8"))
            else:
                import tomllib

                data = tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
            raise HardwareError(f"hardware model file {path} is not valid {kind}: "
                                f"{str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise HardwareError(f"hardware model file {path} must hold a table/object of fields")
        base = data.get("base", "puma-32nm")
        model = get_preset(base)
        if "name" not in data:
            data = {**data, "name": f"{base}+{path.stem}"}
        return model.with_overrides(data)

    # --- evaluation ----------------------------------------------------------------------------
    def adc_bits(self, crossbar_size, cell_bits, adc_rule) -> np.ndarray:
        """ADC resolution per layer (vectorized; arguments broadcast). ``adc_rule`` indexes
        :data:`fastnax.arch.ADC_RULES`."""
        n = np.asarray(crossbar_size, dtype=np.float64)
        rows = _rows_active(n, self.crossbar.rows_parallel)
        cb = np.asarray(cell_bits, dtype=np.float64)
        products = rows * (2.0 ** cb - 1.0) * (2.0 ** self.dac.bits - 1.0)
        lossless = np.ceil(np.log2(products + 1.0))
        if self.adc.rule == "fixed":
            preset = np.full_like(lossless, float(self.adc.bits))
        else:
            preset = np.maximum(np.ceil(np.log2(np.maximum(products, 1.0))), 1.0)
        rule = np.asarray(adc_rule)
        return np.where(rule == 0, preset, np.where(rule == 1, lossless, np.maximum(lossless - 2.0, 1.0)))

    def evaluate(self, table: LayerTable, nonideality: NonIdeality | None = None) -> Cost:
        """Price every architecture of a layer table.

        Parameters
        ----------
        table : LayerTable
            ``n_archs`` architectures, ``n_slots`` weight-layer slots (padded slots hold zeros).
        nonideality : NonIdeality, optional
            Non-idealities for the noise sigma (default: the model's own).

        Returns
        -------
        Cost
            Totals are computed at once; the per-layer arrays on first access (the search reads
            only totals).
        """
        if not isinstance(table, LayerTable):
            raise HardwareError(f"evaluate expects a LayerTable, got {type(table).__name__}")
        if nonideality is None:
            nonideality = self.nonideality
        if not isinstance(nonideality, NonIdeality):
            raise HardwareError(f"nonideality must be a NonIdeality, got {type(nonideality).__name__}")
        _validate_table(table, per_layer_signs=False)
        if np.result_type(table.crossbar_size.dtype, np.int64) != np.int64:
            # integral floats or uint64 (checked above): the sizes index the lookup tables
            table = dataclasses.replace(table, crossbar_size=table.crossbar_size.astype(np.int64))
        lut = _Lookup(self, nonideality, table)
        n = table.n_archs
        totals = {name: np.zeros(n) for name in ("energy_pj", "latency_ns", "area_mm2", "macs",
                                                 "mean_noise_sigma")}
        if n:
            _totals(lut, table, totals)
        return Cost(**totals, _layers=lambda: _per_layer(lut, table))

    def evaluate_archs(self, archs, nonideality: NonIdeality | None = None) -> Cost:
        """:meth:`evaluate` of architectures (through ``LayerTable.from_architectures``)."""
        from fastnax.arch import Architecture

        if isinstance(archs, (Architecture, str)):
            archs = [archs]
        archs = [Architecture.from_string(a) if isinstance(a, str) else a for a in archs]
        return self.evaluate(LayerTable.from_architectures(archs), nonideality)


def _rows_active(n, rows_parallel: int):
    return n if rows_parallel <= 0 else np.minimum(n, float(rows_parallel))


def _validate_table(table: LayerTable, per_layer_signs: bool = True) -> None:
    """Raise HardwareError for a malformed table. ``per_layer_signs=False`` leaves out the sign
    checks of the per-layer fields that :func:`_evaluate_totals` reads anyway, which it makes
    block by block (on its float copies, while the block is in cache, before any lookup) and which
    call this function again to word the error; the kinds and the strides (which nothing else
    reads) are always checked here."""
    for name in LayerTable.PER_LAYER + LayerTable.PER_ARCH:
        arr = getattr(table, name)
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise HardwareError(f"LayerTable.{name} holds NaN or infinite values")
            if not np.all(arr == np.floor(arr)):
                raise HardwareError(f"LayerTable.{name} must hold integers")
        elif arr.dtype.kind not in "iub":
            raise HardwareError(f"LayerTable.{name} must hold integers, got dtype {arr.dtype}")
    if table.n_archs == 0:
        return
    for name in ("w_bits", "in_bits", "cell_bits"):
        arr = getattr(table, name)
        if arr.min() <= 0:
            raise HardwareError(f"{name} must be a positive integer, got {arr[arr <= 0][0]}")
    if table.adc_rule.min() < 0 or table.adc_rule.max() >= len(ADC_RULES):
        raise HardwareError(f"adc_rule must index one of {', '.join(ADC_RULES)} (0 to {len(ADC_RULES) - 1})")
    if table.act_elems.min() < 0:
        raise HardwareError("act_elems must be >= 0")
    if table.n_slots == 0:
        return
    for name in LayerTable.PER_LAYER if per_layer_signs else ("kind", "stride"):
        arr = getattr(table, name)
        if arr.min() < 0:
            what = "crossbar size" if name == "crossbar_size" else name
            raise HardwareError(f"{what} must be a positive integer in every weight layer, got {arr.min()}")
    kind = table.kind
    if kind.max() > 2:
        raise HardwareError("LayerTable.kind must be 0 (pad), 1 (conv) or 2 (linear)")


def _check_block(table: LayerTable, rows: slice, mask: np.ndarray) -> None:
    """Every weight layer's fields must be positive; padded slots must hold zeros."""
    product = np.ones(mask.shape)
    for name in ("crossbar_size", "kernel", "stride", "c_in", "c_out", "out_h", "out_w", "in_h", "in_w"):
        product *= getattr(table, name)[rows]
    bad = mask & (product == 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        for name in ("crossbar_size", "kernel", "stride", "c_in", "c_out", "out_h", "out_w", "in_h", "in_w"):
            value = getattr(table, name)[rows][i, j]
            if value <= 0:
                what = "crossbar size" if name == "crossbar_size" else name
                raise HardwareError(f"{what} must be a positive integer in every weight layer, got {value}")
    if np.any(~mask & (product != 0)):
        raise HardwareError("padded LayerTable slots (kind 0) must hold zeros")


class _Lookup:
    """Costs that depend only on (crossbar size, per-architecture knobs), tabulated once.

    A layer's cost per crossbar and per pixel depends on its crossbar size and on its network's
    knobs (weight/input/cell bits, ADC rule), which take few values; tabulating them over the
    present combinations and gathering by an integer key is what makes the batch fast.
    """

    def __init__(self, model: HardwareModel, nonideality: NonIdeality, table: LayerTable):
        xb, adc, dac, per, buf, sch = (model.crossbar, model.adc, model.dac, model.periphery,
                                       model.buffer, model.schedule)
        n = table.n_archs
        w, i, cb, rule = (np.asarray(getattr(table, name), dtype=np.int64)  # no copy when already int64
                          for name in ("w_bits", "in_bits", "cell_bits", "adc_rule"))
        if n:
            packed = ((w * (i.max() + 1) + i) * (cb.max() + 1) + cb) * len(ADC_RULES) + rule
        else:
            packed = np.zeros(0, dtype=np.int64)
        if n and packed.max() < 1 << 22:
            # few, small knob values: remap through a presence table (faster than sorting)
            present = np.bincount(packed)
            combos = np.flatnonzero(present)
            if len(combos) == 1:
                combo_id = np.zeros(n, dtype=np.int64)
            else:
                remap = np.zeros(present.shape[0], dtype=np.int64)
                remap[combos] = np.arange(len(combos))
                combo_id = remap[packed]
        else:
            combos, combo_id = np.unique(packed, return_inverse=True)
            combo_id = combo_id.reshape(-1)
        self.single_combo = len(combos) == 1
        # one representative architecture per combination
        first = np.zeros(len(combos), dtype=np.int64)
        if not self.single_combo:
            first[combo_id[::-1]] = np.arange(n)[::-1]

        def per_arch(values: np.ndarray) -> np.ndarray:  # per-combination values, per architecture
            return np.full(n, values[0]) if self.single_combo else values[combo_id]

        # the crossbar sizes' signs are checked block by block (evaluate reads no key before that)
        max_n = max(int(table.crossbar_size.max()), 0) if table.crossbar_size.size else 0
        sizes = np.arange(max_n + 1, dtype=np.float64)
        self.width = max_n + 1
        self.key_base = per_arch(np.arange(len(combos), dtype=np.int64) * self.width)
        # grids of shape (n_combos, max_n + 1)
        N = np.maximum(sizes[None, :], 1.0)
        real = sizes[None, :] > 0
        wb = w[first].astype(np.float64)[:, None]
        ib = i[first].astype(np.float64)[:, None]
        cbits = cb[first].astype(np.float64)[:, None]
        rl = rule[first][:, None]
        col_factor = 2.0 if xb.differential else 1.0
        cycles = np.ceil(ib / dac.bits)
        rows_active = _rows_active(N, xb.rows_parallel)
        groups = np.ceil(N / rows_active)
        adc_bits = model.adc_bits(N, cbits, rl)
        units = adc.units(adc_bits)
        e_mvm = (xb.energy_pj_at_128 * (N / 128.0) ** xb.energy_exponent
                 + groups * N * (xb.bitline_energy_pj_at_128 * N / 128.0 + adc.energy_pj_per_unit * units
                                 + per.shift_add_energy_pj)
                 + N * dac.energy_pj)
        t_step = groups * adc.columns_per_adc * adc.latency_ns_per_unit * units + xb.read_latency_ns
        pixel_ns = t_step * (cycles + sch.pipeline_fill_steps) / sch.replication
        a_cb = ((xb.area_um2_at_128 * 1e-6 * (N / 128.0) ** xb.area_exponent
                 + np.ceil(N / adc.columns_per_adc) * adc.area_mm2_per_unit * units
                 + N * dac.area_mm2 + 2.0 * N * per.line_area_um2 * 1e-6 + per.shift_add_area_mm2)
                * (1.0 + per.tile_overhead))
        lossless = np.ceil(np.log2(rows_active * (2.0 ** cbits - 1.0) * (2.0 ** dac.bits - 1.0) + 1.0))
        sigma = _sigma(nonideality.cell_sigma(), nonideality.ir_drop_at_128, N, cbits, wb, adc_bits,
                       rows_active, lossless, col_factor)
        zero = lambda a: np.where(real, a, 0.0).ravel()  # noqa: E731  (size 0 = padded slot)
        self.n_safe = np.broadcast_to(N, (len(combos), self.width)).ravel().copy()
        self.energy_per_pixel = zero(e_mvm * cycles)
        self.latency_per_pixel = zero(pixel_ns)
        self.area = zero(a_cb)
        self.sigma = zero(sigma)
        self.adc_bits = zero(adc_bits)
        self.slices = per_arch(np.ceil(wb / cbits)[:, 0] * col_factor)
        self.slices32 = self.slices.astype(np.float32)
        self.bit_energy = per_arch(ib[:, 0] * buf.energy_pj_per_bit)
        self.bit_time = per_arch(ib[:, 0] / buf.bandwidth_bits_per_ns)
        self.pipelined = bool(sch.layer_pipelined)


class _Counts:
    """The integer per-slot quantities of one block, held as floats of one dtype.

    ``fields`` holds the per-layer fields converted from int64; ``derived`` the counts computed
    from them: the four weights of the cost sums (pixel-crossbar products ``PX``, crossbars ``X``,
    pixels ``P``, ``macs``), activation elements ``act``, then the other values whose exactness
    the float32 path checks (rows ``R``, columns ``cols``). The intermediate values reuse the
    buffers of fields that are no longer needed (a smaller working set stays in cache).
    """

    FIELDS = ("kernel", "c_in", "c_out", "in_h", "in_w", "out_h", "out_w", "crossbar_size")
    DERIVED = ("PX", "X", "P", "macs", "act", "R", "cols")  # float32 holds them if all are < 2**24
    SCRATCH = (("cq", "kernel"), ("I", "in_h"), ("live", "in_w"), ("O", "out_h"), ("N", "out_w"))
    WEIGHTS = 4  # derived[:WEIGHTS] are the weights of the cost sums (float64 in the sums)

    def __init__(self, shape: tuple, dtype) -> None:
        self.fields = np.empty((len(self.FIELDS),) + shape, dtype=dtype)
        self.derived = np.empty((len(self.DERIVED),) + shape, dtype=dtype)
        self.one = np.ones(shape, dtype=dtype)

    def view(self, cut: tuple) -> _Counts:
        """The leading ``cut`` of every buffer (a block smaller than the workspace)."""
        v = _Counts.__new__(_Counts)
        v.fields = self.fields[(slice(None),) + cut]
        v.derived = self.derived[(slice(None),) + cut]
        v.one = self.one[cut]
        for i, name in enumerate(self.FIELDS):
            setattr(v, name, v.fields[i])
        for i, name in enumerate(self.DERIVED):
            setattr(v, name, v.derived[i])
        for name, buffer in self.SCRATCH:
            setattr(v, name, getattr(v, buffer))
        return v


def _count(a: _Counts, fields: list, slices: np.ndarray) -> bool:
    """Fill ``a`` from the blocks of the per-layer fields; return whether a field is negative.

    Rows ``R = k^2 C_in``, pixels ``P``, input activations ``I``, crossbars ``X = ceil(R / N)
    ceil(C_out slices / N)`` (``N`` clamped to 1 in padded slots), outputs ``O = P C_out``,
    ``macs = R O``, ``act = O + I``, and ``live = macs I crossbar_size``, which is nonzero exactly
    where every field of the slot is (the validation folded into the arithmetic; ``> 0`` also
    reads a float32 ``0 x inf`` as the zero it stands for). The order matters: each scratch value
    overwrites a field once nothing reads that field any more.
    """
    for i, block in enumerate(fields):
        np.copyto(a.fields[i], block)
    negative = bool(a.fields.min() < 0)
    np.multiply(a.kernel, a.kernel, out=a.R)
    a.R *= a.c_in
    np.multiply(a.out_h, a.out_w, out=a.P)
    np.multiply(a.in_h, a.in_w, out=a.I)
    a.I *= a.c_in
    np.maximum(a.crossbar_size, a.one, out=a.N)  # array-array: numpy's maximum with a scalar is slow
    np.divide(a.R, a.N, out=a.X)
    np.ceil(a.X, out=a.X)
    np.multiply(a.c_out, slices, out=a.cols)
    np.divide(a.cols, a.N, out=a.cq)
    np.ceil(a.cq, out=a.cq)
    a.X *= a.cq
    np.multiply(a.P, a.X, out=a.PX)
    np.multiply(a.P, a.c_out, out=a.O)
    np.multiply(a.R, a.O, out=a.macs)
    np.add(a.O, a.I, out=a.act)
    np.multiply(a.macs, a.I, out=a.live)
    a.live *= a.crossbar_size
    return negative


class _Workspace:
    """Preallocated buffers reused by every block of one ``evaluate`` call.

    Fresh block-sized temporaries are returned to the OS and faulted in again on every block;
    reusing buffers through ``out=`` removes that cost. A block of a C-ordered table (what the
    spaces build) is ``rows x all slots``, held ``(rows, slots)``; a block of a Fortran-ordered
    table (``LayerTable.compact`` returns those) is ``rows x a few slots``, held ``(slots, rows)``,
    so that reading the table runs over a few long contiguous stretches of every field and every
    operation over contiguous memory.
    """

    def __init__(self, shape: tuple, slot_major: bool) -> None:
        self.shape = shape
        self.slot_major = slot_major
        size = shape[0] * shape[1]
        self.key = np.empty(size, dtype=np.int64)
        self.f32 = _Counts(shape, np.float32)
        self.f64: _Counts | None = None  # for blocks float32 cannot hold exactly; made when needed
        self.weights = np.empty((_Counts.WEIGHTS, size))
        self.gathered = np.empty(size)
        rows = shape[1] if slot_major else shape[0]
        self.part = np.empty((6, rows))
        self.act_sum = np.empty(rows, dtype=np.float32)
        self.exact = True  # float32 counts are exact so far
        self._views: dict = {}

    def views(self, n_rows: int, n_slots: int, exact: bool = True) -> tuple:
        """(key, counts, weights, gathered) of a block of ``n_rows x n_slots`` (cached)."""
        cached = self._views.get((n_rows, n_slots, exact))
        if cached is None:
            shape = (n_slots, n_rows) if self.slot_major else (n_rows, n_slots)
            cut = tuple(slice(0, m) for m in shape)
            size = n_rows * n_slots
            if not exact and self.f64 is None:
                self.f64 = _Counts(self.shape, np.float64)
            cached = (self.key[:size].reshape(shape), (self.f32 if exact else self.f64).view(cut),
                      self.weights[:, :size].reshape((_Counts.WEIGHTS,) + shape),
                      self.gathered[:size].reshape(shape))
            self._views[(n_rows, n_slots, exact)] = cached
        return cached


def _evaluate_totals(lut: _Lookup, table: LayerTable, rows: slice, slots: slice, work: _Workspace,
                     sums: np.ndarray, accumulate: bool) -> None:
    """Sums over ``slots`` of the per-slot terms of a block: the fast path (the search reads only totals).

    ``sums`` (6, rows) receives (or, with ``accumulate``, adds) energy, latency, area,
    sigma x MACs, MACs and activation elements; with a layer-pipelined schedule (all slots in one
    block) ``sums[1]`` is the pipelined latency. The same formulas as :func:`_evaluate_block`,
    arranged for speed:

    - the integer counts (rows, pixels, crossbars, MACs, ...) are computed in float32 when every
      one of them is below 2**24, where float32 holds integers, quotients' ceilings and products
      exactly (every other count of a slot is at most one of the checked ones); otherwise in
      float64 (checked per block; after the first block that needs float64, the rest of the table
      goes straight to it). Either way they are the same integers, so the result does not depend
      on which blocks took which path;
    - the costs (counts x per-crossbar costs from :class:`_Lookup`) and their sums are float64;
    - every operation writes into the preallocated workspace (``out=``) in the table's own memory
      layout; the per-architecture factors (activation bit energy and time) multiply the sums,
      not each slot;
    - each cost's lookup, product and sum over slots is a gather (``take`` with ``mode="clip"``:
      ``mode="raise"`` buffers its output) and one ``einsum``.
    """
    slot_major = work.slot_major

    def field(name: str) -> np.ndarray:  # a block of a per-layer field, in the workspace's orientation
        block = getattr(table, name)[rows, slots]
        return block.T if slot_major else block

    def per_arch(values: np.ndarray) -> np.ndarray:  # (n,) broadcast along the slots
        return values[None, :] if slot_major else values[:, None]

    n = rows.stop - rows.start
    n_slots = slots.stop - slots.start
    key, a, weights, gathered = work.views(n, n_slots)
    if lut.single_combo:  # every key_base is 0
        np.copyto(key, field("crossbar_size"))
    else:
        np.add(field("crossbar_size"), per_arch(lut.key_base[rows]), out=key)
    fields = [field(name) for name in _Counts.FIELDS]
    exact = work.exact and lut.width <= _EXACT_F32
    if exact:
        if _count(a, fields, per_arch(lut.slices32[rows])):
            _validate_table(table)  # raises, naming the field
        # float32 held every count exactly unless one reached 2**24 (or overflowed: NaN compares False)
        exact = a.derived.max() < _EXACT_F32
        # after one block too large for float32, the rest of the table goes straight to float64
        work.exact = exact
    if exact:
        np.copyto(weights, a.derived[:_Counts.WEIGHTS])  # exact integers: the same as in float64
    else:
        a = work.views(n, n_slots, exact=False)[1]
        if _count(a, fields, per_arch(lut.slices[rows])):
            _validate_table(table)
        weights = a.derived[:_Counts.WEIGHTS]
    kind = field("kind")
    if not np.array_equal(a.live > 0, kind != KIND_PAD):  # a zero field in a weight layer or a filled pad
        _check_block(table, rows, table.kind[rows] != KIND_PAD)  # raises, naming it
    PX, X, P, macs = weights
    act = a.act  # float32 on the float32 path
    out = work.part[:, :n] if accumulate else sums
    if slot_major:  # slot by slot over contiguous rows
        def dot(w, values, o):
            np.einsum("ji,ji->i", w, values.take(key, out=gathered, mode="clip"), out=out[o])
    else:  # einsum's contiguous inner sum: ~3x faster than .sum(axis=-1) on 20-odd slots and,
        # unlike a BLAS matrix-vector product, the same for a row alone as in any batch
        def dot(w, values, o):
            np.einsum("ij,ij->i", w, values.take(key, out=gathered, mode="clip"), out=out[o])

    def total(w, o):
        if slot_major:
            np.add.reduce(w, axis=0, out=o)
        else:
            np.einsum("ij->i", w, out=o)

    dot(PX, lut.energy_per_pixel, 0)
    dot(X, lut.area, 2)
    dot(macs, lut.sigma, 3)
    total(macs, out[4])
    if act.dtype == np.float32:
        # a float32 sum of integers is exact when it comes out below 2**24 (its partial sums are
        # then smaller integers still); else sum in float64
        total(act, work.act_sum[:n])
        if work.act_sum[:n].max() < _EXACT_F32:
            out[5] = work.act_sum[:n]
        else:
            total(act.astype(np.float64), out[5])
    else:
        total(act, out[5])
    if lut.pipelined:  # all slots are in this block
        slot_axis = 0 if slot_major else 1
        latency_per_pixel = lut.latency_per_pixel.take(key, out=gathered, mode="clip")
        act_time = act * per_arch(lut.bit_time[rows])
        latency_slot = P * latency_per_pixel + act_time
        fill = np.where(kind != KIND_PAD, latency_per_pixel + act_time / np.maximum(P, 1.0), 0.0)
        slowest = np.expand_dims(latency_slot.argmax(axis=slot_axis), slot_axis)
        out[1] = (np.take_along_axis(latency_slot, slowest, slot_axis).reshape(-1)
                  + fill.sum(axis=slot_axis) - np.take_along_axis(fill, slowest, slot_axis).reshape(-1))
    else:
        dot(P, lut.latency_per_pixel, 1)
    if accumulate:
        sums += out


def _totals(lut: _Lookup, table: LayerTable, totals: dict) -> None:
    """Fill ``totals`` block by block through :func:`_evaluate_totals`."""
    n, n_slots = table.n_archs, table.n_slots
    c_in = table.c_in
    slot_major = bool(c_in.flags.f_contiguous and not c_in.flags.c_contiguous)
    if n_slots == 0:
        group = block_rows = n
        sums = np.zeros((6, n))
    elif slot_major:
        group = n_slots if lut.pipelined else min(n_slots, _GROUP_SLOTS)  # pipelined: all slots at once
        block_rows = max(1, _BLOCK_ELEMS // group)
        work = _Workspace((group, min(n, block_rows)), True)
    else:
        group = n_slots
        block_rows = max(1, _BLOCK_ELEMS // n_slots)
        work = _Workspace((min(n, block_rows), n_slots), False)
    if n_slots:
        sums_buffer = np.empty((6, min(n, block_rows)))
    for start in range(0, n, block_rows):
        rows = slice(start, min(n, start + block_rows))
        if n_slots:
            sums = sums_buffer[:, :rows.stop - start]
            for first in range(0, n_slots, group):
                _evaluate_totals(lut, table, rows, slice(first, min(n_slots, first + group)), work, sums,
                                 accumulate=first > 0)
        traffic = table.act_elems[rows]
        bit_energy, bit_time = lut.bit_energy[rows], lut.bit_time[rows]
        totals["energy_pj"][rows] = sums[0] + (sums[5] + traffic) * bit_energy
        if lut.pipelined:
            totals["latency_ns"][rows] = sums[1] + traffic * bit_time
        else:
            totals["latency_ns"][rows] = sums[1] + (sums[5] + traffic) * bit_time
        totals["area_mm2"][rows] = sums[2]
        totals["macs"][rows] = sums[4]
        totals["mean_noise_sigma"][rows] = sums[3] / np.maximum(sums[4], 1.0)


def _evaluate_block(lut: _Lookup, table: LayerTable, rows: slice, totals: dict, store: dict | None) -> None:
    kind = table.kind[rows]
    crossbar = table.crossbar_size[rows]
    key = crossbar + lut.key_base[rows, None]
    Nf = lut.n_safe.take(key)
    c_in = table.c_in[rows]
    c_out = table.c_out[rows].astype(np.float64)
    R = (table.kernel[rows] ** 2 * c_in).astype(np.float64)
    X = np.ceil(R / Nf)
    X *= np.ceil(c_out * lut.slices[rows, None] / Nf)
    pixels = (table.out_h[rows] * table.out_w[rows]).astype(np.float64)
    in_act = table.in_h[rows] * table.in_w[rows] * c_in
    act = pixels * c_out
    act += in_act
    macs = R * c_out
    macs *= pixels
    # validation folded into the arithmetic: a weight layer with a zero field has zero MACs or input
    # activations, a padded slot with a nonzero field has nonzero ones (fields are >= 0, checked)
    live = (macs * in_act * crossbar) != 0
    if not np.array_equal(live, kind != KIND_PAD):
        _check_block(table, rows, kind != KIND_PAD)
    mvm = pixels * X
    energy = mvm * lut.energy_per_pixel.take(key)
    energy += act * lut.bit_energy[rows, None]
    latency = pixels * lut.latency_per_pixel.take(key)
    latency += act * lut.bit_time[rows, None]
    area = X * lut.area.take(key)
    sigma = lut.sigma.take(key)
    traffic = table.act_elems[rows]
    totals["energy_pj"][rows] = energy.sum(axis=1) + traffic * lut.bit_energy[rows]
    if lut.pipelined:
        mask = kind != KIND_PAD
        fill = np.where(mask, lut.latency_per_pixel.take(key)
                        + act * lut.bit_time[rows, None] / np.maximum(pixels, 1.0), 0.0)
        slowest = latency.argmax(axis=1)[:, None]
        lat = (np.take_along_axis(latency, slowest, 1)[:, 0] + fill.sum(axis=1)
               - np.take_along_axis(fill, slowest, 1)[:, 0])
    else:
        lat = latency.sum(axis=1)
    totals["latency_ns"][rows] = lat + traffic * lut.bit_time[rows]
    totals["area_mm2"][rows] = area.sum(axis=1)
    m = macs.sum(axis=1)
    totals["macs"][rows] = m
    sigma_macs = sigma * macs
    totals["mean_noise_sigma"][rows] = sigma_macs.sum(axis=1) / np.maximum(m, 1.0)
    if store is not None:
        mask = kind != KIND_PAD
        store["layer_energy_pj"][rows] = energy
        store["layer_latency_ns"][rows] = latency
        store["layer_area_mm2"][rows] = area
        store["crossbars"][rows] = X
        store["utilization"][rows] = np.where(mask, R * c_out * lut.slices[rows, None]
                                              / np.maximum(X * Nf * Nf, 1.0), 0.0)
        store["adc_bits"][rows] = lut.adc_bits.take(key)
        store["noise_sigma"][rows] = sigma


def _per_layer(lut: _Lookup, table: LayerTable) -> dict:
    n, slots = table.n_archs, table.n_slots
    store = {name: np.zeros((n, slots)) for name in Cost.PER_LAYER}
    totals = {name: np.zeros(n) for name in ("energy_pj", "latency_ns", "area_mm2", "macs",
                                             "mean_noise_sigma")}
    for start in range(0, n, _BLOCK_ROWS):
        _evaluate_block(lut, table, slice(start, min(n, start + _BLOCK_ROWS)), totals, store)
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
