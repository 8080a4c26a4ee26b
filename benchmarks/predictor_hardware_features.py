"""Does the hardware model's noise estimate help the packaged predictors rank accuracy on a chip?

The packaged predictors (digits and CIFAR-10 ``imc`` records, ``fastnax/data``) predict accuracy
under the non-idealities their records were measured with (``accuracy_noisy``) from the graph
features, which hold the four hardware knobs (weight, input and cell bits, ADC rule) but not the
crossbar sizes, nor what the hardware model makes of the knobs together. This benchmark adds, as
predictor features, what :mod:`fastnax.hwmodel` says about each record's noise on the records'
own chips (``puma-32nm`` with the records' non-ideality preset): the mean, the MAC-weighted mean
and the maximum of the per-layer relative weight-noise sigma (``Cost.noise_sigma``), each alone
and together, and compares the 5-fold cross-validated Kendall tau of the packaged protocol's
XGBoost (each predictor's own hyperparameters), over three seeds (fold split and booster seed),
side by side on the same records. The clean accuracy is reported beside it as a control (the
noise cannot explain it).

Nothing here needs ``../shared/data``. Prints one JSON object::

    python benchmarks/predictor_hardware_features.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
SETS = {
    "cifar10": {"records": "fastnax/data/cifar10_imc_records.jsonl",
                "params": {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.075}},
    "digits": {"records": "fastnax/data/digits_imc_records.jsonl",
               "params": {"n_estimators": 100, "max_depth": 4, "learning_rate": 0.15}},
}


def noise_columns(archs, chips: str) -> dict:
    """Per-record noise figures of the hardware model on ``chips`` ('PRESET+NONIDEALITY')."""
    from fastnax import hwmodel
    from fastnax.arch import KIND_PAD, LayerTable

    preset, _, nonideality = chips.partition("+")
    model = hwmodel.get_preset(preset)
    table = LayerTable.from_architectures(archs)
    cost = model.evaluate(table, hwmodel.get_nonideality(nonideality) if nonideality else None)
    sigma = np.asarray(cost.noise_sigma, dtype=float)
    live = table.kind != KIND_PAD
    return {"sigma_mean": np.where(live, sigma, 0.0).sum(axis=1) / live.sum(axis=1),
            "sigma_mac_weighted": np.asarray(cost.mean_noise_sigma, dtype=float),
            "sigma_max": np.where(live, sigma, 0.0).max(axis=1)}


def cv_kendall(X, y, params) -> dict:
    from fastnax.predictors import XGBPredictor

    taus = [XGBPredictor(random_state=s, **params).cross_validate(X, y, 5)["kendall_tau"] for s in SEEDS]
    return {"mean": round(float(np.mean(taus)), 4), "per_seed": [round(float(t), 4) for t in taus]}


def main() -> int:
    from fastnax import graph
    from fastnax.arch import Architecture
    from fastnax.datasets.records import read_records

    report = {"benchmark": "predictor_hardware_features", "folds": 5, "seeds": list(SEEDS), "sets": {}}
    for name, spec in SETS.items():
        records = read_records(ROOT / spec["records"])
        chips = sorted({r.chips for r in records if r.accuracy_noisy is not None})
        if len(chips) != 1:
            print(json.dumps({"skipped": f"{spec['records']}: records on {len(chips)} chips"}))
            return 1
        archs = [Architecture.from_string(r.arch) for r in records]
        F = graph.features(archs)
        extra = noise_columns(archs, chips[0])
        out = {"records": len(records), "chips": chips[0], "params": spec["params"]}
        for target in ("accuracy_noisy", "accuracy_clean"):
            y = np.asarray([r.accuracy(target) for r in records], dtype=float)
            rows = {"graph": cv_kendall(F, y, spec["params"])}
            for column, values in extra.items():
                rows[f"graph+{column}"] = cv_kendall(np.column_stack([F, values]), y, spec["params"])
            rows["graph+all_three"] = cv_kendall(np.column_stack([F, *extra.values()]), y, spec["params"])
            out[target] = rows
        report["sets"][name] = out
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
