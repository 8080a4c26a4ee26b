"""Checks of a :class:`fastnax.arch.LayerTable` before (and while) the engine prices it.

A malformed table (NaN, fractional or negative counts, an unknown ADC rule, a padded slot that
holds a layer or a weight layer with a zero field) raises :class:`fastnax.errors.HardwareError`
naming the field, never a wrong cost.
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import ADC_RULES, LayerTable
from fastnax.errors import HardwareError

_WEIGHT_LAYER_FIELDS = ("crossbar_size", "kernel", "stride", "c_in", "c_out", "out_h", "out_w", "in_h", "in_w")


def validate_table(table: LayerTable, per_layer_signs: bool = True) -> None:
    """Raise HardwareError for a malformed table.

    ``per_layer_signs=False`` leaves out the sign checks of the per-layer fields that the totals'
    fast path (:func:`fastnax.hwmodel._fastpath.totals`) reads anyway: it makes them block by
    block (on its float copies, while the block is in cache, before any lookup) and calls this
    function again to word the error. The kinds and the strides (which nothing else reads) are
    always checked here.
    """
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


def check_block(table: LayerTable, rows: slice, mask: np.ndarray) -> None:
    """Every weight layer's fields must be positive; padded slots must hold zeros."""
    product = np.ones(mask.shape)
    for name in _WEIGHT_LAYER_FIELDS:
        product *= getattr(table, name)[rows]
    bad = mask & (product == 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        for name in _WEIGHT_LAYER_FIELDS:
            value = getattr(table, name)[rows][i, j]
            if value <= 0:
                what = "crossbar size" if name == "crossbar_size" else name
                raise HardwareError(f"{what} must be a positive integer in every weight layer, got {value}")
    if np.any(~mask & (product != 0)):
        raise HardwareError("padded LayerTable slots (kind 0) must hold zeros")
