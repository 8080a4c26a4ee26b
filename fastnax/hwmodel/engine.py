"""The analytical IMC cost model: layer-to-crossbar mapping, energy, latency, area, EDAP.

For weight layer ``l`` (kernel ``k``, ``C_in`` input and ``C_out`` output channels, ``P`` output
pixels) mapped to ``N x N`` crossbars whose cells hold ``cell_bits`` bits, with weights of
``w_bits`` and inputs of ``in_bits`` streamed ``dac_bits`` at a time:

- rows ``R = k^2 C_in``; columns ``C = C_out ceil(w_bits / cell_bits)`` (x2 for differential
  pairs); crossbars ``X = ceil(R / N) ceil(C / N)``; utilization ``R C / (X N^2)``;
- ``cycles = ceil(in_bits / dac_bits)`` input cycles per pixel; in each cycle every crossbar fires
  once: its ``N`` rows are driven, its rows are read in ``G = ceil(N / rows_parallel)`` groups and
  every group converts all ``N`` columns (an under-used crossbar pays its full periphery);
- ADC resolution ``b``: the preset's rule (``partial_sum``: ``ceil(log2(rows (2^cell_bits - 1)
  (2^dac_bits - 1)))``; ``fixed``: ``adc.bits``), ``lossless`` (``ceil(log2(... + 1))``) or
  ``reduced`` (two bits fewer), as the architecture's ``adc_rule`` says; an ADC's cost grows with
  its units ``u(b)``: ``b`` (linear, SAR) or ``2^b - 1`` (levels, flash / sense amplifiers);
- energy ``= P cycles X (E_xbar(N) + G N (E_bitline + E_adc u(b) + E_shift_add) + N E_dac)``
  ``+ E_bit (input + output activation bits)``;
- latency ``= P (cycles + fill) t_step / replication + activation bits / bandwidth`` with
  ``t_step = G columns_per_adc t_adc u(b) + t_read``; summed over layers, or (layer-pipelined
  presets) the slowest layer plus every other layer's one-pixel fill;
- area ``= X (A_xbar(N) + ceil(N / columns_per_adc) A_adc u(b) + N A_dac + 2 N A_line + A_shift_add)``
  ``(1 + tile_overhead)``;
- the activation traffic of weight-free nodes (pooling, additions; ``LayerTable.act_elems``) is
  priced as buffer energy and latency of the whole network;
- the noise sigma of a layer is :mod:`fastnax.hwmodel.nonideal`'s (cells, IR drop, ADC rounding).

EDAP = energy x latency x area. ``E_xbar(N) = energy_pj_at_128 (N / 128)^energy_exponent``,
``A_xbar(N) = area_um2_at_128 (N / 128)^area_exponent``; every other symbol is a field of
:mod:`fastnax.hwmodel.specs`.

Everything that depends on a layer's crossbar size and its network's knobs (weight, input and
cell bits, ADC rule), but not on its shape, is a cost *per crossbar and per pixel*:
:func:`crossbar_costs` computes it once per (size, knob combination) present in a batch, and a
layer's cost is its counts (pixels, crossbars, MACs) times a gathered value. The totals (what the
search reads) go through the buffered fast path :mod:`fastnax.hwmodel._fastpath`; the per-layer
arrays are computed on first access by :mod:`fastnax.hwmodel.breakdown`. Both apply the formulas
above to the same tabulated values and are held equal by the tests (and to a per-architecture
Python loop by ``benchmarks/hwmodel_speed.py``). Shapes: per-layer arrays ``(n_archs, n_slots)``,
totals ``(n_archs,)``; padded slots cost exactly zero.

These are the formulas of the default mapping conventions. A model with other conventions (its
``mapping`` table: kernel-aligned rows, one weight slice per crossbar, periphery charged for the
used rows and columns, whole tiles, buffer and inter-tile transfer time) is priced by
:func:`fastnax.hwmodel.mapping.evaluate`, from the same tabulated ADC bits, noise sigma and
per-knob factors.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from fastnax.arch import ADC_RULES, LayerTable
from fastnax.errors import HardwareError
from fastnax.hwmodel import _fastpath, mapping
from fastnax.hwmodel.breakdown import Cost, per_layer
from fastnax.hwmodel.nonideal import NonIdeality
from fastnax.hwmodel.tables import validate_table

TOTALS = ("energy_pj", "latency_ns", "area_mm2", "macs", "mean_noise_sigma")


# --- the physics --------------------------------------------------------------------------------
def rows_active(n, rows_parallel: int):
    """Rows read at once in an ``n``-row crossbar (all of them when ``rows_parallel`` is 0)."""
    return n if rows_parallel <= 0 else np.minimum(n, float(rows_parallel))


def adc_bits(model, crossbar_size, cell_bits, adc_rule) -> np.ndarray:
    """ADC resolution of ``model`` per layer (vectorized; arguments broadcast).

    ``adc_rule`` indexes :data:`fastnax.arch.ADC_RULES`: 0 the preset's rule (``model.adc.rule``),
    1 lossless (resolves the full partial sum), 2 reduced (two bits fewer, at least 1).
    """
    n = np.asarray(crossbar_size, dtype=np.float64)
    rows = rows_active(n, model.crossbar.rows_parallel)
    cb = np.asarray(cell_bits, dtype=np.float64)
    products = rows * (2.0 ** cb - 1.0) * (2.0 ** model.dac.bits - 1.0)  # largest partial sum
    lossless = np.ceil(np.log2(products + 1.0))
    if model.adc.rule == "fixed":
        preset = np.full_like(lossless, float(model.adc.bits))
    else:
        preset = np.maximum(np.ceil(np.log2(np.maximum(products, 1.0))), 1.0)
    rule = np.asarray(adc_rule)
    return np.where(rule == 0, preset, np.where(rule == 1, lossless, np.maximum(lossless - 2.0, 1.0)))


def crossbar_costs(model, nonideality: NonIdeality, N, w_bits, in_bits, cell_bits, adc_rule) -> dict:
    """Costs of one ``N x N`` crossbar for one output pixel (arguments broadcast; float64).

    Returns
    -------
    dict
        ``energy_per_pixel`` (pJ: all input cycles of one pixel), ``latency_per_pixel`` (ns),
        ``area`` (mm^2, the crossbar and its periphery, tile overhead included), ``sigma``
        (relative weight-noise sigma), ``adc_bits``, ``slices`` (crossbar columns per output
        channel), ``bit_energy`` (pJ) and ``bit_time`` (ns) of one activation element.
    """
    xb, adc, dac, per, buf, sch = (model.crossbar, model.adc, model.dac, model.periphery,
                                   model.buffer, model.schedule)
    col_factor = 2.0 if xb.differential else 1.0
    cycles = np.ceil(in_bits / dac.bits)
    rows = rows_active(N, xb.rows_parallel)
    groups = np.ceil(N / rows)
    bits = adc_bits(model, N, cell_bits, adc_rule)
    units = adc.units(bits)
    # one crossbar firing once: the array, every row group converting every column, the row drivers
    e_mvm = (xb.energy_pj_at_128 * (N / 128.0) ** xb.energy_exponent
             + groups * N * (xb.bitline_energy_pj_at_128 * N / 128.0 + adc.energy_pj_per_unit * units
                             + per.shift_add_energy_pj)
             + N * dac.energy_pj)
    t_step = groups * adc.columns_per_adc * adc.latency_ns_per_unit * units + xb.read_latency_ns
    area = ((xb.area_um2_at_128 * 1e-6 * (N / 128.0) ** xb.area_exponent
             + np.ceil(N / adc.columns_per_adc) * adc.area_mm2_per_unit * units
             + N * dac.area_mm2 + 2.0 * N * per.line_area_um2 * 1e-6 + per.shift_add_area_mm2)
            * (1.0 + per.tile_overhead))
    lossless = np.ceil(np.log2(rows * (2.0 ** cell_bits - 1.0) * (2.0 ** dac.bits - 1.0) + 1.0))
    sigma = nonideality.layer_sigma(N, cell_bits, w_bits, bits, rows, lossless, col_factor)
    return {"energy_per_pixel": e_mvm * cycles,
            "latency_per_pixel": t_step * (cycles + sch.pipeline_fill_steps) / sch.replication,
            "area": area, "sigma": sigma, "adc_bits": bits,
            "slices": np.ceil(w_bits / cell_bits) * col_factor,
            "bit_energy": in_bits * buf.energy_pj_per_bit,
            "bit_time": in_bits / buf.bandwidth_bits_per_ns}


# --- pricing a batch --------------------------------------------------------------------------------
def evaluate(model, table: LayerTable, nonideality: NonIdeality | None = None) -> Cost:
    """Price every architecture of a layer table on ``model`` (a :class:`HardwareModel`).

    Parameters
    ----------
    model : HardwareModel
    table : LayerTable
        ``n_archs`` architectures, ``n_slots`` weight-layer slots (padded slots hold zeros).
    nonideality : NonIdeality, optional
        Non-idealities for the noise sigma (default: the model's own).

    Returns
    -------
    Cost
        Totals of shape (n_archs,) computed at once; the per-layer arrays on first access.
    """
    if not isinstance(table, LayerTable):
        raise HardwareError(f"evaluate expects a LayerTable, got {type(table).__name__}")
    if nonideality is None:
        nonideality = model.nonideality
    if not isinstance(nonideality, NonIdeality):
        raise HardwareError(f"nonideality must be a NonIdeality, got {type(nonideality).__name__}")
    validate_table(table, per_layer_signs=False)
    if np.result_type(table.crossbar_size.dtype, np.int64) != np.int64:
        # integral floats or uint64 (checked above): the sizes index the lookup tables
        table = dataclasses.replace(table, crossbar_size=table.crossbar_size.astype(np.int64))
    lut = Lookup(model, nonideality, table)
    if not model.mapping.is_default:  # other mapping conventions: their own vectorized formulas
        totals, layers = mapping.evaluate(model, lut, table)
        return Cost(**totals, _layers=layers)
    n = table.n_archs
    totals = {name: np.zeros(n) for name in TOTALS}
    if n:
        _fastpath.totals(lut, table, totals)
    return Cost(**totals, _layers=lambda: per_layer(lut, table))


class Lookup:
    """:func:`crossbar_costs` tabulated over the (crossbar size, knob combination) pairs of a table.

    A layer's cost per crossbar and per pixel depends on its crossbar size and on its network's
    knobs (weight/input/cell bits, ADC rule), which take few values; tabulating them over the
    present combinations and gathering by the integer key ``key_base[arch] + crossbar_size`` is
    what makes the batch fast. Flat tables (``energy_per_pixel``, ``latency_per_pixel``, ``area``,
    ``sigma``, ``adc_bits``, ``n_safe``) have ``n_combos * width`` entries, zero at size 0 (a
    padded slot); per-architecture arrays (``key_base``, ``slices``, ``bit_energy``,
    ``bit_time``) have ``n_archs``.
    """

    def __init__(self, model, nonideality: NonIdeality, table: LayerTable):
        n = table.n_archs
        w, i, cb, rule = (np.asarray(getattr(table, name), dtype=np.int64)  # no copy when already int64
                          for name in ("w_bits", "in_bits", "cell_bits", "adc_rule"))
        combos, combo_id = _knob_combinations(w, i, cb, rule)
        self.single_combo = len(combos) == 1
        first = np.zeros(len(combos), dtype=np.int64)  # one representative architecture per combination
        if not self.single_combo:
            first[combo_id[::-1]] = np.arange(n)[::-1]

        def per_arch(values: np.ndarray) -> np.ndarray:  # per-combination values, per architecture
            return np.full(n, values[0]) if self.single_combo else values[combo_id]

        # the crossbar sizes' signs are checked block by block (evaluate reads no key before that)
        max_n = max(int(table.crossbar_size.max()), 0) if table.crossbar_size.size else 0
        self.width = width = max_n + 1
        self.key_base = per_arch(np.arange(len(combos), dtype=np.int64) * width)
        knobs = np.stack([a[first] for a in (w, i, cb, rule)], axis=1)  # (n_combos, 4)
        c = _tabulated(model, nonideality, knobs, width)
        self.n_safe = np.broadcast_to(np.maximum(np.arange(width, dtype=np.float64), 1.0),
                                      (len(combos), width)).ravel().copy()
        for name in _GRID_FIELDS:
            setattr(self, name, c[name].ravel())
        self.slices = per_arch(c["slices"])
        self.slices32 = self.slices.astype(np.float32)
        self.bit_energy = per_arch(c["bit_energy"])
        self.bit_time = per_arch(c["bit_time"])
        self.pipelined = bool(model.schedule.layer_pipelined)


#: :func:`crossbar_costs` fields tabulated over the crossbar sizes (zero at size 0), and per knob
#: combination only
_GRID_FIELDS = ("energy_per_pixel", "latency_per_pixel", "area", "sigma", "adc_bits")
_KNOB_FIELDS = ("slices", "bit_energy", "bit_time")
#: (model, non-ideality) -> :class:`_Rows`: the knob combinations priced so far. A search prices
#: thousands of batches on one model, each of a few of the same combinations; every entry is
#: elementwise in (size, knobs), so a remembered row cut to a batch's width is the value the batch
#: would compute (held equal by the tests).
_ROWS: dict = {}
_ROWS_MODELS = 8
_ROWS_LOCK = threading.Lock()  # models priced from several threads share the memo


class _Rows:
    """:func:`crossbar_costs` rows of knob combinations: ``grid[field]`` (combos, width) and
    ``knob[field]`` (combos,), row ``index[knob tuple]``."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.width = 0
        self.grid: dict = {}
        self.knob: dict = {}


def clear_tabulated() -> None:
    """Forget the remembered per-crossbar costs (benchmarks start every method cold with it, as a
    fresh process does)."""
    with _ROWS_LOCK:
        _ROWS.clear()


def _priced_rows(model, nonideality: NonIdeality, combos: list, width: int) -> tuple[dict, dict]:
    """:func:`crossbar_costs` of knob tuples ``combos`` at sizes ``0 .. width - 1``: grid fields
    (len(combos), width), zero at size 0 (a padded slot), and knob fields (len(combos),)."""
    sizes = np.arange(width, dtype=np.float64)
    arr = np.asarray(combos, dtype=np.int64).reshape(-1, 4)
    c = crossbar_costs(model, nonideality, np.maximum(sizes[None, :], 1.0),
                       *(arr[:, j].astype(np.float64)[:, None] for j in range(3)), arr[:, 3][:, None])
    real = sizes[None, :] > 0
    shape = (len(arr), width)
    grid = {name: np.where(real, np.broadcast_to(c[name], shape), 0.0) for name in _GRID_FIELDS}
    knob = {name: np.broadcast_to(c[name], shape)[:, 0].astype(np.float64) for name in _KNOB_FIELDS}
    return grid, knob


def _tabulated(model, nonideality: NonIdeality, knobs: np.ndarray, width: int) -> dict:
    """:func:`crossbar_costs` of knob combinations ``knobs`` (rows of w_bits, in_bits, cell_bits,
    adc_rule) at crossbar sizes ``0 .. width - 1``: grid fields ``(n_combos, width)`` (zero at size
    0, a padded slot), knob fields ``(n_combos,)``; remembered per (model, non-ideality)."""
    combos = [tuple(int(v) for v in row) for row in knobs]
    try:
        hash((model, nonideality))
    except TypeError:  # a model with an unhashable field: no memo
        grid, knob = _priced_rows(model, nonideality, combos, width)
        return {**grid, **knob}
    with _ROWS_LOCK:
        return _remembered(model, nonideality, combos, width)


def _remembered(model, nonideality: NonIdeality, combos: list, width: int) -> dict:
    """:func:`_tabulated` through the memo (the caller holds its lock)."""
    memo = _ROWS.get((model, nonideality))
    if memo is None:
        if len(_ROWS) >= _ROWS_MODELS:
            _ROWS.pop(next(iter(_ROWS)))
        memo = _ROWS[(model, nonideality)] = _Rows()
    missing = list(dict.fromkeys(k for k in combos if k not in memo.index))
    if width > memo.width and memo.index:  # a wider batch: every remembered row again, wider
        missing = list(memo.index) + missing
        memo.index, memo.grid, memo.knob = {}, {}, {}
    if missing:
        grid, knob = _priced_rows(model, nonideality, missing, max(width, memo.width))
        start = len(memo.index)
        memo.index.update({k: start + r for r, k in enumerate(missing)})
        memo.width = max(width, memo.width)
        for name, rows in grid.items():
            memo.grid[name] = rows if start == 0 else np.concatenate([memo.grid[name], rows])
        for name, rows in knob.items():
            memo.knob[name] = rows if start == 0 else np.concatenate([memo.knob[name], rows])
    at = np.fromiter((memo.index[k] for k in combos), dtype=np.int64, count=len(combos))
    out = {name: memo.grid[name][at, :width] for name in _GRID_FIELDS}
    out.update({name: memo.knob[name][at] for name in _KNOB_FIELDS})
    return out


def _knob_combinations(w, i, cb, rule) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (w_bits, in_bits, cell_bits, adc_rule) combinations and each row's index."""
    n = len(w)
    if not n:
        return np.zeros(1, dtype=np.int64)[:0], np.zeros(0, dtype=np.int64)
    packed = ((w * (i.max() + 1) + i) * (cb.max() + 1) + cb) * len(ADC_RULES) + rule
    if packed.max() < 1 << 22:
        # few, small knob values: remap through a presence table (faster than sorting)
        present = np.bincount(packed)
        combos = np.flatnonzero(present)
        if len(combos) == 1:
            return combos, np.zeros(n, dtype=np.int64)
        remap = np.zeros(present.shape[0], dtype=np.int64)
        remap[combos] = np.arange(len(combos))
        return combos, remap[packed]
    combos, combo_id = np.unique(packed, return_inverse=True)
    return combos, combo_id.reshape(-1)
