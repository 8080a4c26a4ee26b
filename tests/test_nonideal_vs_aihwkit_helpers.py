"""The helpers of benchmarks/nonideal_vs_aihwkit.py: its re-implementation of aihwkit's torch-tile
forward (DAC, ADC, ABS_MAX noise management, iterative bound management) and the noise-aware
trainer. The comparison with aihwkit itself runs only where aihwkit imports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "nonideal_vs_aihwkit.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("nonideal_vs_aihwkit", _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


IDEAL = dict(inp_res=-1.0, out_res=-1.0, out_noise=0.0, out_bound=-1.0)


def test_ideal_io_is_the_plain_product(bench):
    io = bench.CrossbarIO(**IDEAL)
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(7, 5, generator=g), torch.randn(3, 5, generator=g)
    assert torch.allclose(bench.crossbar_mvm(torch, x, w, io), x @ w.T, atol=1e-6)


def test_dac_rounds_each_row_scaled_by_its_abs_max(bench):
    # 2-bit DAC over +-1: step 2 / (2^2 - 2) = 1, so x / max|x| in {-1, 0, 1} (round half to even)
    io = bench.CrossbarIO(**{**IDEAL, "inp_res": 1.0 / (2 ** 2 - 2)})
    x = torch.tensor([[0.5, 2.0, -1.6], [0.0, 0.0, 0.0]])
    y = bench.crossbar_mvm(torch, x, torch.eye(3), io)
    assert torch.equal(y, torch.tensor([[0.0, 2.0, -2.0], [0.0, 0.0, 0.0]]))


def test_adc_step_is_twice_the_bound_times_the_resolution(bench):
    io = bench.CrossbarIO(**{**IDEAL, "out_res": 1.0 / (2 ** 5 - 2), "out_bound": 3.0})  # step 0.2
    y = bench.crossbar_mvm(torch, torch.tensor([[1.0, 0.0]]), torch.tensor([[0.29, 0.0], [0.31, 0.0]]), io)
    assert torch.allclose(y, torch.tensor([[0.2, 0.4]]))


def test_bound_management_halves_the_inputs_until_nothing_clips(bench):
    io = bench.CrossbarIO(**{**IDEAL, "out_bound": 12.0})
    y = bench.crossbar_mvm(torch, torch.ones(2, 20), torch.ones(1, 20), io)
    assert torch.allclose(y, torch.full((2, 1), 20.0))  # 20 clips at 12, 10 does not
    capped = bench.CrossbarIO(**{**IDEAL, "out_bound": 1.0, "inp_res": 1.0 / (2 ** 7 - 2)})
    # reduction stops once it exceeds max_bm_res / DAC step = 0.25 / (2 / 126): at 16, 100 / 16 clips at 1
    assert float(bench.crossbar_mvm(torch, torch.ones(1, 100), torch.ones(1, 100), capped)) == pytest.approx(16.0)


def test_crossbar_forward_without_noise_is_the_network(bench):
    net = bench._seeded_net(torch, 0, 14)
    tiles = [(m.weight.detach().reshape(m.weight.shape[0], -1) / m.weight.detach().abs().max(),
              float(m.weight.detach().abs().max())) for m in bench._layers(torch, net)]
    x = torch.rand(4, 1, 14, 14, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = bench.crossbar_forward(torch, net, tiles, bench.CrossbarIO(**IDEAL), None, x)
        assert torch.allclose(out, net(x), atol=1e-5)


def test_cell_tiles_are_the_weights_without_noise(bench):
    from fastnax.hwmodel import get_nonideality

    net = bench._seeded_net(torch, 0)
    layers = bench._layers(torch, net)
    tiles = bench.cell_tiles(torch, layers, get_nonideality("none"), np.random.default_rng(0))
    for m, (w, scale) in zip(layers, tiles):
        assert torch.allclose(w * scale, m.weight.detach().reshape(m.weight.shape[0], -1), atol=1e-6)


def test_noise_aware_training_is_seeded_and_differs_from_plain(bench):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)

    def trained(sigmas):
        net = bench._train(torch, bench._seeded_net(torch, 3), x, y, 2, 5, sigmas=sigmas)
        return torch.cat([p.detach().ravel() for p in net.parameters()])

    plain, aware = trained(None), trained([0.2, 0.2, 0.2])
    assert torch.equal(aware, trained([0.2, 0.2, 0.2]))
    assert not torch.allclose(plain, aware)


def test_emulation_matches_aihwkit(bench):
    pytest.importorskip("aihwkit")
    from aihwkit.inference.compensation.drift import GlobalDriftCompensation
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
    from aihwkit.nn.conversion import convert_to_analog
    from aihwkit.simulator.configs import TorchInferenceRPUConfig

    aih = {"GlobalDriftCompensation": GlobalDriftCompensation, "PCMLikeNoiseModel": PCMLikeNoiseModel,
           "convert_to_analog": convert_to_analog, "TorchInferenceRPUConfig": TorchInferenceRPUConfig}
    net = bench._seeded_net(torch, 0, 14)
    net.eval()
    x = torch.rand(16, 1, 14, 14, generator=torch.Generator().manual_seed(2))
    for _, dac, adc in bench.HARDWARE:
        check = bench._io_check(aih, torch, net, dac, adc, x, 8)
        assert check["argmax_agreement"] == 1.0
        assert check["max_abs_logit_diff"] <= 1e-3 * max(check["max_abs_logit"], 1.0)


@pytest.mark.parametrize("preset", ["pcm-aihwkit", "pcm-aihwkit-x4"])
@pytest.mark.parametrize("t", [1.0, 3600.0, 30 * 86400.0])
def test_uncompensated_cells_times_the_factor_are_sample_cells(bench, preset, t):
    # the grid multiplies the tile output by the factor: weights x factor must be exactly the
    # compensated read-back sample_cells returns for the same draws, and rng must advance alike
    import dataclasses

    from fastnax.hwmodel import get_nonideality

    ni = get_nonideality(preset).at_time(t)
    x = np.concatenate([np.random.default_rng(1).random(3000), np.zeros(3000)])
    ref_rng, rng = np.random.default_rng(7), np.random.default_rng(7)
    compensated = ni.sample_cells(x, ref_rng)
    cells, factor = bench.uncompensated_cells(ni, x, rng)
    np.testing.assert_array_equal(cells, dataclasses.replace(ni, drift_compensation="none")
                                  .sample_cells(x, np.random.default_rng(7)))
    np.testing.assert_allclose(cells * factor, compensated, rtol=1e-12, atol=1e-15)
    if t >= 3600.0:
        assert factor > 1.05  # the cells have drifted down
    assert rng.random() == ref_rng.random()
    # and fastnax's estimate is near its analytical alpha (uniform levels here)
    assert factor == pytest.approx(ni.compensation_factor(), rel=0.05)


def test_uncompensated_cells_without_compensation_are_sample_cells(bench):
    import dataclasses

    from fastnax.hwmodel import get_nonideality

    x = np.random.default_rng(2).random(500)
    for ni in (dataclasses.replace(get_nonideality("pcm-aihwkit"), drift_compensation="none").at_time(86400.0),
               get_nonideality("rram-fastnax-default")):
        cells, factor = bench.uncompensated_cells(ni, x, np.random.default_rng(3))
        assert factor == 1.0
        np.testing.assert_array_equal(cells, ni.sample_cells(x, np.random.default_rng(3)))


def test_stuck_faults_keep_the_factor_of_sample_cells(bench):
    # the factor is sample_cells' estimate before the faults; only cells stuck at G_max differ
    # (scaled by the factor here, as aihwkit's output compensation scales them)
    import dataclasses

    from fastnax.hwmodel import get_nonideality

    ni = dataclasses.replace(get_nonideality("pcm-aihwkit"), stuck_at_gmin_rate=0.02,
                             stuck_at_gmax_rate=0.02).at_time(86400.0)
    x = np.random.default_rng(4).random(4000)
    compensated = ni.sample_cells(x, np.random.default_rng(5))
    cells, factor = bench.uncompensated_cells(ni, x, np.random.default_rng(5))
    free = cells != 1.0
    assert 0 < (~free).sum() < 200
    np.testing.assert_allclose(cells[free] * factor, compensated[free], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(compensated[~free], 1.0)


def test_cell_tiles_scale_carries_the_compensation(bench):
    from fastnax.hwmodel import get_nonideality

    net = bench._seeded_net(torch, 0)
    layers = bench._layers(torch, net)
    ni = get_nonideality("pcm-aihwkit").at_time(30 * 86400.0)
    tiles = bench.cell_tiles(torch, layers, ni, np.random.default_rng(0))
    for m, (w, scale) in zip(layers, tiles):
        wmax = float(m.weight.detach().abs().max())
        assert scale / wmax > 1.2  # a 30-day factor (~1.8 analytically)
        assert float(w.abs().max()) < 1.2  # the uncompensated cells, not rescaled up


def _raw_grid(bench, aihwkit_draws, fastnax_draws, seeds=(0, 1)):
    """A grid's raw table where every cell holds the same draws (per seed)."""
    raw = {}
    for training in bench.TRAININGS:
        for seed in seeds:
            for k, _ in bench.NOISE_LEVELS:
                for hw, *_ in bench.HARDWARE:
                    for t in bench.TIMES:
                        raw[("d", training, seed, k, hw, t)] = {
                            "aihwkit": list(aihwkit_draws[seed]), "fastnax": list(fastnax_draws[seed]),
                            "alpha": [1.0], "alpha_exact": [1.0], "max_programmed": [1.0], "fastnax_alpha": [1.0]}
    return raw


def test_grid_cells_judge_a_gap_by_the_chip_sampling_error(bench):
    """A 3-point gap between two noisy sides (spread 12 points, 40 draws each) is inside two standard
    errors of the difference; the same gap between two tight sides is not, nor within 1 point."""
    rng = np.random.default_rng(0)
    noisy_a = {s: 70 + 12 * rng.standard_normal(20) for s in (0, 1)}
    noisy_f = {s: v - 3.0 for s, v in noisy_a.items()}
    cells = bench._grid_cells(np, _raw_grid(bench, noisy_a, noisy_f), [("d",)], (0, 1))
    assert len(cells) == len(bench.TRAININGS) * len(bench.NOISE_LEVELS) * len(bench.HARDWARE) * len(bench.TIMES)
    cell = cells[0]
    assert cell["gap"] == pytest.approx(3.0, abs=0.01) and not cell["within_1_point"]
    sem = np.sqrt(2 * np.var(np.concatenate(list(noisy_a.values())), ddof=1) / 40)
    assert cell["gap_sem"] == pytest.approx(sem, abs=0.01)
    assert cell["within_2_sem"]
    tight_a = {s: 90 + 0.2 * rng.standard_normal(20) for s in (0, 1)}
    tight_f = {s: v - 3.0 for s, v in tight_a.items()}
    tight = bench._grid_cells(np, _raw_grid(bench, tight_a, tight_f), [("d",)], (0, 1))[0]
    assert not (tight["within_1_point"] or tight["within_2_sem"] or tight["within_both_spreads"])
    raw = _raw_grid(bench, tight_a, tight_f)
    summary = bench._grid_summary(np, bench._grid_cells(np, raw, [("d",)], (0, 1)),
                                  bench._grid_gains(np, raw, [("d",)], (0, 1)))
    assert summary["frac_cells_within_1_point_or_2_sem"] == 0.0
    assert len(summary["cells_outside_1_point_2_sem_and_spreads"]) == summary["n_cells"]
