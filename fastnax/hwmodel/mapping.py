"""Mapping conventions: how a simulator lays a layer onto crossbars and tiles, and what it charges.

Simulators that agree on the physics of a crossbar still disagree on the bookkeeping around it.
:class:`MappingSpec` (the ``mapping`` table of a :class:`fastnax.hwmodel.HardwareModel`) names
those choices, each a documented field; its defaults are the conventions of the engine's formulas
(:mod:`fastnax.hwmodel.engine`: ISAAC/PUMA-style, what every preset used before this spec), and a
model left at the defaults is priced by the engine's fast path exactly as before. A model that
changes any field is priced by :func:`evaluate` below, vectorized over the batch (no loop over
architectures) but without the fast path's buffering.

The conventions, and where each non-default one comes from (MNSIM 2.0, Zhu et al., TCAD 2023;
the files of its public repository):

- ``rows``: ``packed`` (a layer's ``k^2 C_in`` rows fill crossbars end to end) or
  ``kernel_aligned`` (a crossbar holds whole input channels, ``floor(N / k^2)`` of them, so its
  used rows are ``min(floor(N / k^2), C_in) k^2``; ``Mapping_Model/Tile_connection_graph.py``,
  ``my`` and ``max_row``);
- ``slices``: ``packed`` (the ``ceil(w_bits / cell_bits)`` weight slices of an output channel sit
  side by side on one crossbar's columns, x2 for differential pairs) or ``per_crossbar`` (each
  slice on its own crossbar, ``slices ceil(C_out / N)`` crossbars across; a differential pair is
  two crossbars sharing one set of ADCs; ``Tile_connection_graph.py`` ``mx``,
  ``Hardware_Model/PE.py`` ``PE_multiplex_xbar_num``);
- ``periphery``: ``crossbar`` (every firing reads all ``N`` rows in ``ceil(N / rows_parallel)``
  groups and converts all ``N`` columns in each: an under-used crossbar pays its full periphery)
  or ``used`` (the groups and conversions of the rows and columns the layer's fullest crossbar
  uses, and the array energy of the used cells; the ADCs are ``adcs_per_crossbar`` converters
  each multiplexed over ``ceil(N / adcs)``
  columns, so a firing takes ``ceil(c / adcs)`` conversion steps with ``ceil(c / ceil(N / adcs))``
  converters active, and every step waits for its array read; ``PE.py``
  ``calculate_PE_read_power_fast``, ``Latency_Model/PE_latency.py`` ``multiple_time``);
- ``adcs_per_crossbar``: 0 (one ADC per ``adc.columns_per_adc`` columns) or a fixed count built
  whatever ``N`` (``SimConfig.ini`` ``ADC_Num``);
- tiles (``crossbars_per_tile`` > 0): a layer takes whole tiles, ``T = ceil(X / crossbars_per_tile)``;
  area is ``T`` full tiles (their crossbars and periphery plus ``tile_area_mm2`` of buffers,
  pooling units and joint modules) and the energy of ``T min(X, crossbars_per_tile)`` crossbars
  (every tile as busy as the layer's fullest; ``Power_Model/Model_inference_power.py``,
  ``Area_Model/Model_Area.py``); the weight layers' activations move through the tile buffers:
  per output pixel ``c B (b + ceil(log2 B) + in_bits) + 2 in_bits rows / k`` bits with ``B =
  min(X, crossbars_per_tile)`` (the tile output buffer written with ``b``-bit partial sums merged
  over ``B`` crossbars and read as outputs, the input line buffer written and read;
  ``Latency_Model/Tile_latency.py``, ``Model_latency.py``) at ``buffer.bandwidth_bits_per_ns``, each
  of the four accesses in whole ``buffer_word_bits`` words (``Hardware_Model/Buffer.py``), drawing
  ``buffer_power_mw_per_crossbar`` per charged crossbar and per ``tile_buffers`` of each tile
  meanwhile (``Energy_Model/Model_energy.py``: energy = power x latency; ``Hardware_Model/Tile.py``:
  the PEs' input buffers and the tile's output buffer);
- ``tiles_per_pool``: a max or average pooling node takes that many whole tiles of its own
  (``Tile_connection_graph.py``: a pooling layer's ``PEnum`` is 1, so one tile);
- inter-tile transfer (``transfer_bits_per_ns`` > 0): a layer spread over ``T > 1`` tiles
  first merges ``c min(X, crossbars_per_tile) in_bits`` partial-sum bits over ``h = floor(sqrt(T))``
  hops (the farthest tile of a compact block from its central aggregator), then per output pixel
  the ``C_out in_bits`` output vector leaves the block (``h`` hops) and travels ``transfer_hops``
  more (``Model_latency.py`` ``transfer_time`` and ``merge_time``, ``Tile_connection_graph.py``
  ``inLayer_distance`` and ``transLayer_distance``);
- ``placement``: ``block`` (the hops above: a compact block of tiles and a fixed ``transfer_hops``)
  or ``spiral`` (the tiles laid along MNSIM's corner spiral and each stage's aggregator chosen as
  it chooses it; a layer merges over its aggregator's ``d_in`` hops, ``hop_latency_ns`` plus
  ``c min(X, crossbars_per_tile) in_bits`` bits per hop, and sends its ``C_out in_bits`` outputs
  over ``d_out`` hops; :mod:`fastnax.hwmodel.pipeline`);
- ``pipeline``: ``layer`` (the schedule's: the layers' sum, or the slowest layer plus the others'
  one-pixel fill) or ``pixel`` (MNSIM's pixel-level pipeline, :mod:`fastnax.hwmodel.pipeline`:
  every pixel starts when the input pixels it needs are done, with the pooling and addition nodes
  as stages of their own: a pooling pixel writes ``C s^2`` and reads ``C k^2`` inputs in its
  tile's buffer, takes ``pool_latency_ns`` per ``pool_units`` channels and ``pool_window`` window
  cells, writes and reads its ``C`` outputs and sends them over its ``d_out`` hops; an addition
  pixel takes ``add_latency_ns``, writes and reads its two ``C``-vectors in the global buffer and
  sends the sum over its ``d_out`` hops; ``Latency_Model/Pooling_latency.py``, ``Model_latency.py``).
  The activation traffic of the weight-free nodes (``LayerTable.act_elems``) is then these
  stages' and adds no latency of its own.

The layer latency is ``P`` times the per-pixel compute, buffer and transfer times; the schedule
(sum over layers, or the slowest layer plus the others' one-pixel fill) is ``schedule``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from fastnax.arch import KIND_PAD, LayerTable
from fastnax.errors import HardwareError
from fastnax.hwmodel.pipeline import check_dataflow, conv_padding, pixel_pipeline, placement_distances
from fastnax.hwmodel.specs import _check_fields

ROW_MAPPINGS = ("packed", "kernel_aligned")
# Rows per block of the evaluation: a block's (rows x slots) temporaries stay in the CPU caches.
BLOCK_ROWS = 2048
SLICE_MAPPINGS = ("packed", "per_crossbar")
PERIPHERY_CHARGES = ("crossbar", "used")
PLACEMENTS = ("block", "spiral")
LINE_BUFFERS = ("column", "raster")
PIPELINES = ("layer", "pixel")


@dataclass(frozen=True)
class MappingSpec:
    """Layer-to-crossbar mapping conventions (see the module docstring for each one's source)."""

    rows: str = "packed"
    """``packed`` (``ceil(k^2 C_in / N)`` crossbars down) or ``kernel_aligned`` (whole input
    channels per crossbar: ``ceil(C_in / floor(N / k^2))``; packed where ``k^2 > N``)."""

    slices: str = "packed"
    """``packed`` (weight slices side by side on one crossbar's columns) or ``per_crossbar``
    (one slice per crossbar; a differential pair is two crossbars sharing their ADCs)."""

    periphery: str = "crossbar"
    """``crossbar`` (all ``N`` rows and columns of every crossbar converted every cycle) or
    ``used`` (the rows and columns the layer's fullest crossbar uses)."""

    adcs_per_crossbar: int = 0
    """ADCs built per crossbar (per pair under ``per_crossbar`` differential slices); 0: one per
    ``adc.columns_per_adc`` columns, ``ceil(N / columns_per_adc)``."""

    crossbars_per_tile: int = 0
    """Crossbars (pairs) per tile; 0: no tiles (area and energy per crossbar)."""

    tile_area_mm2: float = 0.0
    """Area of one tile besides its crossbars and their periphery (buffers, pooling units, joint
    modules, control), mm^2. Read only with tiles."""

    buffer_power_mw_per_crossbar: float = 0.0
    """Power drawn per charged crossbar while the tile buffers move a pixel's data, mW (energy
    = power x buffer time). Read only with tiles."""

    tile_buffers: int = 0
    """Buffers per tile besides one per charged crossbar, each drawing ``buffer_power_mw_per_crossbar``
    (MNSIM: the tile's output buffer beside its PEs' input buffers). Read only with tiles."""

    buffer_word_bits: int = 0
    """Every buffer access moves whole words of this many bits (MNSIM: ``Buffer_Bitwidth``); 0:
    exactly its bits. Read only with tiles."""

    line_buffer: str = "column"
    """Input line-buffer traffic per pixel: ``column`` (every pixel writes and reads a new column
    of ``rows / k`` inputs) or ``raster`` (MNSIM's raster-order loads, averaged over the layer:
    the first pixel of the layer and of each row fill more of the window). Read only with tiles."""

    tiles_per_pool: int = 0
    """Tiles each max/average pooling node occupies (``LayerTable.n_pool``, set by the importer),
    at the architecture's largest crossbar size. Read only with tiles."""

    transfer_bits_per_ns: float = 0.0
    """Inter-tile link bandwidth, bits per ns; 0: no transfer time. Read only with tiles."""

    transfer_hops: float = 0.0
    """Tile-to-tile hops of each output vector. Read only with a transfer bandwidth and the
    ``block`` placement."""

    placement: str = "block"
    """``block`` (merge over ``floor(sqrt(tiles))`` hops, outputs over ``transfer_hops`` more) or
    ``spiral`` (MNSIM's tile spiral and aggregator rule). ``spiral`` needs tiles and a transfer
    bandwidth."""

    mesh_tiles: int = 64
    """Side of the square tile mesh of the ``spiral`` placement (doubled for a network whose
    tiles do not fit; MNSIM refuses it). Read only with ``spiral``."""

    hop_latency_ns: float = 0.0
    """Time per hop of a merge besides its bits (MNSIM: one digital clock), ns. Read only with
    ``spiral``."""

    pipeline: str = "layer"
    """``layer`` (the schedule's layer-level latency) or ``pixel`` (MNSIM's pixel-level pipeline
    with pooling and addition stages). ``pixel`` needs tiles."""

    pool_latency_ns: float = 0.0
    """Pooling unit time per pass (``pool_units`` channels, ``pool_window`` window cells), ns.
    Read only with the ``pixel`` pipeline."""

    pool_units: int = 64
    """Channels pooled at once. Read only with the ``pixel`` pipeline."""

    pool_window: int = 9
    """Window cells pooled at once. Read only with the ``pixel`` pipeline."""

    add_latency_ns: float = 0.0
    """Time of one addition pixel besides its buffer and transfer, ns. Read only with the
    ``pixel`` pipeline."""

    def __post_init__(self) -> None:
        _check_fields(self, ints={"adcs_per_crossbar": 0, "crossbars_per_tile": 0, "tiles_per_pool": 0,
                                  "tile_buffers": 0, "buffer_word_bits": 0,
                                  "mesh_tiles": 1, "pool_units": 1, "pool_window": 1},
                      choices={"rows": ROW_MAPPINGS, "slices": SLICE_MAPPINGS,
                               "periphery": PERIPHERY_CHARGES, "placement": PLACEMENTS,
                               "line_buffer": LINE_BUFFERS,
                               "pipeline": PIPELINES})
        if self.placement == "spiral" and not (self.crossbars_per_tile and self.transfer_bits_per_ns):
            raise HardwareError("MappingSpec.placement 'spiral' needs crossbars_per_tile > 0 and "
                                "transfer_bits_per_ns > 0")
        if self.pipeline == "pixel" and not self.crossbars_per_tile:
            raise HardwareError("MappingSpec.pipeline 'pixel' needs crossbars_per_tile > 0")

    @property
    def is_default(self) -> bool:
        """True when every field holds the engine's own convention (priced by the fast path)."""
        return self == _DEFAULT

    def unread_fields(self) -> tuple[str, ...]:
        """Dotted names of the fields no formula reads under this configuration."""
        unread = []
        if self.crossbars_per_tile == 0:
            unread += ["mapping.tile_area_mm2", "mapping.tiles_per_pool",
                       "mapping.buffer_power_mw_per_crossbar", "mapping.tile_buffers",
                       "mapping.buffer_word_bits", "mapping.transfer_bits_per_ns",
                       "mapping.transfer_hops"]
        elif self.transfer_bits_per_ns == 0 or self.placement == "spiral":
            unread.append("mapping.transfer_hops")
        if self.placement != "spiral":
            unread += ["mapping.mesh_tiles", "mapping.hop_latency_ns"]
        if self.pipeline != "pixel":
            unread += ["mapping.pool_latency_ns", "mapping.pool_units", "mapping.pool_window",
                       "mapping.add_latency_ns"]
        return tuple(unread)


def evaluate(model, lut, table: LayerTable) -> tuple[dict, callable]:
    """Totals of ``table`` under ``model``'s mapping conventions, and the per-layer arrays' maker.

    Parameters
    ----------
    model : HardwareModel
    lut : fastnax.hwmodel.engine.Lookup
        The table's per-crossbar costs (ADC bits, noise sigma, per-knob factors).
    table : LayerTable
        Validated by the caller.

    Returns
    -------
    totals : dict of ndarray of shape (n_archs,)
        ``energy_pj``, ``latency_ns``, ``area_mm2``, ``macs``, ``mean_noise_sigma``.
    layers : callable
        Returns the :data:`fastnax.hwmodel.breakdown.Cost.PER_LAYER` arrays, each of shape
        (n_archs, n_slots) (computed again, on first access: the search reads only totals).
    """
    n = table.n_archs
    totals = {name: np.zeros(n) for name in ("energy_pj", "latency_ns", "area_mm2", "macs", "mean_noise_sigma")}
    for start in range(0, n, BLOCK_ROWS):  # blocks of rows whose temporaries stay in cache
        rows = slice(start, min(n, start + BLOCK_ROWS))
        for name, value in _block(model, lut, table, rows, None).items():
            totals[name][rows] = value

    def layers() -> dict:
        from fastnax.hwmodel.breakdown import Cost

        store = {name: np.zeros((n, table.n_slots)) for name in Cost.PER_LAYER}
        for start in range(0, n, BLOCK_ROWS):
            _block(model, lut, table, slice(start, min(n, start + BLOCK_ROWS)), store)
        return store

    return totals, layers


def _block(model, lut, table: LayerTable, block: slice, store: dict | None) -> dict:
    """The totals of the ``block`` of rows of the table (and their per-layer arrays into ``store``)."""
    from fastnax.hwmodel.tables import check_block

    mp, xb, adc, dac, per, buf, sch = (model.mapping, model.crossbar, model.adc, model.dac,
                                       model.periphery, model.buffer, model.schedule)
    n, slots = block.stop - block.start, table.n_slots
    mask = table.kind[block] != KIND_PAD
    key = table.crossbar_size[block] + lut.key_base[block, None]
    N = lut.n_safe.take(key)  # 1 in padded slots
    k = np.maximum(table.kernel[block], 1).astype(np.float64)
    c_in = table.c_in[block].astype(np.float64)
    c_out = table.c_out[block].astype(np.float64)
    R = k * k * c_in
    P = (table.out_h[block] * table.out_w[block]).astype(np.float64)
    in_act = table.in_h[block] * table.in_w[block] * table.c_in[block]
    if not np.array_equal((R * c_out * P * in_act * table.crossbar_size[block]) != 0, mask):
        check_block(table, block, mask)
    w_bits, in_bits, cell_bits = (getattr(table, f)[block].astype(np.float64)[:, None]
                                  for f in ("w_bits", "in_bits", "cell_bits"))
    pair_factor = 2.0 if xb.differential else 1.0
    slices = np.ceil(w_bits / cell_bits)
    # --- mapping: crossbars across (mx) and down (my), used columns and rows ---------------------
    if mp.slices == "per_crossbar":
        mx = slices * np.ceil(c_out / N)
        cols = np.minimum(c_out, N)
        pair = pair_factor
    else:
        mx = np.ceil(c_out * slices * pair_factor / N)
        cols = np.minimum(c_out * slices * pair_factor, N)
        pair = 1.0
    channels = np.floor(N / (k * k))
    aligned = (mp.rows == "kernel_aligned") & (channels >= 1)
    my = np.where(aligned, np.ceil(c_in / np.maximum(channels, 1.0)), np.ceil(R / N))
    rows = np.where(aligned, np.minimum(channels, c_in) * k * k, np.minimum(R, N))
    X = mx * my
    # --- periphery per firing ------------------------------------------------------------------
    rp = float(xb.rows_parallel) if xb.rows_parallel > 0 else None
    n_adc = float(mp.adcs_per_crossbar) if mp.adcs_per_crossbar else None
    if mp.periphery == "used":
        groups = np.ceil(rows / rp) if rp else np.ones_like(rows)
        adcs = np.full_like(N, n_adc) if n_adc else np.ceil(N / adc.columns_per_adc)
        mux = np.ceil(N / adcs)
        steps = np.ceil(cols / adcs)  # conversion steps per row group
        conversions = steps * np.ceil(cols / mux)
        drivers = rows
    else:
        groups = np.ceil(N / rp) if rp else np.ones_like(N)
        adcs = np.full_like(N, n_adc) if n_adc else np.ceil(N / adc.columns_per_adc)
        steps = np.full_like(N, float(adc.columns_per_adc))
        conversions = N
        drivers = N
    bits = lut.adc_bits.take(key)
    units = adc.units(bits)
    cycles = np.ceil(in_bits / dac.bits)
    # the array: all N x N cells, or (used) the cells of the used rows and columns
    cells_read = rows * cols / (N * N) if mp.periphery == "used" else 1.0
    e_firing = (pair * xb.energy_pj_at_128 * (N / 128.0) ** xb.energy_exponent * cells_read
                + groups * conversions * (xb.bitline_energy_pj_at_128 * N / 128.0 + adc.energy_pj_per_unit * units
                                          + per.shift_add_energy_pj)
                + drivers * dac.energy_pj)
    if mp.periphery == "used":  # every conversion step waits for its array read
        t_step = groups * steps * (adc.latency_ns_per_unit * units + xb.read_latency_ns)
    else:
        t_step = groups * steps * adc.latency_ns_per_unit * units + xb.read_latency_ns
    t_compute = t_step * (cycles + sch.pipeline_fill_steps) / sch.replication
    a_crossbar = (pair * xb.area_um2_at_128 * 1e-6 * (N / 128.0) ** xb.area_exponent
                  + adcs * adc.area_mm2_per_unit * units + N * dac.area_mm2
                  + pair * 2.0 * N * per.line_area_um2 * 1e-6 + per.shift_add_area_mm2)
    # --- tiles, buffers, transfers ---------------------------------------------------------------
    act = P * c_out + in_act
    bit_energy, bit_time = lut.bit_energy[block, None], lut.bit_time[block, None]
    if mp.crossbars_per_tile:
        cpt = float(mp.crossbars_per_tile)
        tiles = np.ceil(X / cpt)
        busy = np.minimum(X, cpt)
        charged = tiles * busy
        area = tiles * (cpt * a_crossbar + mp.tile_area_mm2)
        # the tile output buffer: partial sums of adc_bits + log2(busy) bits written, the
        # in_bits outputs read; the input line buffer: a new column of rows / k inputs written, read
        word = _words(mp.buffer_word_bits)
        if mp.line_buffer == "raster":
            line_bits = _raster_line_bits(table, block, k, rows / (k * k), in_bits, word)
        else:
            line_bits = 2.0 * word(in_bits * rows / k)
        buffer_bits = (word(cols * busy * (bits + np.ceil(np.log2(np.maximum(busy, 1.0)))))
                       + word(cols * busy * in_bits) + line_bits)
        t_buffer = buffer_bits / buf.bandwidth_bits_per_ns
        buffers = charged + tiles * mp.tile_buffers
        e_buffer = buffers * P * t_buffer * mp.buffer_power_mw_per_crossbar  # mW x ns = pJ
        if mp.transfer_bits_per_ns and mp.placement == "spiral":
            hops_in, hops_out, pool_hops, add_hops = placement_distances(
                table, block, np.where(mask, tiles, 0.0), mp.tiles_per_pool, mp.mesh_tiles)
            t_transfer = ((hops_out * c_out + hops_in * cols * busy) * in_bits / mp.transfer_bits_per_ns
                          + hops_in * mp.hop_latency_ns)
        elif mp.transfer_bits_per_ns:
            # the merge: floor(sqrt(T)) hops, from the farthest tile of a compact sqrt(T) x sqrt(T)
            # block to its central aggregator (none for one tile); the output vector then leaves the
            # block (the same hops) before its transfer_hops
            block_hops = np.where(tiles > 1, np.floor(np.sqrt(tiles)), 0.0)
            t_transfer = (((mp.transfer_hops + block_hops) * c_out + block_hops * cols * busy) * in_bits
                          / mp.transfer_bits_per_ns)
        else:
            t_transfer = 0.0
        pixel_ns = t_compute + t_buffer + t_transfer
        energy = P * cycles * charged * e_firing + e_buffer
        latency = P * pixel_ns
    else:
        charged = X
        area = X * a_crossbar * (1.0 + per.tile_overhead)
        energy = P * cycles * X * e_firing + act * bit_energy
        pixel_ns = t_compute + act * bit_time / np.maximum(P, 1.0)
        latency = P * t_compute + act * bit_time
    zero = lambda a: np.where(mask, a, 0.0)  # noqa: E731  (padded slots cost nothing)
    energy, latency, area, pixel_ns = zero(energy), zero(latency), zero(area), zero(pixel_ns)
    macs = zero(R * c_out * P)
    sigma = zero(lut.sigma.take(key))
    traffic = table.act_elems[block].astype(np.float64)
    if mp.pipeline == "pixel" and slots:
        check_dataflow(table, block)
        flow = table.dataflow(block)
        pk = flow["pool_kernel"].astype(np.float64)
        ps = flow["pool_stride"].astype(np.float64)
        bw = buf.bandwidth_bits_per_ns  # (the pixel pipeline needs tiles: ``word`` is the tiles' above)
        hop_ns = in_bits * c_out / mp.transfer_bits_per_ns if mp.transfer_bits_per_ns else 0.0 * c_out
        if mp.placement != "spiral":
            pool_hops = add_hops = np.full(c_out.shape, mp.transfer_hops)
        if mp.line_buffer == "raster":
            pool_line = _raster_line_bits(table, block, pk, c_out, in_bits, word, pool=True)
        else:
            pool_line = word(ps * ps * c_out * in_bits) + word(pk * pk * c_out * in_bits)
        pool_ns = ((pool_line + 2.0 * word(c_out * in_bits)) / bw
                   + pool_hops * hop_ns
                   + mp.pool_latency_ns * np.ceil(c_out / mp.pool_units) * np.ceil(pk * pk / mp.pool_window))
        add_ns = mp.add_latency_ns + 2.0 * word(2.0 * c_out * in_bits) / bw + add_hops * hop_ns
        total_latency = pixel_pipeline(table, block, pixel_ns, pool_ns, add_ns)
    elif sch.layer_pipelined and slots:
        slowest = latency.argmax(axis=1)[:, None]
        total_latency = (np.take_along_axis(latency, slowest, 1)[:, 0] + pixel_ns.sum(axis=1)
                         - np.take_along_axis(pixel_ns, slowest, 1)[:, 0])
    else:
        total_latency = latency.sum(axis=1)
    m = macs.sum(axis=1)
    total_area = area.sum(axis=1)
    if mp.crossbars_per_tile and mp.tiles_per_pool and slots:
        n_pool = table.n_pool[block]
        if n_pool.min() < 0:
            raise HardwareError(f"n_pool must be >= 0, got {n_pool.min()}")
        largest = np.where(mask, N, 0.0).argmax(axis=1)[:, None]  # a pooling tile: a whole tile
        pool_tile = mp.crossbars_per_tile * np.take_along_axis(a_crossbar * np.ones_like(N), largest, 1)[:, 0] \
            + mp.tile_area_mm2
        total_area = total_area + n_pool * mp.tiles_per_pool * pool_tile
    if mp.pipeline != "pixel":
        total_latency = total_latency + traffic * lut.bit_time[block]
    totals = {"energy_pj": energy.sum(axis=1) + traffic * lut.bit_energy[block],
              "latency_ns": total_latency,
              "area_mm2": total_area, "macs": m,
              "mean_noise_sigma": (sigma * macs).sum(axis=1) / np.maximum(m, 1.0)}
    if store is not None:
        layers = {"layer_energy_pj": energy, "layer_latency_ns": latency, "layer_area_mm2": area,
                  "crossbars": zero(X * pair), "adc_bits": zero(bits), "noise_sigma": sigma,
                  "utilization": zero(R * c_out * slices * pair_factor / np.maximum(X * pair * N * N, 1.0))}
        for name, value in layers.items():
            store[name][block] = value
    return totals


def _raster_line_bits(table, block, k, channels, in_bits, word, pool=False):
    """Mean line-buffer bits (written + read) per output pixel when a layer's pixels are computed
    in raster order (MNSIM 2.0, ``Model_latency.py``, ``mode=1``): the first pixel writes its
    window's ``(k - p)^2 C`` inputs, the first of every other row ``s (k - p) C``, the rest of the
    first row ``s k C`` (a pooling: ``s^2 C``), every other pixel ``s^2 C``; a pixel that starts a
    row reads ``k^2 C`` inputs, the others ``s k C``. Every access in whole words."""
    if pool:  # the pooling after the slot: its window on the slot's output
        s = np.maximum(table.dataflow(block)["pool_stride"], 1).astype(np.float64)
        h_in = table.out_h[block].astype(np.float64)
        H = np.floor((h_in - k) / s) + 1
        W = np.floor((table.out_w[block] - k) / s) + 1
        p = np.zeros_like(k)
    else:
        s = np.maximum(table.stride[block], 1).astype(np.float64)
        H, W = table.out_h[block].astype(np.float64), table.out_w[block].astype(np.float64)
        p = conv_padding(H, s, k, table.in_h[block])
    H, W = np.maximum(H, 1.0), np.maximum(W, 1.0)
    lead = np.maximum(k - p, 0.0)
    c = channels * in_bits
    first_row = s * s * c if pool else s * k * c
    writes = (word(lead * lead * c) + (H - 1) * word(s * lead * c) + (W - 1) * word(first_row)
              + (H - 1) * (W - 1) * word(s * s * c))
    reads = H * word(k * k * c) + H * (W - 1) * word(s * k * c)
    return (writes + reads) / (H * W)


def _words(word_bits: int):
    """Bits moved when a buffer access of ``x`` bits takes whole ``word_bits`` words (0: exactly x)."""
    if not word_bits:
        return lambda x: x
    return lambda x: np.ceil(np.asarray(x) / word_bits) * word_bits


_DEFAULT = MappingSpec()
MAPPING_FIELDS = tuple(f.name for f in fields(MappingSpec))
