"""Named non-ideality presets (issue 18): the registry, the analytical sigma against the per-cell
simulation, drift with and without global compensation, files and the command line."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from fastnax import hwmodel
from fastnax.cli import main
from fastnax.errors import FastnaxError, HardwareError
from fastnax.hwmodel import NonIdeality, get_nonideality, nonidealities
from fastnax.hwmodel.nonideal import _sigma

TIMES = (1.0, 3600.0, 86400.0, 30 * 86400.0)  # 1 s, 1 h, 1 day, 30 days


def _resnet20():
    from fastnax import spaces

    return spaces.get("imc").baseline("resnet20")


def test_registry_names_and_defaults():
    names = nonidealities()
    assert {"none", "pcm-aihwkit", "pcm-aihwkit-x2", "pcm-aihwkit-x4", "rram-fastnax-default", "rram-wan2022",
            "rram-wan2022-1d", "rram-wan2022-2d"} <= set(names)
    for name in names:
        assert get_nonideality(name).name == name
    # the dataclass defaults are the fastnax default, and say so
    assert NonIdeality() == get_nonideality("rram-fastnax-default")
    # the RRAM hardware presets simulate a measured array: NeuRRAM's, one day after programming
    for preset in ("puma-32nm", "neurosim-22nm-rram", "mnsim2"):
        assert hwmodel.get_preset(preset).nonideality == get_nonideality("rram-wan2022-1d")
        assert hwmodel.get_preset(preset).nonideality.name == "rram-wan2022-1d"
    # a non-ideality file that names no base is over the same default
    from fastnax.hwmodel import nonideal, nonideal_presets

    assert nonideal.DEFAULT_BASE == nonideal_presets.DEFAULT_RRAM.name
    # a registered name on other constants is renamed; a nameless other set is "custom"
    assert dataclasses.replace(get_nonideality("pcm-aihwkit"), drift_time_s=10.0).name == "pcm-aihwkit+modified"
    assert NonIdeality(conductance_sigma=0.01).name == "custom"
    with pytest.raises(FastnaxError, match="unknown non-ideality 'nope'; expected one of: none"):
        get_nonideality("nope")
    with pytest.raises(HardwareError, match="drift_compensation must be one of global, none"):
        NonIdeality(drift_compensation="local")
    with pytest.raises(HardwareError, match="drift_nu_mean_min"):
        NonIdeality(drift_nu_mean_min=0.2, drift_nu_mean_max=0.1)


def test_default_preset_keeps_the_fastnax_formula_exactly():
    ni = get_nonideality("rram-fastnax-default")
    drift = ni.drift_nu_sigma * math.log(ni.drift_time_s / ni.drift_t0_s)
    assert ni.cell_sigma() == math.sqrt(ni.conductance_sigma ** 2
                                        + (ni.stuck_at_gmin_rate + ni.stuck_at_gmax_rate) / 3.0 + drift ** 2)
    args = [np.array([64.0, 128.0, 256.0]), np.array([2.0, 1.0, 4.0]), np.array([8.0, 8.0, 6.0]),
            np.array([6.0, 7.0, 9.0]), np.array([64.0, 128.0, 256.0]), np.array([8.0, 8.0, 11.0])]
    n, cb, wb, b, rows, lossless = args
    np.testing.assert_array_equal(ni.layer_sigma(n, cb, wb, b, rows, lossless, 1.0),
                                  _sigma(ni.cell_sigma(), ni.ir_drop_at_128, n, cb, wb, b, rows, lossless, 1.0))


def _mc_sigma(ni, rng, n=200_000, clip=False):
    x = rng.uniform(0.0, 1.0, n)
    return float(np.sqrt(np.mean((ni.sample_cells(x, rng, clip=clip) - x) ** 2)))


def _analytic_cell(ni):
    # the active cells only (sample_cells simulates one device per target level)
    zero = ni.zero_device_ms() if ni.signed_code == "pair" else 0.0
    return math.sqrt(ni.cell_sigma() ** 2 - zero)


@pytest.mark.parametrize("compensation", ["global", "none"])
@pytest.mark.parametrize("variant", ["no-read-noise", "no-programming-noise"])
def test_pcm_analytic_sigma_equals_per_cell_simulation_where_exact(variant, compensation):
    # with Gaussian nu, no clipping at 0 and the read noise at the target level (exact with no
    # programming noise), the closed form is exact: held to the simulation within its sampling noise
    pcm = get_nonideality("pcm-aihwkit")
    kw = ({"read_noise_q": 0.0} if variant == "no-read-noise" else
          {"conductance_sigma": 0.0, "conductance_sigma_lin": 0.0, "conductance_sigma_quad": 0.0})
    rng = np.random.default_rng(18)
    for t in TIMES:
        ni = dataclasses.replace(pcm, drift_compensation=compensation, **kw).at_time(t)
        analytic, simulated = _analytic_cell(ni), _mc_sigma(ni, rng)
        assert simulated == pytest.approx(analytic, rel=0.01), (t, analytic, simulated)


def test_pcm_full_model_and_aihwkit_clipping_stay_close_to_the_analytic_sigma():
    # programming and read noise together (aihwkit reads sigma_r at the programmed conductance)
    # and aihwkit's folding of nu and clipping at 0: measured within 0.4 % at every time
    rng = np.random.default_rng(7)
    for compensation in ("global", "none"):
        for t in TIMES:
            ni = dataclasses.replace(get_nonideality("pcm-aihwkit"), drift_compensation=compensation).at_time(t)
            assert _mc_sigma(ni, rng, clip=True) == pytest.approx(_analytic_cell(ni), rel=0.015)


def test_level_error_matches_simulation_per_level_without_compensation():
    ni = dataclasses.replace(get_nonideality("pcm-aihwkit"), drift_compensation="none").at_time(86400.0)
    rng = np.random.default_rng(3)
    for level in (0.1, 0.5, 1.0):
        x = np.full(100_000, level)
        simulated = float(np.mean((ni.sample_cells(x, rng, clip=False) - x) ** 2))
        assert simulated == pytest.approx(float(ni.level_error_ms(level)), rel=0.02), level


def test_range_law_with_stuck_at_faults_equals_simulation():
    rng = np.random.default_rng(5)
    for t in TIMES:
        ni = get_nonideality("rram-fastnax-default").at_time(t)
        assert _mc_sigma(ni, rng, n=400_000) == pytest.approx(ni.cell_sigma(), rel=0.01), t


#: aihwkit 1.1.0 ReRamWan2022NoiseModel's default coeff_dic as it lists them (descending powers, uS)
_WAN2022_AIHWKIT = {
    "rram-wan2022": [-16.815, 45.393, -43.853, 16.030, 0.348],
    "rram-wan2022-1d": [-16.458, 47.095, -50.773, 22.086, 0.701],
    "rram-wan2022-2d": [-11.934, 37.062, -43.507, 20.274, 0.782],
}


@pytest.mark.parametrize("name", sorted(_WAN2022_AIHWKIT))
def test_wan2022_presets_are_aihwkits_reram_polynomial(name):
    """The programming sigma is aihwkit's quartic (its ``_apply_poly``: ``c0 + c1 x + ... + c4 x^4``
    over the ascending coefficients, in uS) referred to the fit's 40 uS, the only error of the
    snapshot (no faults, drift, read noise or IR drop); the per-cell simulation has that sigma."""
    ni = get_nonideality(name)
    coeff = _WAN2022_AIHWKIT[name][::-1]
    x = np.linspace(0.0, 1.0, 101)
    poly = sum(c * x ** i for i, c in enumerate(coeff)) / 40.0
    np.testing.assert_allclose(ni.programming_sigma(x), poly, rtol=1e-12, atol=1e-15)
    assert ni.stuck_at_gmin_rate == ni.stuck_at_gmax_rate == ni.ir_drop_at_128 == ni.read_noise_q == 0.0
    assert ni.signed_code == "pair"
    assert np.allclose(ni.level_error_ms(x), poly ** 2)
    rng = np.random.default_rng(11)
    assert _mc_sigma(ni, rng, n=400_000) == pytest.approx(_analytic_cell(ni), rel=0.01)
    # a snapshot: another evaluation time changes nothing but the name
    assert ni.at_time(3600.0).cell_sigma() == pytest.approx(ni.cell_sigma(), rel=1e-12)


def test_drift_over_time_with_and_without_global_compensation():
    pcm = get_nonideality("pcm-aihwkit")
    comp = [pcm.at_time(t).cell_sigma() for t in TIMES]
    raw = [dataclasses.replace(pcm, drift_compensation="none").at_time(t).cell_sigma() for t in TIMES]
    assert comp == sorted(comp) and raw == sorted(raw)  # both grow with time
    assert raw[0] == pytest.approx(comp[0], rel=0.01)  # 1 s: hardly any drift yet
    for c, r in zip(comp[1:], raw[1:]):
        assert r > 2 * c  # uncompensated drift is the largest error from 1 h on
    assert 1.0 < pcm.at_time(3600).compensation_factor() < pcm.at_time(30 * 86400).compensation_factor()
    # the uncompensated error is the systematic shrink: at G_max, 1 - (t / t0)^-mu, mu = 0.049
    ni = dataclasses.replace(pcm, drift_compensation="none", conductance_sigma=0.0, conductance_sigma_lin=0.0,
                             conductance_sigma_quad=0.0, read_noise_q=0.0, drift_nu_sigma_min=0.0,
                             drift_nu_sigma_max=0.0).at_time(86400.0)
    shrink = 1.0 - ((86400.0 + 20.0) / 20.0) ** -0.049
    assert math.sqrt(float(ni.level_error_ms(1.0))) == pytest.approx(shrink, rel=1e-9)
    # the none preset has no cell error at any time
    assert all(get_nonideality("none").at_time(t).cell_sigma() == 0.0 for t in TIMES)


def test_layer_sigma_follows_the_preset_through_the_engine():
    arch = _resnet20()
    sig = {name: hwmodel.layer_noise_sigma(arch, "puma-32nm", name) for name in
           ("none", "pcm-aihwkit", "pcm-aihwkit-x2", "pcm-aihwkit-x4", "rram-fastnax-default")}
    assert np.all(sig["none"] < sig["pcm-aihwkit"])
    assert np.all(sig["pcm-aihwkit"] < sig["pcm-aihwkit-x2"]) and np.all(sig["pcm-aihwkit-x2"] < sig["pcm-aihwkit-x4"])
    assert np.all(sig["pcm-aihwkit"] < sig["rram-fastnax-default"])
    np.testing.assert_array_equal(hwmodel.layer_noise_sigma(arch, "puma-32nm", "rram-wan2022-1d"),
                                  hwmodel.layer_noise_sigma(arch, "puma-32nm"))
    pcm = get_nonideality("pcm-aihwkit")
    later = hwmodel.layer_noise_sigma(arch, "puma-32nm", pcm.at_time(30 * 86400))
    uncompensated = hwmodel.layer_noise_sigma(
        arch, "puma-32nm", dataclasses.replace(pcm, drift_compensation="none").at_time(30 * 86400))
    assert np.all(later > sig["pcm-aihwkit"]) and np.all(uncompensated > later)
    # the pair code: the error relative to max|w| is the cell's, not twice it (1 slice, no ADC error)
    one = pcm.sigma(128, 8, 12, w_bits=8, lossless_adc_bits=12)
    assert float(one) == pytest.approx(math.sqrt(pcm.cell_sigma() ** 2 + pcm.output_noise_referred() ** 2 / 128),
                                       rel=1e-12)
    # global drift compensation multiplies the noisy output (aihwkit's order): the output noise
    # referred to a weight grows with it; without compensation it stays
    month = pcm.at_time(30 * 86400)
    assert month.output_noise_referred() == pytest.approx(pcm.output_noise * month.compensation_factor())
    assert month.compensation_factor() > 1.5
    raw = dataclasses.replace(month, drift_compensation="none")
    assert raw.output_noise_referred() == pcm.output_noise


def test_nonideality_files(tmp_path):
    good = tmp_path / "chip.toml"
    good.write_text('base = "pcm-aihwkit"\ndrift_time_s = 86400\n')
    ni = get_nonideality(str(good))
    assert ni.name == "pcm-aihwkit+chip.toml" and ni.drift_time_s == 86400 and ni.read_noise_q == 0.0088
    js = tmp_path / "chip.json"
    js.write_text(json.dumps({"name": "my-chip", "conductance_sigma": 0.02}))
    assert get_nonideality(str(js)).name == "my-chip"
    for text, message in [('bogus = 1\n', "unknown non-ideality field .* 'bogus'; expected one of"),
                          ('conductance_sigma = "a"\n', "conductance_sigma must be a number"),
                          ('base = "nope"\n', "unknown non-ideality 'nope'"),
                          ('drift_law = "x"\n', "drift_law must be one of range, level"),
                          ('= =\n', "is not valid TOML")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(FastnaxError, match=message) as err:
            get_nonideality(str(bad))
        assert "\n" not in str(err.value)
    with pytest.raises(FastnaxError, match="non-ideality file not found"):
        get_nonideality(str(tmp_path / "missing.toml"))


def test_hw_command_names_the_nonideality(capsys, tmp_path):
    assert main(["hw", "--nonideality", "pcm-aihwkit", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nonideality"] == "pcm-aihwkit" and out["preset"] == "puma-32nm+pcm-aihwkit"
    assert out["hardware"]["nonideality"]["read_noise_q"] == 0.0088
    assert main(["hw", "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["nonideality"] == "rram-wan2022-1d" and default["preset"] == "puma-32nm"
    assert out["mean_noise_sigma"] < default["mean_noise_sigma"]
    assert out["energy_pj"] == default["energy_pj"]  # the costs do not depend on the non-idealities
    assert main(["hw", "--nonideality", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown non-ideality 'nope'" in err and "\n" not in err


def test_search_command_records_the_nonideality(capsys):
    assert main(["search", "--budget", "300", "--nonideality", "pcm-aihwkit", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["hardware"]["name"] == "puma-32nm+pcm-aihwkit"
    assert out["settings"]["hardware"]["nonideality"]["name"] == "pcm-aihwkit"
