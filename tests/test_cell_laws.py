"""The trainer's cells follow a non-ideality preset's laws: torch ``read_back_levels`` against the
numpy reference ``NonIdeality.sample_cells``, level by level, for every registered preset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fastnax.hwmodel import get_nonideality, nonidealities
from fastnax.train.noise import CellNoise, program_cells, read_back_levels

LEVELS = np.array([0.0, 1 / 3, 2 / 3, 1.0])
N = 40_000  # cells per level


def _moments(values: np.ndarray):
    """Per level: mean, its standard error, variance and the standard error of the variance
    (from the fourth central moment: stuck-at faults make the read-back heavy-tailed)."""
    v = values.reshape(len(LEVELS), N)
    mean, var = v.mean(axis=1), v.var(axis=1)
    m4 = ((v - mean[:, None]) ** 4).mean(axis=1)
    return mean, np.sqrt(var / N), var, np.sqrt(np.maximum(m4 - var ** 2, 0.0) / N)


def _variants():
    for name in nonidealities():
        ni = get_nonideality(name)
        yield name, ni
        yield f"{name}@1d", ni.at_time(86400.0)
    yield "pcm-aihwkit, no compensation", dataclasses.replace(get_nonideality("pcm-aihwkit"),
                                                              drift_compensation="none")


@pytest.mark.parametrize("label,ni", list(_variants()), ids=lambda v: v if isinstance(v, str) else "")
def test_read_back_levels_match_the_numpy_reference(label, ni):
    x = np.repeat(LEVELS, N)
    ref_mean, ref_se, ref_var, ref_var_se = _moments(ni.sample_cells(x, np.random.default_rng(0)))
    gen = torch.Generator().manual_seed(0)
    out = read_back_levels(torch.as_tensor(x, dtype=torch.float64), ni, gen).numpy()
    mean, se, var, var_se = _moments(out)
    # two independent samples of the same law: within 6 standard errors of their difference
    assert np.all(np.abs(mean - ref_mean) <= 6 * np.hypot(se, ref_se) + 1e-12), (label, mean, ref_mean)
    assert np.all(np.abs(var - ref_var) <= 6 * np.hypot(var_se, ref_var_se) + 1e-12), (label, var, ref_var)


def test_preset_cells_differ_and_follow_the_law():
    pcm = CellNoise.from_nonideality("pcm-aihwkit", cell_bits=2, differential=True)
    rram = CellNoise.from_nonideality("rram-fastnax-default", cell_bits=2, differential=True)
    assert pcm.law.name == "pcm-aihwkit" and rram.law.name == "rram-fastnax-default"
    assert pcm.stuck_at_gmin_rate == 0 and rram.stuck_at_gmin_rate > 0
    w = torch.linspace(-1, 1, 20001)
    errors = {}
    for name, cells in (("pcm", pcm), ("rram", rram)):
        read = program_cells(w, torch.tensor(1.0), 8, cells, torch.Generator().manual_seed(1))
        errors[name] = float((read - w).pow(2).mean().sqrt())
    # aihwkit's PCM at 1 h is far gentler than fastnax's RRAM default with its stuck-at faults
    assert errors["pcm"] < errors["rram"] / 2, errors


def test_scaled_law_scales_the_noise():
    cells = CellNoise.from_nonideality("pcm-aihwkit", cell_bits=2)
    x = torch.full((50_000,), 0.5, dtype=torch.float64)
    spread = [float(read_back_levels(x, c.law, torch.Generator().manual_seed(2)).std())
              for c in (cells, cells.scaled(2.0), cells.scaled(4.0))]
    assert spread[0] < spread[1] < spread[2]
    assert spread[1] == pytest.approx(2 * spread[0], rel=0.15)


@pytest.mark.parametrize("name", ["pcm-aihwkit", "rram-fastnax-default"])
def test_level_lookup_is_the_same_law(name):
    ni = get_nonideality(name).at_time(86400.0)
    x = torch.randint(0, 4, (5000,), generator=torch.Generator().manual_seed(3)).to(torch.float64) / 3
    a = read_back_levels(x, ni, torch.Generator().manual_seed(4))
    b = read_back_levels(x, ni, torch.Generator().manual_seed(4), levels=3)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
