"""The hardware model: hand-computed costs, published constants, properties over every space."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnax import LayerTable, spaces
from fastnax.arch import KIND_CONV, KIND_LINEAR
from fastnax.cli import main as cli_main
from fastnax.errors import HardwareError, UnknownNameError
from fastnax.hwmodel import (HardwareModel, NonIdeality, export_neurosim, get_preset, layer_noise_sigma,
                             presets)

PRESETS = presets()


def one_layer(kernel=3, c_in=16, c_out=32, h=8, crossbar=64, w_bits=8, in_bits=8, cell_bits=2,
              adc_rule=0, kind=KIND_CONV, pad_slots=0, act_elems=0) -> LayerTable:
    """A LayerTable of one architecture with one weight layer (stride 1, same padding)."""
    L = 1 + pad_slots

    def col(v):
        a = np.zeros((1, L), dtype=np.int64)
        a[0, 0] = v
        return a

    return LayerTable(kind=col(kind).astype(np.int8), kernel=col(kernel), stride=col(1), c_in=col(c_in),
                      c_out=col(c_out), in_h=col(h), in_w=col(h), out_h=col(h), out_w=col(h),
                      crossbar_size=col(crossbar), w_bits=np.array([w_bits]), in_bits=np.array([in_bits]),
                      cell_bits=np.array([cell_bits]), adc_rule=np.array([adc_rule]),
                      n_skip=np.array([0]), act_elems=np.array([act_elems]))


# --- hand-computed one-layer costs ------------------------------------------------------------
def test_puma_one_layer_by_hand():
    # 3x3 conv, 16 -> 32 channels, 8x8 pixels, 64x64 crossbars, 8-bit weights on 2-bit cells:
    # rows 144 -> 3 crossbar rows; columns 32*4 = 128 -> 2; 6 crossbars; ADC ceil(log2(192)) = 8 bits.
    cost = get_preset("puma-32nm").evaluate(one_layer())
    pixels, cycles, xbars = 64, 8, 6
    e_mvm = 4.8 + 64 * (0.225 * 8 + 0.05) + 64 * 0.0035  # crossbar + ADCs + shift-add + DACs
    act_bits = (64 * 16 + 64 * 32) * 8
    energy = pixels * cycles * xbars * e_mvm + act_bits * 0.067
    latency = pixels * 100.0 * (8 + 2) + act_bits / 256.0  # t_adc(8 bits) = 100 ns, (cycles + 2) steps
    area = xbars * (6.25e-6 + 64 * 0.0012 + 64 * 1.67e-7 + 0.00003)
    assert cost.crossbars[0, 0] == 6
    assert cost.adc_bits[0, 0] == 8
    assert cost.utilization[0, 0] == pytest.approx(144 * 128 / (6 * 64 * 64))
    assert cost.energy_pj[0] == pytest.approx(energy, rel=1e-12)
    assert cost.latency_ns[0] == pytest.approx(latency, rel=1e-12)
    assert cost.area_mm2[0] == pytest.approx(area, rel=1e-12)
    assert cost.edap[0] == pytest.approx(energy * latency * area, rel=1e-12)
    assert cost.macs[0] == 9 * 16 * 32 * 64
    assert cost.tops_per_w[0] == pytest.approx(2 * 9 * 16 * 32 * 64 / energy)
    assert cost.tops[0] == pytest.approx(2 * 9 * 16 * 32 * 64 / latency / 1e3)


@pytest.mark.parametrize("name", ["neurosim-22nm-rram", "neurosim-22nm-sram"])
def test_neurosim_one_layer_by_hand(name):
    m = get_preset(name)
    m = dataclasses.replace(m, crossbar=dataclasses.replace(m.crossbar, rows_parallel=32))
    # linear 200 -> 10, 128x128 arrays, 8-bit weights on 1-bit cells: rows 200 -> 2, cols 80 -> 1
    cost = m.evaluate(one_layer(kernel=1, c_in=200, c_out=10, h=1, crossbar=128, cell_bits=1,
                                kind=KIND_LINEAR))
    xb, adc, dac, per, buf, sch = m.crossbar, m.adc, m.dac, m.periphery, m.buffer, m.schedule
    xbars, groups, cycles, bits = 2, 4, 8, 5
    levels = 2 ** bits - 1
    e_mvm = (xb.energy_pj_at_128 + groups * 128 * (xb.bitline_energy_pj_at_128
                                                     + adc.energy_pj_per_unit * levels + per.shift_add_energy_pj)
             + 128 * dac.energy_pj)
    act_bits = (200 + 10) * 8
    energy = cycles * xbars * e_mvm + act_bits * buf.energy_pj_per_bit
    t_step = groups * 8 * adc.latency_ns_per_unit * levels + xb.read_latency_ns
    latency = t_step * cycles / sch.replication + act_bits / buf.bandwidth_bits_per_ns
    a_xbar = xb.area_um2_at_128 * 1e-6 + 16 * adc.area_mm2_per_unit * levels + 128 * dac.area_mm2 \
        + 256 * per.line_area_um2 * 1e-6 + per.shift_add_area_mm2
    area = xbars * a_xbar * (1 + per.tile_overhead)
    assert cost.adc_bits[0, 0] == 5
    assert cost.energy_pj[0] == pytest.approx(energy, rel=1e-12)
    assert cost.latency_ns[0] == pytest.approx(latency, rel=1e-12)
    assert cost.area_mm2[0] == pytest.approx(area, rel=1e-12)


def test_puma_constants_exact():
    m = get_preset("puma-32nm")
    for n, e, a, bits, e_adc, t_adc in ((16, 0.075, 0.39, 6, 1.35, 75), (32, 0.6, 1.56, 7, 1.575, 87.5),
                                        (64, 4.8, 6.25, 8, 1.8, 100), (128, 38.4, 25, 9, 2.025, 112.5)):
        assert m.crossbar.energy_pj_at_128 * (n / 128) ** 3 == pytest.approx(e, rel=1e-12)
        assert round(m.crossbar.area_um2_at_128 * (n / 128) ** 2, 2) == a
        assert m.adc_bits(n, 2, 0) == bits == math.ceil(math.log2(3 * n))
        assert m.adc.energy_pj_per_unit * bits == pytest.approx(e_adc, rel=1e-12)
        assert m.adc.latency_ns_per_unit * bits == pytest.approx(t_adc, rel=1e-12)
    for bits, area in ((6, 0.0009), (7, 0.00105), (8, 0.0012)):
        assert m.adc.area_mm2_per_unit * bits == pytest.approx(area, rel=1e-12)
    # 0.3 mW crossbar for 128 ns = 38.4 pJ; 0.0047 mW x 16 ns ~ 0.075 pJ
    assert 0.3 * 128 == pytest.approx(m.crossbar.energy_pj_at_128)


def test_adc_rules():
    m = get_preset("puma-32nm")
    # lossless: ceil(log2(N*3 + 1)); reduced: two fewer
    assert list(m.adc_bits(np.array([16, 64, 128]), 2, 1)) == [6, 8, 9]
    assert list(m.adc_bits(np.array([16, 64]), 2, 2)) == [4, 6]
    ns = get_preset("neurosim-22nm-rram")
    assert list(ns.adc_bits(np.array([16, 128]), 1, 0)) == [5, 5]
    assert list(ns.adc_bits(np.array([16, 128]), 1, 1)) == [5, 8]


def ref_bits(arch):
    from fastnax.arch import hardware_knobs

    return hardware_knobs(arch)["in_bits"]


# --- batch behaviour ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
def test_batch_equals_one_by_one_and_reference(name):
    model = get_preset(name)
    space = spaces.get("imc")
    archs = space.sample(30, seed=3)
    batch = model.evaluate(space.layer_table(archs))
    ref = model.evaluate(LayerTable.from_architectures(archs))
    for field in ("energy_pj", "latency_ns", "area_mm2", "edap", "mean_noise_sigma", "macs"):
        np.testing.assert_allclose(getattr(batch, field), getattr(ref, field), rtol=1e-12)
    for i, arch in enumerate(archs):
        single = model.evaluate(space.layer_table([arch]))
        assert single.energy_pj[0] == batch.energy_pj[i]
        assert single.latency_ns[0] == batch.latency_ns[i]
        assert single.area_mm2[0] == batch.area_mm2[i]
        np.testing.assert_array_equal(single.noise_sigma[0], batch.noise_sigma[i])
        # reference layer order = weight_layers order
        mask = ref.crossbars[i] > 0
        assert int(mask.sum()) == len(arch.weight_layers)
        traffic = LayerTable.from_architectures([arch]).act_elems[0] * ref_bits(arch) * model.buffer.energy_pj_per_bit
        assert ref.layer_energy_pj[i].sum() + traffic == pytest.approx(batch.energy_pj[i], rel=1e-12)


def test_padded_slots_cost_zero():
    m = get_preset("puma-32nm")
    a = m.evaluate(one_layer(pad_slots=3))
    b = m.evaluate(one_layer())
    assert a.energy_pj[0] == b.energy_pj[0] and a.area_mm2[0] == b.area_mm2[0]
    for name in ("layer_energy_pj", "layer_latency_ns", "layer_area_mm2", "crossbars", "utilization",
                 "adc_bits", "noise_sigma"):
        assert np.all(getattr(a, name)[0, 1:] == 0)


def test_activation_traffic_is_priced():
    m = get_preset("puma-32nm")
    a, b = m.evaluate(one_layer(act_elems=1000)), m.evaluate(one_layer())
    assert a.energy_pj[0] - b.energy_pj[0] == pytest.approx(1000 * 8 * 0.067)
    assert a.latency_ns[0] > b.latency_ns[0]


def vectors(space):
    lo, hi = space.bounds[:, 0], space.bounds[:, 1]
    return st.lists(st.floats(0, 1), min_size=space.dim, max_size=space.dim).map(
        lambda u: lo + np.asarray(u) * (hi - lo))


@pytest.mark.parametrize("space_name", ["imc", "nax", "nb201"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_costs_finite_positive_every_space(space_name, data):
    space = spaces.get(space_name)
    X = np.stack([data.draw(vectors(space)) for _ in range(3)])
    table = space.layer_table(X)
    for name in PRESETS:
        cost = get_preset(name).evaluate(table)
        for field in ("energy_pj", "latency_ns", "area_mm2", "edap", "tops", "tops_per_w"):
            v = getattr(cost, field)
            assert v.shape == (3,) and np.all(np.isfinite(v)) and np.all(v > 0), (name, field)
        assert np.all(cost.noise_sigma[table.mask] > 0) and np.all(cost.noise_sigma[~table.mask] == 0)
        assert np.all((cost.utilization[table.mask] > 0) & (cost.utilization[table.mask] <= 1))


# --- monotonicity -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PRESETS)
@settings(max_examples=30, deadline=None)
@given(k=st.sampled_from([1, 3, 5, 7]), c_in=st.integers(1, 600), c_out=st.integers(1, 600),
       extra=st.integers(1, 300), n=st.sampled_from([16, 32, 64, 128, 256]), h=st.integers(1, 32))
def test_more_channels_never_cost_less(name, k, c_in, c_out, extra, n, h):
    m = get_preset(name)
    base = m.evaluate(one_layer(k, c_in, c_out, h, n))
    for bigger in (one_layer(k, c_in + extra, c_out, h, n), one_layer(k, c_in, c_out + extra, h, n),
                   one_layer(k, c_in, c_out, h + 1, n)):
        more = m.evaluate(bigger)
        assert more.energy_pj[0] >= base.energy_pj[0]
        assert more.latency_ns[0] >= base.latency_ns[0]
        assert more.area_mm2[0] >= base.area_mm2[0]


def test_more_input_or_weight_bits_cost_more():
    m = get_preset("puma-32nm")
    base = m.evaluate(one_layer())
    assert m.evaluate(one_layer(in_bits=4)).energy_pj[0] < base.energy_pj[0]
    assert m.evaluate(one_layer(w_bits=4)).area_mm2[0] < base.area_mm2[0]


def test_underused_crossbar_pays_full_periphery():
    m = get_preset("puma-32nm")
    small = m.evaluate(one_layer(kernel=1, c_in=8, c_out=2, crossbar=128))
    assert small.crossbars[0, 0] == 1 and small.utilization[0, 0] == pytest.approx(8 * 8 / 128 ** 2)
    # the same layer on 16x16 crossbars uses far less ADC area
    assert m.evaluate(one_layer(kernel=1, c_in=8, c_out=2, crossbar=16)).area_mm2[0] < small.area_mm2[0] / 4


# --- non-idealities ----------------------------------------------------------------------------
def test_nonideality_sigma_properties():
    ni = NonIdeality()
    s = ni.sigma(np.array([16, 32, 64, 128, 256]), 2, 16, w_bits=8)  # lossless ADC: IR drop grows
    assert np.all(np.diff(s) > 0)
    assert ni.sigma(64, 2, 4) > ni.sigma(64, 2, 8)  # coarser ADC, more noise
    clean = NonIdeality(0, 0, 0, 0, 0, 0)
    assert clean.sigma(64, 2, 16) == 0
    # variation only, one slice: the cell sigma of the code range, which spans 2 max|w| for signed
    # weights, so 2x the cell sigma relative to max|w|; differential pair: x sqrt(2)
    var = NonIdeality(conductance_sigma=0.1, stuck_at_gmin_rate=0, stuck_at_gmax_rate=0,
                      ir_drop_at_128=0, drift_nu_sigma=0)
    assert var.sigma(64, 8, 16, w_bits=8) == pytest.approx(0.2)
    assert var.sigma(64, 8, 16, w_bits=8, differential=True) == pytest.approx(0.2 * math.sqrt(2))
    # ADC quantization by hand: 64 rows, 4 bits < lossless
    adc_only = NonIdeality(0, 0, 0, 0, 0, 0)
    assert adc_only.sigma(64, 2, 4) == pytest.approx(8 / (math.sqrt(12) * 16))
    with pytest.raises(HardwareError):
        NonIdeality(conductance_sigma=float("nan"))
    with pytest.raises(HardwareError):
        NonIdeality(stuck_at_gmin_rate=-0.1)


def test_layer_noise_sigma_matches_cost():
    arch = spaces.get("imc").baseline("resnet20")
    sig = layer_noise_sigma(arch)
    assert sig.shape == (len(arch.weight_layers),) and np.all(sig > 0)
    cost = get_preset("puma-32nm").evaluate_archs([arch])
    np.testing.assert_array_equal(sig, cost.noise_sigma[0, :len(sig)])
    worse = layer_noise_sigma(arch, "puma-32nm", NonIdeality(conductance_sigma=0.2))
    assert np.all(worse > sig)


# --- configuration and errors ---------------------------------------------------------------------
def test_presets_and_errors():
    assert PRESETS == sorted(PRESETS)
    assert {"neurosim-22nm-rram", "neurosim-22nm-sram", "puma-32nm"} <= set(PRESETS)
    with pytest.raises(UnknownNameError, match="expected one of: .*neurosim-22nm-rram, neurosim-22nm-sram, puma-32nm"):
        get_preset("puma-23nm")
    m = get_preset("puma-32nm")
    with pytest.raises(HardwareError):
        dataclasses.replace(m, adc=dataclasses.replace(m.adc, bits=0))
    with pytest.raises(HardwareError):
        dataclasses.replace(m, crossbar=dataclasses.replace(m.crossbar, energy_pj_at_128=float("nan")))
    with pytest.raises(HardwareError):
        dataclasses.replace(m, crossbar=dataclasses.replace(m.crossbar, rows_parallel=2.5))
    assert issubclass(HardwareError, ValueError)


def test_bad_tables():
    m = get_preset("puma-32nm")
    for kwargs in ({"crossbar": 0}, {"crossbar": -16}, {"w_bits": 0}, {"in_bits": -1}, {"cell_bits": 0},
                   {"adc_rule": 3}, {"c_in": 0}):
        with pytest.raises(HardwareError):
            m.evaluate(one_layer(**kwargs))
    t = one_layer()
    t.crossbar_size = t.crossbar_size.astype(float)
    t.crossbar_size[0, 0] = np.nan
    with pytest.raises(HardwareError, match="NaN"):
        m.evaluate(t)
    t.crossbar_size[0, 0] = 63.5
    with pytest.raises(HardwareError):
        m.evaluate(t)


def fortran(table: LayerTable) -> LayerTable:
    """The same table with Fortran-ordered per-layer arrays (what ``LayerTable.compact`` returns)."""
    return LayerTable(**{f.name: np.asfortranarray(getattr(table, f.name)) if f.name in LayerTable.PER_LAYER
                         else getattr(table, f.name) for f in dataclasses.fields(table)})


def two_rows(table: LayerTable) -> LayerTable:
    """Two copies of a one-architecture table (a Fortran-ordered table needs two rows to differ)."""
    return LayerTable(**{f.name: None if getattr(table, f.name) is None else np.concatenate([getattr(table, f.name)] * 2)
                         for f in dataclasses.fields(table)})  # (no dataflow stored: None)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_bad_per_layer_fields_every_layout(layout):
    m = get_preset("puma-32nm")
    arrange = two_rows if layout == "C" else (lambda t: fortran(two_rows(t)))
    cases = [({"crossbar": 0}, "crossbar size"), ({"crossbar": -16}, "crossbar size"), ({"c_in": 0}, "c_in"),
             ({"c_in": -3}, "c_in"), ({"kernel": -1}, "kernel"), ({"h": -2}, "must be a positive integer"),
             ({"c_out": 0}, "c_out")]
    for kwargs, message in cases:
        with pytest.raises(HardwareError, match=message):
            m.evaluate(arrange(one_layer(pad_slots=2, **kwargs)))
    t = one_layer(pad_slots=2)
    t.stride[0, 0] = -1
    with pytest.raises(HardwareError, match="stride"):
        m.evaluate(arrange(t))
    t = one_layer(pad_slots=2)
    for name in LayerTable.PER_LAYER[1:]:  # a padded slot filled like a weight layer
        getattr(t, name)[0, 1] = getattr(t, name)[0, 0]
    with pytest.raises(HardwareError, match="padded"):
        m.evaluate(arrange(t))
    assert m.evaluate(arrange(one_layer(pad_slots=2))).energy_pj[0] == m.evaluate(one_layer()).energy_pj[0]


def totals_of(cost) -> dict:
    return {f: getattr(cost, f) for f in ("energy_pj", "latency_ns", "area_mm2", "macs", "mean_noise_sigma")}


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("space_name", ["imc", "nax"])
def test_totals_fast_path_every_layout(name, space_name):
    # the totals' fast path (float32 counts, either memory layout) against the per-layer breakdown
    space = spaces.get(space_name)
    table = space.layer_table(space.sample_vectors(300, seed=7))
    base = get_preset(name)
    pipelined = dataclasses.replace(base, schedule=dataclasses.replace(base.schedule, layer_pipelined=True))
    for m in (base, pipelined):
        ref = m.evaluate(table)
        bits = table.act_elems * table.in_bits  # activation traffic of the weight-free nodes
        np.testing.assert_allclose(ref.energy_pj, ref.layer_energy_pj.sum(axis=1) + bits * m.buffer.energy_pj_per_bit,
                                   rtol=1e-12)
        np.testing.assert_allclose(ref.area_mm2, ref.layer_area_mm2.sum(axis=1), rtol=1e-12)
        if not m.schedule.layer_pipelined:
            np.testing.assert_allclose(ref.latency_ns, ref.layer_latency_ns.sum(axis=1)
                                       + bits / m.buffer.bandwidth_bits_per_ns, rtol=1e-12)
        for other in (table.compact(), fortran(table)):
            for field, values in totals_of(m.evaluate(other)).items():
                np.testing.assert_allclose(values, getattr(ref, field), rtol=1e-12, err_msg=field)


@pytest.mark.parametrize("layout", ["C", "F"])
def test_float32_and_float64_counts_agree(monkeypatch, layout):
    # counts that float32 cannot hold (>= 2**24) send a block, and the rest of the table, to float64:
    # the same integers, so a row's costs do not depend on the path its block took
    import fastnax.hwmodel._fastpath as fast

    monkeypatch.setattr(fast, "BLOCK_ELEMS", 8 * 22)  # many blocks
    dtypes = []
    count = fast.fill_counts
    monkeypatch.setattr(fast, "fill_counts", lambda a, *args: (dtypes.append(a.fields.dtype), count(a, *args))[1])
    space = spaces.get("nax")
    table = space.layer_table(space.sample_vectors(40, seed=5))
    big = dataclasses.replace(table, c_in=table.c_in.copy())
    big.c_in[0] *= 100_000  # row 0: > 2**24 MACs
    if layout == "F":
        table, big = table.compact(), big.compact()
    m = get_preset("puma-32nm")
    small_cost = m.evaluate(table)
    assert set(dtypes) == {np.dtype(np.float32)}
    dtypes.clear()
    big_cost = m.evaluate(big)
    assert dtypes[0] == np.float32 and dtypes[1] == np.float64 and set(dtypes[2:]) == {np.dtype(np.float64)}
    for field, values in totals_of(big_cost).items():
        np.testing.assert_array_equal(values[1:], getattr(small_cost, field)[1:], err_msg=field)
    assert big_cost.macs[0] == small_cost.macs[0] * 100_000
    traffic = big.act_elems * big.in_bits
    np.testing.assert_allclose(big_cost.energy_pj, big_cost.layer_energy_pj.sum(axis=1)
                               + traffic * m.buffer.energy_pj_per_bit, rtol=1e-12)


def test_from_file_toml_and_json(tmp_path):
    toml = tmp_path / "chip.toml"
    toml.write_text('base = "neurosim-22nm-rram"\nname = "mine"\n[adc]\nbits = 4\n[crossbar]\nrows_parallel = 32\n')
    m = HardwareModel.from_file(toml)
    assert m.name == "mine" and m.adc.bits == 4 and m.crossbar.rows_parallel == 32
    assert m.dac == get_preset("neurosim-22nm-rram").dac
    js = tmp_path / "chip.json"
    js.write_text(json.dumps({"schedule": {"layer_pipelined": True}}))
    p = HardwareModel.from_file(js)
    assert p.schedule.layer_pipelined and p.crossbar == get_preset("puma-32nm").crossbar
    arch = spaces.get("imc").baseline("resnet20")
    assert p.evaluate_archs([arch]).latency_ns[0] < get_preset("puma-32nm").evaluate_archs([arch]).latency_ns[0]
    for text, err in (('[adc]\nbits = 0\n', HardwareError), ('[adc]\nbitz = 4\n', UnknownNameError),
                      ('base = "nope"\n', UnknownNameError), ('[adc\n', HardwareError),
                      ('[crossbar]\nenergy_pj_at_128 = nan\n', HardwareError)):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(err):
            HardwareModel.from_file(bad)
    with pytest.raises(HardwareError, match="not found"):
        HardwareModel.from_file(tmp_path / "missing.toml")


def test_export_neurosim(tmp_path):
    arch = spaces.get("imc").baseline("vgg8")
    path = export_neurosim(arch, tmp_path / "net.csv")
    lines = path.read_text().splitlines()
    # DNN+NeuroSim's own NetWork_VGG8.csv
    assert lines == ["32,32,3,3,3,128,0,1", "32,32,128,3,3,128,1,1", "16,16,128,3,3,256,0,1",
                     "16,16,256,3,3,256,1,1", "8,8,256,3,3,512,0,1", "8,8,512,3,3,512,1,1",
                     "1,1,8192,1,1,1024,0,1", "1,1,1024,1,1,10,0,1"]


# --- the command -----------------------------------------------------------------------------
def test_cli_hw_json(capsys, tmp_path):
    assert cli_main(["hw", "--space", "imc", "--baseline", "resnet20", "--preset", "puma-32nm", "--json"]) == 0
    first = capsys.readouterr().out
    assert cli_main(["hw", "--space", "imc", "--baseline", "resnet20", "--preset", "puma-32nm", "--json"]) == 0
    assert capsys.readouterr().out == first  # deterministic
    out = json.loads(first)
    for key in ("energy_pj", "latency_ns", "area_mm2", "edap", "tops", "tops_per_w", "layers"):
        assert key in out
    arch = spaces.get("imc").baseline("resnet20")
    assert len(out["layers"]) == len(arch.weight_layers)
    for key in ("crossbars", "utilization", "energy_pj", "latency_ns", "area_mm2", "noise_sigma", "kind",
                "kernel", "c_in", "c_out", "crossbar_size"):
        assert key in out["layers"][0]
    assert out["edap"] == pytest.approx(out["energy_pj"] * out["latency_ns"] * out["area_mm2"])
    csv = tmp_path / "n.csv"
    assert cli_main(["hw", "--arch", str(arch), "--export-neurosim", str(csv), "--space-option", "input_size=8"]) == 0
    assert csv.read_text().count("\n") == len(arch.weight_layers)
    assert "energy" in capsys.readouterr().out


def test_cli_hw_errors(capsys, tmp_path):
    assert cli_main(["hw", "--preset", "puma-23nm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown preset 'puma-23nm'" in err
    assert cli_main(["hw", "--arch", "imc:garbage"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli_main(["hw", "--space-option", "input_size"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[adc]\nbits = -1\n")
    assert cli_main(["hw", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "AdcSpec.bits" in err


def test_cli_hw_subprocess():
    proc = subprocess.run([sys.executable, "-m", "fastnax.cli", "hw", "--preset", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stdout == ""
    proc = subprocess.run([sys.executable, "-c", "import fastnax.hwmodel, sys; "
                           "print('torch' in sys.modules, 'xgboost' in sys.modules)"],
                          capture_output=True, text=True)
    assert proc.stdout.strip() == "False False"


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint64, np.int32, np.uint32])
def test_any_integral_dtype_prices_the_same(dtype):
    space = spaces.get("imc")
    table = space.layer_table(space.sample_vectors(20, seed=3))
    model = get_preset("puma-32nm")
    ref = model.evaluate(table)
    for name in ("crossbar_size", "c_in", "kernel", "out_h"):
        other = dataclasses.replace(table, **{name: getattr(table, name).astype(dtype)})
        cost = model.evaluate(other)
        np.testing.assert_array_equal(cost.edap, ref.edap, err_msg=f"{name} as {np.dtype(dtype)}")
        np.testing.assert_array_equal(cost.crossbars, ref.crossbars)


# --- configuration: names that say what changed, serialisation, fields no formula reads -------------
def test_changed_models_say_so_in_their_name(tmp_path):
    puma = get_preset("puma-32nm")
    assert puma.with_overrides({}) is puma
    changed = puma.with_overrides({"crossbar": {"rows_parallel": 64}})
    assert changed.name == "puma-32nm+overrides" and changed.crossbar.rows_parallel == 64
    assert changed.with_overrides({"dac": {"bits": 2}}).name == "puma-32nm+overrides"  # not appended twice
    assert puma.with_overrides({"name": "mine", "dac": {"bits": 2}}).name == "mine"
    # a preset's name on other constants (dataclasses.replace keeps the name) is not the preset
    replaced = dataclasses.replace(puma, dac=dataclasses.replace(puma.dac, bits=2))
    assert replaced.name == "puma-32nm+modified"
    assert dataclasses.replace(puma, description=puma.description).name == "puma-32nm"  # unchanged: same name
    chip = tmp_path / "my_chip.toml"
    chip.write_text('[crossbar]\nrows_parallel = 32\n')
    assert HardwareModel.from_file(chip).name == "puma-32nm+my_chip.toml"
    chip.write_text('base = "neurosim-22nm-sram"\n[adc]\nbits = 4\n')
    assert HardwareModel.from_file(chip).name == "neurosim-22nm-sram+my_chip.toml"


def test_cli_hw_config_reports_the_modified_name(tmp_path, capsys):
    chip = tmp_path / "my_chip.toml"
    chip.write_text('base = "neurosim-22nm-rram"\n[adc]\nbits = 4\n')
    assert cli_main(["hw", "--config", str(chip), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preset"] == "neurosim-22nm-rram+my_chip.toml"
    # the output holds every field of the model it priced on: re-pricing from it gives the same cost
    model = HardwareModel.from_dict(out["hardware"])
    assert model == HardwareModel.from_file(chip) and model.adc.bits == 4
    assert model.evaluate_archs([out["arch"]]).energy_pj[0] == out["energy_pj"]


@pytest.mark.parametrize("name", PRESETS)
def test_to_dict_holds_every_field_and_reads_back(name):
    model = get_preset(name)
    for m in (model, model.with_overrides({"crossbar": {"rows_parallel": 16}, "nonideality": {"ir_drop_at_128": 0.05}})):
        data = json.loads(json.dumps(m.to_dict()))  # JSON-ready
        assert set(data) == {f.name for f in dataclasses.fields(HardwareModel)}
        for key in ("crossbar", "adc", "dac", "periphery", "buffer", "schedule", "nonideality"):
            assert set(data[key]) == {f.name for f in dataclasses.fields(getattr(m, key))}
        back = HardwareModel.from_dict(data)
        assert back == m and back.name == m.name
        arch = spaces.get("imc").baseline("resnet20")
        assert back.evaluate_archs([arch]).edap[0] == m.evaluate_archs([arch]).edap[0]
    with pytest.raises(UnknownNameError, match="flux"):
        HardwareModel.from_dict({**model.to_dict(), "flux": 1})
    with pytest.raises(HardwareError, match="crossbar"):
        HardwareModel.from_dict({"name": "x"})


def test_fields_no_formula_reads_are_refused(tmp_path):
    puma = get_preset("puma-32nm")  # ADC rule partial_sum: adc.bits is not read
    # (and the tile fields of the mapping conventions: puma-32nm has no tiles)
    assert puma.unread_fields() == ("technology_nm", "clock_ghz", "adc.bits", "mapping.tile_area_mm2",
                                    "mapping.tiles_per_pool", "mapping.buffer_power_mw_per_crossbar", "mapping.tile_buffers",
                                    "mapping.buffer_word_bits", "mapping.transfer_bits_per_ns",
                                    "mapping.transfer_hops", "mapping.mesh_tiles", "mapping.hop_latency_ns",
                                    "mapping.pool_latency_ns", "mapping.pool_units", "mapping.pool_window",
                                    "mapping.add_latency_ns")
    for overrides, field_name in (({"clock_ghz": 2.0}, "clock_ghz"), ({"technology_nm": 7.0}, "technology_nm"),
                                  ({"adc": {"bits": 5}}, "adc.bits"),
                                  ({"nonideality": {"drift_time_s": 0.0, "drift_nu_sigma": 0.05}},
                                   "drift_nu_sigma")):
        with pytest.raises(HardwareError, match=field_name):
            puma.with_overrides(overrides)
    # the refused fields are truly unread: changing them directly leaves every cost the same
    table = spaces.get("imc").layer_table(spaces.get("imc").sample_vectors(20, seed=1))
    ref = puma.evaluate(table)
    for other in (dataclasses.replace(puma, clock_ghz=2.0, technology_nm=7.0),
                  dataclasses.replace(puma, adc=dataclasses.replace(puma.adc, bits=5))):
        cost = other.evaluate(table)
        for f in ("energy_pj", "latency_ns", "area_mm2", "mean_noise_sigma"):
            np.testing.assert_array_equal(getattr(cost, f), getattr(ref, f))
    no_drift = dataclasses.replace(puma, nonideality=NonIdeality(drift_time_s=0.0))
    np.testing.assert_array_equal(
        dataclasses.replace(no_drift, nonideality=NonIdeality(drift_time_s=0.0, drift_nu_sigma=0.5)).evaluate(table).mean_noise_sigma,
        no_drift.evaluate(table).mean_noise_sigma)
    # ... and read once the configuration reads them
    fixed = puma.with_overrides({"adc": {"rule": "fixed", "bits": 5}})
    assert fixed.adc.bits == 5 and "adc.bits" not in fixed.unread_fields()
    assert not np.array_equal(fixed.evaluate(table).energy_pj, ref.energy_pj)
    assert get_preset("neurosim-22nm-rram").with_overrides({"adc": {"bits": 4}}).adc.bits == 4
    chip = tmp_path / "chip.toml"
    chip.write_text("clock_ghz = 2.0\n")
    with pytest.raises(HardwareError, match="clock_ghz"):
        HardwareModel.from_file(chip)
    with pytest.raises(UnknownNameError, match="base"):
        puma.with_overrides({"base": "puma-32nm"})  # only a file names a base


def test_register_preset():
    from fastnax.hwmodel import register_preset

    puma = get_preset("puma-32nm")
    assert register_preset(puma) is puma  # the same model again: a no-op
    with pytest.raises(HardwareError, match="already registered"):
        register_preset(_other("neurosim-22nm-rram"))
    with pytest.raises(HardwareError, match="HardwareModel"):
        register_preset({"name": "x"})


def _other(name):
    """A model named ``name`` with constants of its own, built without the registry's renaming."""
    m = HardwareModel(name="scratch", crossbar=get_preset("puma-32nm").crossbar)
    object.__setattr__(m, "name", name)
    return m


def test_hwmodel_modules_import_no_circle():
    # every import of every hwmodel module, function-level ones included, runs down the layering
    import ast
    from pathlib import Path

    import fastnax.hwmodel as hw

    folder = Path(hw.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        name = "fastnax.hwmodel" if path.stem == "__init__" else f"fastnax.hwmodel.{path.stem}"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fastnax.hwmodel"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("fastnax.hwmodel"))
        graph[name] = deps
    modules = set(graph)
    graph = {m: {d for d in deps if d in modules and d != "fastnax.hwmodel"} for m, deps in graph.items()}
    done, stack = set(), []

    def visit(m):
        assert m not in stack, "import circle: " + " -> ".join(stack[stack.index(m):] + [m])
        if m in done:
            return
        stack.append(m)
        for d in sorted(graph[m]):
            visit(d)
        stack.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)
    assert "fastnax.hwmodel.presets" not in graph["fastnax.hwmodel.model"]
    assert graph["fastnax.hwmodel.engine"] <= {"fastnax.hwmodel._fastpath", "fastnax.hwmodel.breakdown",
                                               "fastnax.hwmodel.nonideal", "fastnax.hwmodel.tables",
                                               "fastnax.hwmodel.mapping"}


def test_tabulated_crossbar_costs_do_not_depend_on_what_was_priced_before():
    """The per-(size, knob combination) table is remembered per model and non-ideality: a batch
    priced after wider ones (larger crossbars, other knob combinations) gets exactly the values it
    gets on a fresh model, per layer and in total, and an unhashable model is priced without the
    memo."""
    from fastnax.hwmodel import engine

    space = spaces.get("imc")
    X = space.sample_vectors(200, seed=11)
    small = X[:40].copy()
    small[:, space.codec.layout.knobs:] = X[0, space.codec.layout.knobs:]  # one knob combination
    model = get_preset("puma-32nm")
    narrow = space.layer_table(small)  # crossbars of at most 64 rows
    narrow = dataclasses.replace(narrow, crossbar_size=np.minimum(narrow.crossbar_size, 64))
    tables = [narrow, space.layer_table(X), space.layer_table(X[100:]), narrow]

    def price(table):
        cost = model.evaluate(table)
        return [np.asarray(getattr(cost, k)) for k in ("energy_pj", "latency_ns", "area_mm2",
                                                       "mean_noise_sigma", "layer_energy_pj", "adc_bits")]

    fresh = []
    for table in tables:
        engine._ROWS.clear()
        fresh.append(price(table))
    engine._ROWS.clear()
    remembered = [price(table) for table in tables]
    assert (model, model.nonideality) in engine._ROWS
    for a, b in zip(fresh, remembered):
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert all(np.array_equal(u, v) for u, v in zip(remembered[0], remembered[3]))
    # a single-combination batch after wider batches: its rows come from the memo, sliced
    assert tables[0].crossbar_size.max() == 64
    assert engine._ROWS[(model, model.nonideality)].width == 257

    class Unhashable(type(model)):
        __hash__ = None

    odd = Unhashable(**{f.name: getattr(model, f.name) for f in dataclasses.fields(model)})
    engine._ROWS.clear()
    cost = odd.evaluate(tables[1])
    assert np.array_equal(cost.energy_pj, fresh[1][0]) and not engine._ROWS


def test_remembered_crossbar_costs_are_shared_safely_by_threads():
    """Threads pricing batches of other widths and knob combinations at once, from a cleared memo,
    get the values a single thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    from fastnax.hwmodel import engine

    space = spaces.get("imc")
    model = get_preset("puma-32nm")
    tables = []
    for seed in range(8):
        t = space.layer_table(space.sample_vectors(60, seed=seed))
        cap = (16, 32, 64, 128, 256, 256, 64, 128)[seed]
        tables.append(dataclasses.replace(t, crossbar_size=np.minimum(t.crossbar_size, cap)))
    engine.clear_tabulated()
    serial = [model.evaluate(t).energy_pj for t in tables]
    for _ in range(3):
        engine.clear_tabulated()
        with ThreadPoolExecutor(4) as pool:
            threaded = list(pool.map(lambda t: model.evaluate(t).energy_pj, tables * 3))
        assert all(np.array_equal(a, b) for a, b in zip(threaded, serial * 3))
