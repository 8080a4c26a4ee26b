"""Accuracy under analog non-idealities against AnalogNAS-Bench (CIFAR-10, all 15,625 cells).

Protocol (that of ``benchmarks/predictor_nb201.py``): for each target column, train on N random
cells (``np.random.default_rng(seed).permutation``), test on all the other cells, 20 seeds; report
mean and std of Kendall tau. Predictors:

* ``xgb_graph``: ``XGBPredictor`` (default hyperparameters) on fastnax graph features (the figures
  the issue measured before this work);
* ``xgb_analog``: the same on ``fastnax.predictors.multifidelity.analog_features`` (graph features,
  one-hot edge ops, robustness features, training-free score);
* ``prior_residual``: ``PriorResidualPredictor`` (on the normal scores of the accuracies: a linear
  map of the training-free analog score plus the mean of boosted trees and a random forest of the
  residual, shrunk by n / (n + 15)), with the coverage of its nominal 80 % interval;
* ``multifidelity_25+500``: ``MultiFidelityPredictor`` on 525 cells that all carry the clean
  accuracy (``baseline_accuracy``), 25 of them the target (a clean model, a drop model on the
  robustness score, and shrunk residual trees on the 25); tested on the other 15,100; with the
  empirical coverage and mean width of its nominal 80 % interval.

The training-free score (``TrainingFreeScore``) and its noisy-chip form (``robustness.analog_score``)
are ranked against every cell (|Spearman|). The robustness estimate
(``fastnax.robustness``) is ranked against the true drops over the live cells (Kendall tau); the
noise-propagation part alone (``log10_nsr``) beside it. Its fast path is timed against the networkx
reference on the same cells (one run, side by side).

Development columns: ``baseline``, ``ptq``, ``qat``, ``analog_accuracy``,
``analog_drift_{60,3600,86400}``. Held out (reported, never used to choose): ``noisy_accuracy``,
``baseline_drift_*``, ``analog_drift_2592000``.

Not measured here: the issue's co-design item (a search with a 25-cell predictor, its front scored
with the true accuracies) needs ``fastnax search``; see the report.

Usage: python benchmarks/predictor_analog.py [--seeds 20] [--quick] [--data ../shared/data]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"analog_drift_86400": {25: 0.62, 100: 0.72, 500: 0.80},
           "analog_accuracy": {25: 0.60, 100: 0.70, 500: 0.78},
           "noisy_accuracy": None}  # held out: reported
HELD_OUT = ("noisy_accuracy",)
MF_GOAL = 0.68
TRAINING_FREE_GOAL = 0.80
ROBUSTNESS_GOAL = 0.45


def _stats(values) -> dict:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="2 seeds, for tests")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args(argv)
    seeds = 2 if args.quick else args.seeds

    from scipy.stats import kendalltau, spearmanr

    from fastnax import graph, robustness, spaces
    from fastnax.datasets import analognasbench, nb201
    from fastnax.predictors import MultiFidelityPredictor, TrainingFreeScore, XGBPredictor
    from fastnax.predictors.analog import PriorResidualPredictor
    from fastnax.predictors.multifidelity import analog_feature_names, analog_features
    from fastnax.predictors.training_free import NOISE_WEIGHT
    from fastnax.robustness import analog_score

    path = Path(args.data) / "analognasbench" / "analognasbench_c10.csv"
    if not path.exists():
        print(json.dumps({"skipped": f"reference data not found: {path}"}))
        return 0
    t_start = time.perf_counter()
    arch_strings, cols = analognasbench.load(path)
    space = spaces.get("nb201")
    X = nb201.to_vectors(arch_strings)
    F = graph.features_from_vectors(space, X)
    A = analog_features(space, X, F)
    names = analog_feature_names("nb201")
    r_col = names.index("robustness:robustness_score")
    clean = cols["baseline_accuracy"]
    n = len(clean)

    out = {"benchmark": "predictor_analog", "cells": n, "seeds": seeds,
           "dead_cells": int(F[:, graph.feature_names().index("dead")].sum()),
           "features": {"graph": F.shape[1], "analog": A.shape[1]}, "predictors": {}}

    # --- predictors at N labelled cells ----------------------------------------------------------
    for target in TARGETS:
        y = cols[target]
        res = {"held_out": target in HELD_OUT}
        for label, M in (("xgb_graph", F), ("xgb_analog", A)):
            res[label] = {}
            for n_train in (25, 100, 500):
                taus = []
                for seed in range(seeds):
                    order = np.random.default_rng(seed).permutation(n)
                    train, test = order[:n_train], order[n_train:]
                    model = XGBPredictor(random_state=seed).fit(M[train], y[train])
                    taus.append(kendalltau(model.predict(M[test]), y[test]).statistic)
                res[label][f"kendall_N{n_train}"] = _stats(taus)
        res["prior_residual"] = {}
        for n_train in (25, 100, 500):
            taus, cover = [], []
            for seed in range(seeds):
                order = np.random.default_rng(seed).permutation(n)
                train, test = order[:n_train], order[n_train:]
                model = PriorResidualPredictor(random_state=seed).fit(A[train], y[train])
                mean, lo, hi = model.predict_interval(A[test], coverage=0.8)
                taus.append(kendalltau(mean, y[test]).statistic)
                cover.append(float(np.mean((y[test] >= lo) & (y[test] <= hi))))
            res["prior_residual"][f"kendall_N{n_train}"] = _stats(taus)
            res["prior_residual"][f"interval80_coverage_N{n_train}"] = _stats(cover)
        # multi-fidelity: 25 with the target + 500 clean-only
        taus, cover, width = [], [], []
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(n)
            pool, test = order[:525], order[525:]
            partial = np.full(len(pool), np.nan)
            partial[:25] = y[pool[:25]]
            model = MultiFidelityPredictor(random_state=seed).fit(A[pool], clean[pool], partial, robustness=r_col)
            mean, lo, hi = model.predict_interval(A[test], coverage=0.8)
            taus.append(kendalltau(mean, y[test]).statistic)
            cover.append(float(np.mean((y[test] >= lo) & (y[test] <= hi))))
            width.append(float(np.mean(hi - lo)))
        res["multifidelity_25+500"] = {"kendall": _stats(taus), "interval80_coverage": _stats(cover),
                                       "interval80_mean_width_points": _stats(width)}
        out["predictors"][target] = res

    # --- training-free score -----------------------------------------------------------------------
    tf = TrainingFreeScore().predict(F)
    score = A[:, r_col]
    live = score < robustness.DEAD_LOG10_NSR
    tf_analog = analog_score(space, X, 1.0, F)
    out["training_free"] = {
        f"abs_spearman_{c}": round(abs(float(spearmanr(tf, cols[c]).statistic)), 4)
        for c in ("analog_drift_86400", "analog_accuracy", "baseline_accuracy", "noisy_accuracy")}
    out["training_free_analog_score"] = {
        "noise_weight": NOISE_WEIGHT,
        **{f"abs_spearman_{c}": round(abs(float(spearmanr(tf_analog, cols[c]).statistic)), 4)
           for c in ("analog_drift_86400", "analog_accuracy", "baseline_accuracy", "noisy_accuracy")}}

    # --- robustness estimate vs the true drops (live cells) -----------------------------------------
    drops = {"drop_1day": "analog_drift_86400", "drop_1min": "analog_drift_60", "drop_1h": "analog_drift_3600",
             "drop_analog_accuracy": "analog_accuracy",
             "heldout_drop_noisy": "noisy_accuracy", "heldout_drop_30days": "analog_drift_2592000"}
    log_nsr = A[:, names.index("robustness:log10_nsr")]
    rob = {"live_cells": int(live.sum())}
    for key, column in drops.items():
        drop = clean - cols[column]
        rob[key] = {"robustness_score": round(float(kendalltau(score[live], drop[live]).statistic), 4),
                    "log10_nsr_only": round(float(kendalltau(log_nsr[live], drop[live]).statistic), 4)}
    # per-layer sigmas of the hardware model: fastnax's pcm-aihwkit non-ideality at 1 day of drift
    import dataclasses

    from fastnax import hwmodel
    from fastnax.hwmodel.nonideal import get_nonideality

    pcm = dataclasses.replace(get_nonideality("pcm-aihwkit"), drift_time_s=86400.0)
    cost = hwmodel.with_nonideality("puma-32nm", pcm).evaluate(space.layer_table_from_index(space.to_index(X)))
    layer_sigma = np.nan_to_num(np.asarray(cost.noise_sigma, dtype=float))
    per_layer = robustness.robustness_features(space, X, layer_sigma, F)
    drop = clean - cols["analog_drift_86400"]
    mean_sigma = np.asarray(cost.mean_noise_sigma, dtype=float)
    rob["drop_1day_pcm_aihwkit_layer_sigmas"] = {
        "robustness_score": round(float(kendalltau(per_layer[live, 1], drop[live]).statistic), 4),
        "log10_nsr_only": round(float(kendalltau(per_layer[live, 0], drop[live]).statistic), 4),
        "mean_sigma_alone": round(float(np.nan_to_num(kendalltau(mean_sigma[live], drop[live]).statistic)), 4)}
    # fast path vs the networkx reference on the same 300 cells
    pick = np.random.default_rng(0).choice(n, 300, replace=False)
    archs = space.decode(X[pick])
    robustness._nb201_table.cache_clear()
    t0 = time.perf_counter()
    fast = robustness.noise_to_signal(space, X[pick], 0.1)
    fast_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = robustness.noise_to_signal(space, X[pick], 0.1)
    fast_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = np.array([robustness.reference_noise_to_signal(a, 0.1) for a in archs])
    ref_seconds = time.perf_counter() - t0
    finite = np.isfinite(ref)
    rob["fast_equals_reference_max_rel_err"] = float(np.max(np.abs(fast[finite] / ref[finite] - 1)))
    rob["timing_300_cells"] = {"reference_seconds": round(ref_seconds, 4),
                               "fast_seconds_with_table_build": round(fast_cold, 4),
                               "fast_seconds_table_built": round(fast_warm, 5),
                               "ratio_reference_over_fast_built": round(ref_seconds / max(fast_warm, 1e-9), 1)}
    out["robustness"] = rob

    d = out["predictors"]
    goals = {}
    for target, table in TARGETS.items():
        if table is None:
            continue
        for n_train, goal in table.items():
            methods = ("xgb_graph", "xgb_analog", "prior_residual")
            scores = {m: d[target][m][f"kendall_N{n_train}"]["mean"] for m in methods}
            best = max(scores, key=scores.get)
            goals[f"{target}_N{n_train}>={goal}"] = {"measured": scores[best], "method": best,
                                                     "met": scores[best] >= goal,
                                                     "short_by": round(max(0.0, goal - scores[best]), 4)}
    mf = d["analog_drift_86400"]["multifidelity_25+500"]["kendall"]["mean"]
    goals[f"multifidelity_25+500_analog_drift_86400>={MF_GOAL}"] = {
        "measured": mf, "met": mf >= MF_GOAL, "short_by": round(max(0.0, MF_GOAL - mf), 4)}
    tfv = out["training_free_analog_score"]["abs_spearman_analog_drift_86400"]
    goals[f"training_free_abs_spearman_1day>={TRAINING_FREE_GOAL}"] = {
        "measured": tfv, "met": tfv >= TRAINING_FREE_GOAL, "short_by": round(max(0.0, TRAINING_FREE_GOAL - tfv), 4)}
    rv = rob["drop_1day"]["robustness_score"]
    goals[f"robustness_tau_1day_drop>={ROBUSTNESS_GOAL}"] = {
        "measured": rv, "met": rv >= ROBUSTNESS_GOAL, "short_by": round(max(0.0, ROBUSTNESS_GOAL - rv), 4)}
    out["goals"] = goals
    out["not_measured"] = ("nb201 front of 1-day accuracy vs EDAP scored with the true accuracies: needs "
                           "the search (fastnax.search), not run by this benchmark")
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
