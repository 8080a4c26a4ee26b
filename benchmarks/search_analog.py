"""Co-design against the truth on a noisy chip: nb201 x crossbar searched with a predictor of the
1-day analog accuracy (AnalogNAS-Bench ``analog_drift_86400``, a development column) fitted on 25
random cells, the front scored with the TRUE 1-day accuracies against the true front of 1-day
accuracy vs EDAP (exhaustive over all 78,125 configurations).

Hypervolume as in ``benchmarks/search_nb201.py``: (accuracy, log10 EDAP) normalised over the whole
space (true accuracies), reference point (worst accuracy, worst EDAP). 20 seeds. The predictor is
``XGBPredictor.fit_with_intervals`` on fastnax's graph features (what ``fastnax fit --target
accuracy_analog_drift_86400`` fits), so the search scores its pessimistic quantile by default;
``--risk 0.5`` scores the mean. ``--model prior-residual``: the
:class:`~fastnax.predictors.PriorResidualPredictor` fitted on the same 25 cells (what ``fastnax fit
--method prior-residual`` fits), its own conformal intervals scored. The held-out columns are not
read.

Usage: python benchmarks/search_analog.py [--seeds 20] [--risk Q] [--model xgb|prior-residual]
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
DATA = ROOT.parent / "shared" / "data" / "analognasbench" / "analognasbench_c10.csv"
COLUMN = "analog_drift_86400"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--train", type=int, default=25)
    parser.add_argument("--risk", type=float, default=None)
    parser.add_argument("--model", choices=("xgb", "prior-residual"), default="xgb")
    args = parser.parse_args(argv)
    if not DATA.exists():
        print(json.dumps({"skipped": f"reference data not found: {DATA}"}))
        return 0
    from fastnax import graph, hwmodel, spaces
    from fastnax.datasets import analognasbench, nb201
    from fastnax.predictors import PriorResidualPredictor, XGBPredictor
    from fastnax.predictors.multifidelity import analog_feature_names, analog_features
    from fastnax.search import hypervolume_2d, non_dominated_mask, run
    from fastnax.search.spec import DEFAULT_RISK

    t0 = time.perf_counter()
    arch_strings, columns = analognasbench.load(DATA)
    acc_by_cell = nb201.align(arch_strings, columns[COLUMN])
    space = spaces.get("nb201")
    X_all = space.all_vectors()
    cells = (X_all[:, :6].astype(np.int64) * 5 ** np.arange(6)).sum(axis=1)
    true_acc = acc_by_cell[cells]
    edap = hwmodel.get_preset("puma-32nm").evaluate(space.layer_table(X_all)).edap
    a_lo, a_hi = true_acc.min(), true_acc.max()
    e_lo, e_hi = np.log10(edap).min(), np.log10(edap).max()

    def hv(acc, e):
        F = np.stack([1 - (acc - a_lo) / (a_hi - a_lo), (np.log10(e) - e_lo) / (e_hi - e_lo)], axis=1)
        return hypervolume_2d(F, (1.0, 1.0))

    front = non_dominated_mask(np.stack([-true_acc, edap], axis=1))
    hv_true = hv(true_acc[front], edap[front])
    key = {tuple(row): i for i, row in enumerate(X_all.astype(np.int64))}
    ratios, times = [], []
    risk = {} if args.risk is None else {"risk": args.risk}
    for seed in range(args.seeds):
        train = np.random.default_rng(seed).choice(15625, size=args.train, replace=False)
        X_train = np.concatenate([(train[:, None] // 5 ** np.arange(6)) % 5,
                                  np.zeros((args.train, 1), dtype=np.int64)], axis=1).astype(float)
        if args.model == "xgb":
            model = XGBPredictor(random_state=seed).fit_with_intervals(
                graph.features_from_vectors(space, X_train), acc_by_cell[train], 5)
        else:
            model = PriorResidualPredictor(random_state=seed).fit(
                analog_features(space, X_train), acc_by_cell[train], feature_names=analog_feature_names("nb201"))
        model.target_ = "accuracy_" + COLUMN
        found = run(space, predictor=model, seed=seed, dataset="cifar10", **risk)
        rows = [key[tuple(space.encode([p["arch"]])[0].astype(np.int64))] for p in found.front]
        ratios.append(hv(true_acc[rows], edap[rows]) / hv_true)
        times.append(found.timings["search_s"])
    out = {"benchmark": "search_analog", "model": args.model, "column": COLUMN, "train_cells": args.train, "seeds": args.seeds,
           "risk": args.risk if args.risk is not None else f"default ({DEFAULT_RISK})",
           "hypervolume_ratio_mean": float(np.mean(ratios)), "hypervolume_ratio_worst": float(np.min(ratios)),
           "hypervolume_ratio_median": float(np.median(ratios)),
           "ratio_per_seed": [round(float(r), 4) for r in ratios],
           "goal_mean_0.95": bool(np.mean(ratios) >= 0.95), "goal_worst_0.85": bool(np.min(ratios) >= 0.85),
           "true_front_size": int(front.sum()), "mean_search_s": float(np.mean(times)),
           "wall_s": time.perf_counter() - t0}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
