"""Mapping conventions and the mnsim2 preset: hand-computed layers, defaults unchanged, fields read."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pytest

from fastnax import hwmodel, spaces
from fastnax.arch import KIND_CONV, LayerTable
from fastnax.errors import FastnaxError, HardwareError
from fastnax.hwmodel import engine, mapping
from fastnax.hwmodel.mapping import MappingSpec
from fastnax.hwmodel.presets import MNSIM_ADC_DESIGNS, mnsim2_model, mnsim_adc


def _one_conv(k, c_in, c_out, hw, n, w_bits=8, in_bits=9, cell_bits=1) -> LayerTable:
    one = lambda v: np.array([[v]], dtype=np.int64)  # noqa: E731
    return LayerTable(kind=np.array([[KIND_CONV]], dtype=np.int8), kernel=one(k), stride=one(1), c_in=one(c_in),
                      c_out=one(c_out), in_h=one(hw), in_w=one(hw), out_h=one(hw), out_w=one(hw),
                      crossbar_size=one(n), w_bits=np.array([w_bits]), in_bits=np.array([in_bits]),
                      cell_bits=np.array([cell_bits]), adc_rule=np.array([0]), n_skip=np.array([0]),
                      act_elems=np.array([0]))


def test_default_conventions_reproduce_the_engine():
    """The conventions' formulas at their defaults give the fast path's totals and per-layer arrays."""
    for name in ("imc", "nb201"):
        space = spaces.get(name)
        table = space.layer_table(space.sample_vectors(300, seed=3))
        for preset in ("puma-32nm", "neurosim-22nm-rram", "neurosim-22nm-sram"):
            for pipelined in (False, True):
                model = hwmodel.get_preset(preset)
                model = dataclasses.replace(model, name=f"{preset}-test",
                                            schedule=dataclasses.replace(model.schedule, layer_pipelined=pipelined))
                fast = model.evaluate(table)
                lut = engine.Lookup(model, model.nonideality, table)
                totals, make_layers = mapping.evaluate(model, lut, table)
                layers = make_layers()
                for key in engine.TOTALS:
                    np.testing.assert_allclose(totals[key], getattr(fast, key), rtol=1e-9, err_msg=key)
                for key, value in layers.items():
                    np.testing.assert_allclose(value, getattr(fast, key), rtol=1e-9, atol=1e-12, err_msg=key)


def test_existing_presets_keep_default_mapping():
    for preset in ("puma-32nm", "neurosim-22nm-rram", "neurosim-22nm-sram"):
        assert hwmodel.get_preset(preset).mapping.is_default
    assert not hwmodel.get_preset("mnsim2").mapping.is_default


def test_mnsim_adc_table():
    adc = mnsim_adc(6)  # ASPDAC2: 6 bits, 1.26 mW, 1 GS/s, 1650 um^2; (6 + 2) / 1 ns per conversion
    assert (adc.bits, adc.latency_ns_per_unit) == (6, 8.0)
    assert math.isclose(adc.energy_pj_per_unit, 1.26 * 8.0) and math.isclose(adc.area_mm2_per_unit, 1650e-6)
    assert math.isclose(mnsim_adc(8).latency_ns_per_unit, 1.0)  # the 1-bit sense amplifier: 1 / rate
    assert math.isclose(mnsim_adc(9).latency_ns_per_unit, 256 / 6.0)  # choice 9: 2^bits / rate
    assert math.isclose(mnsim_adc(2).energy_pj_per_unit, 2.0 * 10 / 1.28)  # ISAAC: 2 mW, (8 + 2) / 1.28 ns
    assert sorted(MNSIM_ADC_DESIGNS) == list(range(1, 10))
    with pytest.raises(FastnaxError, match="MNSIM ADC choice"):
        mnsim_adc(10)


def test_mnsim2_layer_by_hand():
    """One 3x3 convolution, 20 -> 300 channels, 8x8 pixels, on 64x64 crossbars, from MNSIM's numbers."""
    cost = hwmodel.get_preset("mnsim2").evaluate(_one_conv(3, 20, 300, 8, 64))
    P, cycles = 64, 9
    # kernel-aligned rows: floor(64 / 9) = 7 channels per crossbar, ceil(20 / 7) = 3 down, 63 rows used;
    # one 1-bit slice of the 8 magnitude bits per crossbar pair: 8 ceil(300 / 64) = 40 across, 64 columns
    pairs, tiles, rows, cols = 3 * 40, 30, 63, 64
    assert cost.crossbars[0, 0] == 2 * pairs
    # a firing: used cells of both crossbars (75.8 nW per cell for 3.16 ns), 64 conversions of the
    # 6-bit ADC (1.26 mW x 8 ns) in one row group (128 DACs >= 63 rows), 63 DAC drives (3.9 uW x 3 ns)
    cell_pj = 1.2412e-3 / 16384 * 3.16 * 1e3
    firing = 2 * rows * cols * cell_pj + 64 * 1.26 * 8 + rows * 3.9e-3 * 3
    # tile buffers: 64 columns x 4 busy pairs x (6 + 2) bits written and x 9 bits read; the line
    # buffer of the 7 channels a crossbar holds (63 bits a pixel), in raster order over the 8 x 8
    # outputs (padding 1): the first pixel writes its 2 x 2 window (252 bits), the first of each
    # other row 2 x 63, the rest of the first row 3 x 63, the others 63; a row's first pixel reads
    # the 3 x 3 window (567), the others a 3-input column (189); each access in whole 64-bit words;
    # 64 bits per 20 ns, at 1.524 mW (the mean of 1.385 and 1.663 mW) per charged pair and per
    # tile (its output buffer)
    writes = 256 + 7 * 128 + 7 * 192 + 49 * 64
    reads = 8 * 576 + 56 * 192
    t_buffer = (64 * 4 * 8 + 64 * 4 * 9 + (writes + reads) / 64) / 3.2
    energy = P * cycles * pairs * firing + (pairs + tiles) * P * t_buffer * (1.384903 + 1.663233) / 2
    assert math.isclose(cost.energy_pj[0], energy, rel_tol=1e-9)
    # per pixel: 9 cycles x 1 step x (8 ns ADC + 3.16 ns read + 3 ns DAC), the buffers, and the
    # 64 x 4 x 9-bit merge at 20 bits/ns plus one 2-ns clock per hop: the 30 tiles fill the spiral's
    # first 25 (a 5 x 5 square) and 5 of column 5, a 5 x 6 block whose best aggregator is 2 + 3 = 5
    # hops from its farthest tile; the only (last) layer sends nothing on. One stage: P pixels back to back
    pixel = cycles * (8 + 3.16 + 3) + t_buffer + 5 * 64 * 4 * 9 / 20 + 5 * 2.0
    assert math.isclose(cost.latency_ns[0], P * pixel, rel_tol=1e-9)
    # 30 whole tiles of 4 pairs: 2 x 64^2 x 1.44 um^2 cells, 128 ADCs of 1650 um^2, 64 DACs of
    # 0.166 um^2, 64 row drivers of 1150 um^2 per crossbar; plus 362,738.4 um^2 per tile
    pair_um2 = 2 * 64 * 64 * 1.44 + 128 * 1650 + 64 * 0.166 + 2 * 64 * 1150
    assert math.isclose(cost.area_mm2[0], tiles * (4 * pair_um2 + 362738.4046) * 1e-6, rel_tol=1e-9)
    # a weight holds a cell in the positive and in the negative crossbar
    assert math.isclose(cost.utilization[0, 0], 9 * 20 * 300 * 8 * 2 / (2 * pairs * 64 * 64))


def test_conventions_one_at_a_time():
    """Each convention changes what its docstring says, against the engine's defaults."""
    puma = hwmodel.get_preset("puma-32nm")
    table = _one_conv(5, 6, 4, 10, 64, w_bits=8, in_bits=8, cell_bits=2)  # 150 rows, 16 columns
    base = puma.evaluate(table)
    assert base.crossbars[0, 0] == 3 * 1  # ceil(150 / 64) x ceil(4 x 4 / 64)

    def with_mapping(**fields):
        model = dataclasses.replace(puma, name="puma-test", mapping=MappingSpec(**fields))
        return model.evaluate(table)

    aligned = with_mapping(rows="kernel_aligned")  # floor(64 / 25) = 2 channels: ceil(6 / 2) = 3 down
    assert aligned.crossbars[0, 0] == 3
    per_slice = with_mapping(slices="per_crossbar")  # 4 slices x ceil(4 / 64) = 4 across
    assert per_slice.crossbars[0, 0] == 3 * 4
    used = with_mapping(periphery="used")  # 16 conversions per firing instead of 64
    assert used.energy_pj[0] < base.energy_pj[0]
    tiled = with_mapping(crossbars_per_tile=8, tile_area_mm2=0.01)  # 3 crossbars -> 1 tile of 8
    per_crossbar = base.area_mm2[0] / 3
    assert math.isclose(tiled.area_mm2[0], 8 * per_crossbar + 0.01, rel_tol=1e-9)
    # the kernel-aligned rule falls back to packed rows where a kernel is larger than the crossbar
    big = _one_conv(9, 4, 8, 4, 64, w_bits=8, in_bits=8, cell_bits=2)  # 81 rows per channel > 64
    fallback = dataclasses.replace(puma, name="puma-test", mapping=MappingSpec(rows="kernel_aligned")).evaluate(big)
    assert fallback.crossbars[0, 0] == puma.evaluate(big).crossbars[0, 0]


def test_mapping_fields_are_read_or_refused(tmp_path):
    puma = hwmodel.get_preset("puma-32nm")
    with pytest.raises(HardwareError, match="mapping.tile_area_mm2.*crossbars_per_tile"):
        puma.with_overrides({"mapping": {"tile_area_mm2": 1.0}})
    with pytest.raises(HardwareError, match="transfer_hops.*transfer_bits_per_ns"):
        puma.with_overrides({"mapping": {"crossbars_per_tile": 4, "transfer_hops": 3.0}})
    tiled = puma.with_overrides({"mapping": {"crossbars_per_tile": 4, "tile_area_mm2": 1.0}})
    assert tiled.mapping.crossbars_per_tile == 4 and tiled.name == "puma-32nm+overrides"
    with pytest.raises(FastnaxError, match="MappingSpec.rows 'diagonal'; expected one of: kernel_aligned, packed"):
        MappingSpec(rows="diagonal")
    with pytest.raises(HardwareError, match="crossbars_per_tile"):
        MappingSpec(crossbars_per_tile=-1)
    chip = tmp_path / "chip.toml"
    chip.write_text('base = "mnsim2"\n[mapping]\nhop_latency_ns = 0.5\n')
    model = hwmodel.HardwareModel.from_file(chip)
    assert model.mapping.hop_latency_ns == 0.5 and model.name == "mnsim2+chip.toml"
    # the spiral placement measures its own hops; the pixel pipeline's stage fields need it
    with pytest.raises(HardwareError, match="transfer_hops.*not read under mapping.placement = 'spiral'"):
        hwmodel.get_preset("mnsim2").with_overrides({"mapping": {"transfer_hops": 8.0}})
    with pytest.raises(HardwareError, match="pool_latency_ns.*mapping.pipeline = 'pixel'"):
        tiled.with_overrides({"mapping": {"pool_latency_ns": 50.0}})
    with pytest.raises(HardwareError, match="placement 'spiral' needs crossbars_per_tile"):
        MappingSpec(placement="spiral")
    assert hwmodel.HardwareModel.from_dict(model.to_dict()) == model
    table = _one_conv(3, 20, 300, 8, 64)
    assert model.evaluate(table).latency_ns[0] < hwmodel.get_preset("mnsim2").evaluate(table).latency_ns[0]


def test_mnsim2_on_an_imported_network_and_batch_equals_single():
    torch = pytest.importorskip("torch")
    from torch import nn

    from fastnax.hwmodel.importer import import_torch

    net = import_torch(nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                                     nn.Flatten(), nn.Linear(16 * 10 * 10, 10)), (3, 32, 32))
    model = mnsim2_model(7)
    tables = [net.layer_table(n, w_bits=8, in_bits=9, cell_bits=1) for n in (64, 128, 256, 512)]
    singles = [model.evaluate(t) for t in tables]
    batch = model.evaluate(LayerTable(**{f.name: np.concatenate([getattr(t, f.name) for t in tables])
                                         for f in dataclasses.fields(LayerTable)}))
    for i, single in enumerate(singles):
        for key in ("energy_pj", "latency_ns", "area_mm2"):
            assert math.isclose(getattr(batch, key)[i], getattr(single, key)[0], rel_tol=1e-12)
            assert np.isfinite(getattr(single, key)[0]) and getattr(single, key)[0] > 0
    # the max pooling takes one whole tile of its own: 4 pairs of 64x64 crossbars (cells, 128 ADCs of
    # ADC choice 7's 500 um^2, DACs, row drivers) and the tile's 362,738.4 um^2
    assert tables[0].n_pool[0] == 1
    no_pool = model.evaluate(dataclasses.replace(tables[0], n_pool=np.array([0])))
    tile_um2 = 4 * (2 * 64 * 64 * 1.44 + 128 * 500 + 64 * 0.166 + 2 * 64 * 1150) + 362738.4046
    assert math.isclose(singles[0].area_mm2[0] - no_pool.area_mm2[0], tile_um2 * 1e-6, rel_tol=1e-9)
    # per-layer energies plus the pooling traffic are the total
    cost = singles[0]
    traffic = 6 * 14 * 14 * 2 * 9 * model.buffer.energy_pj_per_bit
    assert math.isclose(cost.layer_energy_pj[0].sum() + traffic, cost.energy_pj[0], rel_tol=1e-9)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MNSIM_ROOT"), reason="MNSIM 2.0's source is not at hand (MNSIM_ROOT)")
def test_against_mnsim_itself(tmp_path):
    """MNSIM 2.0 run on LeNet at 128x128 crossbars, ADC choice 6: totals within the issue's bounds."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benchmarks" / "hwmodel_vs_mnsim.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from fastnax.hwmodel.importer import import_torch

    result = bench.run_mnsim(Path(os.environ["MNSIM_ROOT"]), os.environ.get("MNSIM_PYTHON", "python"), "lenet",
                             128, 6, 64, str(tmp_path))
    net = import_torch(bench.networks()["lenet"], (3, 32, 32))
    assert bench.weight_shapes_of(net) == bench.weight_shapes_of_mnsim(result["layers"])
    cost = hwmodel.get_preset("mnsim2").evaluate(net.layer_table(128, **bench.KNOBS))
    assert 0.75 <= cost.energy_pj[0] / (result["energy_nJ"] * 1e3) <= 1.33
    assert 0.75 <= cost.area_mm2[0] / (result["area_um2"] * 1e-6) <= 1.33
    assert 0.5 <= cost.latency_ns[0] / result["latency_ns"] <= 2.0


def test_raster_line_buffer_is_the_mean_of_its_pixels():
    """The raster line-buffer traffic equals the pixel-by-pixel loads it averages (64-bit words)."""
    from fastnax.hwmodel.mapping import _raster_line_bits, _words

    word = _words(64)
    rng = np.random.default_rng(0)
    for _ in range(20):
        k, s = int(rng.choice([1, 3, 5])), int(rng.choice([1, 2]))
        out, c_in, channels = int(rng.integers(1, 9)), 64, int(rng.integers(1, 20))
        p = int(rng.integers(0, k // 2 + 1))
        hw = (out - 1) * s + k - 2 * p  # the input size that gives this output with padding p
        table = _one_conv(k, c_in, 16, max(hw, 1), 64)
        table.out_h[:] = table.out_w[:] = out
        table.stride[:] = s
        p_used = max(math.ceil(((out - 1) * s + k - max(hw, 1)) / 2), 0)
        total, lead, c = 0.0, max(k - p_used, 0), channels * 9
        for i in range(out):
            for j in range(out):
                if i == 0 and j == 0:
                    w = lead * lead * c
                elif j == 0:
                    w = s * lead * c
                elif i == 0:
                    w = s * k * c
                else:
                    w = s * s * c
                r = k * k * c if j == 0 else s * k * c
                total += float(word(w)) + float(word(r))
        got = _raster_line_bits(table, slice(0, 1), np.array([[float(k)]]), np.array([[float(channels)]]),
                                np.array([[9.0]]), word)
        assert got[0, 0] == pytest.approx(total / (out * out), rel=1e-12), (k, s, out, p_used)
