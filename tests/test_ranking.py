"""Hardware-ranking studies: correlations equal scipy on the file, Pareto utilities by brute force."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from fastnax import ranking
from fastnax.cli import main
from fastnax.errors import BoundsError, FastnaxError

from conftest import shared_file

DEVICES = ["eyeriss", "fpga", "pixel3", "raspi4"]


def test_rank_reproduces_correlations_from_the_file(capsys):
    path = shared_file("nb201/nb201_latency.csv")
    assert main(["rank", "--csv", str(path), "--targets", ",".join(DEVICES), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # computed directly from the file, independently of fastnax's reader
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = {d: np.array([float(r[f"lat_ms_{d}"]) for r in rows]) for d in DEVICES}
    assert out["targets"] == DEVICES and out["n_archs"] == 15_625
    for i, a in enumerate(DEVICES):
        for j, b in enumerate(DEVICES):
            assert out["kendall"][i][j] == round(float(kendalltau(cols[a], cols[b]).statistic), 6)
            assert out["spearman"][i][j] == round(float(spearmanr(cols[a], cols[b]).statistic), 6)
    tau = out["kendall"][DEVICES.index("raspi4")][DEVICES.index("fpga")]
    assert 0.5 < tau < 0.95  # the devices agree only in part: the point of the study


def test_best_proxy_is_argmax_offdiagonal():
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    costs = np.stack([base, base + 0.1 * rng.normal(size=400), rng.normal(size=400)], axis=1)
    s = ranking.study(costs, ["a", "b", "c"])
    assert s.best_proxy["a"][0] == "b" and s.best_proxy["b"][0] == "a"
    assert s.kendall.shape == (3, 3) and np.allclose(np.diag(s.kendall), 1)


def test_study_front_against_brute_force():
    # the studies' fronts: the search's non-dominated mask on (-accuracy, cost)
    rng = np.random.default_rng(1)
    acc = rng.integers(0, 20, size=300).astype(float)
    cost = rng.integers(0, 20, size=300).astype(float)
    mask = ranking._front(acc, cost)
    for i in range(len(acc)):
        dominated = np.any((acc >= acc[i]) & (cost <= cost[i]) & ((acc > acc[i]) | (cost < cost[i])))
        if dominated:
            assert not mask[i]
    # every non-dominated value pair is represented exactly once
    pairs = {(a, c) for a, c, m in zip(acc, cost, mask) if m}
    assert len(pairs) == mask.sum()
    nd = {(a, c) for i, (a, c) in enumerate(zip(acc, cost))
          if not np.any((acc >= a) & (cost <= c) & ((acc > a) | (cost < c)))}
    assert pairs == nd


def test_hypervolume_of_a_staircase():
    acc = np.array([2.0, 3.0, 1.0])
    cost = np.array([1.0, 3.0, 0.5])
    # reference (acc 0, cost 4): boxes [0.5,1)x1 + [1,3)x2 + [3,4)x3
    assert ranking._hypervolume(acc, cost, 0.0, 4.0) == pytest.approx(0.5 * 1 + 2 * 2 + 1 * 3)
    assert ranking._hypervolume(acc, cost, 3.0, 4.0) == 0.0  # nothing better than the reference


def test_pareto_transfer_identity_is_perfect():
    rng = np.random.default_rng(2)
    acc = rng.uniform(size=200)
    c = rng.uniform(size=200)
    s = ranking.study(np.stack([c, c * 2 + 1], axis=1), ["x", "y"], accuracy=acc)
    assert np.allclose(s.pareto_recall, 1) and np.allclose(s.pareto_hv_ratio, 1)
    assert s.monotonicity()["y"]["search_once_on_proxy"]


def test_bad_input():
    with pytest.raises(BoundsError):
        ranking.study(np.ones((10, 1)), ["a"])
    with pytest.raises(BoundsError, match="NaN"):
        ranking.study(np.full((10, 2), np.nan), ["a", "b"])
    with pytest.raises(FastnaxError, match="not found"):
        ranking.read_cost_csv("/nonexistent/costs.csv")


def test_rank_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("arch_str,lat_ms_a,lat_ms_b\nx,1,2\ny,oops,3\n")
    proc = subprocess.run([sys.executable, "-m", "fastnax.cli", "rank", "--csv", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "line 3" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "fastnax.cli", "rank"], capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1


def test_rank_heatmap_png(tmp_path):
    rng = np.random.default_rng(3)
    costs = rng.uniform(size=(50, 3))
    s = ranking.study(costs, ["a", "b", "c"])
    out = s.plot(tmp_path / "heat.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
