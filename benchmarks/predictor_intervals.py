"""Calibration of the predictors' 80 % intervals and of their support measure.

(1) NAS-Bench-201, CIFAR-10 (``c10valid_valid_200ep``, a development column): fit
``XGBPredictor.fit_with_intervals`` on N random cells (N = 25 and 100, 20 seeds) and count how many
of the other live cells fall inside their 80 % interval (goal at N = 25: 75-85 %); also the share
in support and the coverage inside / outside it. Dead cells (no input-output path) are left out:
the search prices them at chance with no interval. (2) The packaged records, digits and CIFAR-10:
nested 5-fold cross-validation (intervals fitted on four folds, checked on the fifth) of each
packaged predictor's hyperparameters and target.

Usage: python benchmarks/predictor_intervals.py [--seeds 20] [--data ../shared/data/nb201]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _coverage(model, F, y):
    mean, lo, hi = model.predict_interval(F, 0.8)
    inside = (y >= lo) & (y <= hi)
    support = model.uncertainty_.in_support(F)
    return inside, support, hi - lo


def nb201_part(data: Path, seeds: int) -> dict:
    from fastnax import graph, spaces
    from fastnax.datasets import nb201
    from fastnax.predictors import XGBPredictor

    path = data / "nb201_accuracy.csv"
    if not path.exists():
        return {"skipped": f"reference data not found: {path}"}
    arch_strings, columns = nb201.load(path)
    F = graph.features_from_vectors(spaces.get("nb201"), nb201.to_vectors(arch_strings))
    y = columns["c10valid_valid_200ep"]
    live = F[:, graph.feature_names().index("dead")] == 0
    out = {"column": "c10valid_valid_200ep", "seeds": seeds}
    for n in (25, 100):
        cov, sup, cov_in, cov_out, width = [], [], [], [], []
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(len(y))
            train, test = order[:n], order[n:]
            test = test[live[test]]
            model = XGBPredictor(random_state=seed).fit_with_intervals(F[train], y[train], 5)
            inside, support, w = _coverage(model, F[test], y[test])
            cov.append(inside.mean())
            sup.append(support.mean())
            cov_in.append(inside[support].mean() if support.any() else np.nan)
            cov_out.append(inside[~support].mean() if (~support).any() else np.nan)
            width.append(np.median(w))
        out[f"N{n}"] = {"coverage_mean": round(float(np.mean(cov)), 4),
                        "coverage_min": round(float(np.min(cov)), 4),
                        "coverage_max": round(float(np.max(cov)), 4),
                        "in_support_share": round(float(np.mean(sup)), 4),
                        "coverage_in_support": round(float(np.nanmean(cov_in)), 4),
                        "coverage_out_of_support": round(float(np.nanmean(cov_out)), 4),
                        "median_width_points": round(float(np.mean(width)), 2)}
    out["goal_N25_coverage_in_0.75_0.85"] = bool(0.75 <= out["N25"]["coverage_mean"] <= 0.85)
    return out


#: the packaged predictors: meta file and records of each dataset
PACKAGED = {"digits": ("predictor.meta.json", "digits_imc_records.jsonl"),
            "cifar10": ("cifar10_predictor.meta.json", "cifar10_imc_records.jsonl")}


def packaged_part(dataset: str = "digits") -> dict:
    from sklearn.model_selection import KFold

    from fastnax import graph
    from fastnax.arch import Architecture
    from fastnax.datasets.records import read_records
    from fastnax.predictors import XGBPredictor

    meta_name, records_name = PACKAGED[dataset]
    meta = json.loads((ROOT / "fastnax" / "data" / meta_name).read_text())
    records = read_records(ROOT / "fastnax" / "data" / records_name)
    target = meta["target"]
    archs = [Architecture.from_string(r.arch) for r in records]
    F = graph.features(archs)
    chips = (meta.get("feature_set") or {}).get("chips")
    if chips:  # the predictor reads the hardware features too (fastnax.predictors.hardware_features)
        from fastnax import spaces
        from fastnax.predictors.hardware_features import with_hardware

        space = spaces.get(archs[0].space, **archs[0].option_dict)
        F = with_hardware(space, space.to_index(space.encode(archs)), F, chips)
    y = np.asarray([getattr(r, target) for r in records], dtype=float)
    inside = np.zeros(len(y), dtype=bool)
    support = np.zeros(len(y), dtype=bool)
    width = np.zeros(len(y))
    for train, test in KFold(5, shuffle=True, random_state=0).split(F):
        model = XGBPredictor(**meta["params"]).fit_with_intervals(F[train], y[train], 5)
        i, s, w = _coverage(model, F[test], y[test])
        inside[test], support[test], width[test] = i, s, w
    return {"records": len(y), "target": target, "hardware_features": chips,
            "nested_cv_coverage_80": round(float(inside.mean()), 4),
            "coverage_in_support": round(float(inside[support].mean()), 4) if support.any() else None,
            "mean_width_points": round(float(width.mean()), 2),
            "in_support_share": round(float(support.mean()), 4)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "nb201"))
    args = parser.parse_args(argv)
    out = {"benchmark": "predictor_intervals", "nominal_coverage": 0.8,
           "nb201": nb201_part(Path(args.data), args.seeds),
           **{f"packaged_{name}": packaged_part(name) for name in PACKAGED}}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
