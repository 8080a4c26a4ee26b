"""The totals' fast path: the engine's formulas over a batch, in cache-sized blocks, buffers reused.

This module is plumbing, not physics: the formulas are :mod:`fastnax.hwmodel.engine`'s, applied to
its tabulated per-crossbar costs (:class:`fastnax.hwmodel.engine.Lookup`, ``lut`` below). What
makes it fast (measured by ``benchmarks/hwmodel_speed.py``):

- the integer counts of a slot (rows, pixels, crossbars, MACs, ...) are computed in float32 when
  every one of them is below 2**24, where float32 holds integers, quotients' ceilings and products
  exactly; otherwise in float64 (checked per block). Either way they are the same integers, so a
  row's costs do not depend on which path its block took;
- the table is read in blocks of about :data:`BLOCK_ELEMS` slot entries whose temporaries stay in
  the CPU caches, and every operation writes into one preallocated :class:`Workspace` (``out=``);
- each cost's lookup, product and sum over slots is a gather (``take``) and one ``einsum``; the
  per-architecture factors (activation bit energy and time) multiply the sums, not each slot;
- the validation of the per-layer fields is folded into the arithmetic (see :func:`fill_counts`).
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import KIND_PAD, LayerTable
from fastnax.hwmodel.tables import check_block, validate_table

# Slot entries (rows x slots) per block: the block's temporaries (256 kB each in float32) stay in
# the CPU caches, and numpy's per-call overhead is small next to a block.
BLOCK_ELEMS = 1 << 16
# Slots per block of a Fortran-ordered table: a block reads each field in a few long runs.
GROUP_SLOTS = 4
# float32 holds every integer up to 2**24 exactly.
EXACT_F32 = float(1 << 24)


class Counts:
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

    def view(self, cut: tuple) -> Counts:
        """The leading ``cut`` of every buffer (a block smaller than the workspace)."""
        v = Counts.__new__(Counts)
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


def fill_counts(a: Counts, fields: list, slices: np.ndarray) -> bool:
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


class Workspace:
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
        self.f32 = Counts(shape, np.float32)
        self.f64: Counts | None = None  # for blocks float32 cannot hold exactly; made when needed
        self.weights = np.empty((Counts.WEIGHTS, size))
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
                self.f64 = Counts(self.shape, np.float64)
            cached = (self.key[:size].reshape(shape), (self.f32 if exact else self.f64).view(cut),
                      self.weights[:, :size].reshape((Counts.WEIGHTS,) + shape),
                      self.gathered[:size].reshape(shape))
            self._views[(n_rows, n_slots, exact)] = cached
        return cached


def block_totals(lut, table: LayerTable, rows: slice, slots: slice, work: Workspace,
                 sums: np.ndarray, accumulate: bool) -> None:
    """Sums over ``slots`` of the per-slot terms of a block: the fast path (the search reads only totals).

    ``sums`` (6, rows) receives (or, with ``accumulate``, adds) energy, latency, area,
    sigma x MACs, MACs and activation elements; with a layer-pipelined schedule (all slots in one
    block) ``sums[1]`` is the pipelined latency. The same formulas as the per-layer breakdown
    (:func:`fastnax.hwmodel.breakdown.per_layer`),
    arranged for speed:

    - the integer counts (rows, pixels, crossbars, MACs, ...) are computed in float32 when every
      one of them is below 2**24, where float32 holds integers, quotients' ceilings and products
      exactly (every other count of a slot is at most one of the checked ones); otherwise in
      float64 (checked per block; after the first block that needs float64, the rest of the table
      goes straight to it). Either way they are the same integers, so the result does not depend
      on which blocks took which path;
    - the costs (counts x per-crossbar costs from :class:`fastnax.hwmodel.engine.Lookup`) and
      their sums are float64;
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
    fields = [field(name) for name in Counts.FIELDS]
    exact = work.exact and lut.width <= EXACT_F32
    if exact:
        if fill_counts(a, fields, per_arch(lut.slices32[rows])):
            validate_table(table)  # raises, naming the field
        # float32 held every count exactly unless one reached 2**24 (or overflowed: NaN compares False)
        exact = a.derived.max() < EXACT_F32
        # after one block too large for float32, the rest of the table goes straight to float64
        work.exact = exact
    if exact:
        np.copyto(weights, a.derived[:Counts.WEIGHTS])  # exact integers: the same as in float64
    else:
        a = work.views(n, n_slots, exact=False)[1]
        if fill_counts(a, fields, per_arch(lut.slices[rows])):
            validate_table(table)
        weights = a.derived[:Counts.WEIGHTS]
    kind = field("kind")
    if not np.array_equal(a.live > 0, kind != KIND_PAD):  # a zero field in a weight layer or a filled pad
        check_block(table, rows, table.kind[rows] != KIND_PAD)  # raises, naming it
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
        if work.act_sum[:n].max() < EXACT_F32:
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


def totals(lut, table: LayerTable, out: dict) -> None:
    """Fill ``out`` (the engine's totals, arrays of shape (n_archs,)) block by block through
    :func:`block_totals`."""
    n, n_slots = table.n_archs, table.n_slots
    c_in = table.c_in
    slot_major = bool(c_in.flags.f_contiguous and not c_in.flags.c_contiguous)
    if n_slots == 0:
        group = block_rows = n
        sums = np.zeros((6, n))
    elif slot_major:
        group = n_slots if lut.pipelined else min(n_slots, GROUP_SLOTS)  # pipelined: all slots at once
        block_rows = max(1, BLOCK_ELEMS // group)
        work = Workspace((group, min(n, block_rows)), True)
    else:
        group = n_slots
        block_rows = max(1, BLOCK_ELEMS // n_slots)
        work = Workspace((min(n, block_rows), n_slots), False)
    if n_slots:
        sums_buffer = np.empty((6, min(n, block_rows)))
    for start in range(0, n, block_rows):
        rows = slice(start, min(n, start + block_rows))
        if n_slots:
            sums = sums_buffer[:, :rows.stop - start]
            for first in range(0, n_slots, group):
                block_totals(lut, table, rows, slice(first, min(n_slots, first + group)), work, sums,
                             accumulate=first > 0)
        traffic = table.act_elems[rows]
        bit_energy, bit_time = lut.bit_energy[rows], lut.bit_time[rows]
        out["energy_pj"][rows] = sums[0] + (sums[5] + traffic) * bit_energy
        if lut.pipelined:
            out["latency_ns"][rows] = sums[1] + traffic * bit_time
        else:
            out["latency_ns"][rows] = sums[1] + (sums[5] + traffic) * bit_time
        out["area_mm2"][rows] = sums[2]
        out["macs"][rows] = sums[4]
        out["mean_noise_sigma"][rows] = sums[3] / np.maximum(sums[4], 1.0)
