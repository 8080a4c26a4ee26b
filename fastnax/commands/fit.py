"""``fastnax fit RECORDS --out PREDICTOR.json``: fit the accuracy predictor on trained samples.

Prints the k-fold cross-validated quality (Kendall tau, Spearman rho, RMSE, MAE) and writes the
XGBoost JSON model to PREDICTOR.json and its sidecar to PREDICTOR.meta.json, both atomically.
The same records and seed give byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastnax.commands.options import add_common


def register(sub) -> None:
    p = sub.add_parser("fit", help="fit the accuracy predictor on a records file (CSV or JSON Lines)")
    p.add_argument("records", metavar="RECORDS", help="records file (.csv, .jsonl or .json)")
    p.add_argument("--out", required=True, metavar="PREDICTOR.json",
                   help="where to write the XGBoost JSON model (its sidecar goes to *.meta.json)")
    p.add_argument("--target", default="accuracy_clean", metavar="NAME",
                   help="accuracy to predict: accuracy_clean (default), accuracy_noisy or any named "
                        "accuracy of the records (accuracy_<name>, e.g. accuracy_analog_drift_86400)")
    p.add_argument("--method", default="auto", choices=("auto", "xgb", "multifidelity", "prior-residual"),
                   help="xgb: XGBoost on the records that hold the target; multifidelity: a clean model on "
                        "every record calibrated on those with the target; prior-residual (nb201): the "
                        "training-free analog score plus tree residuals, on the records with the target "
                        "(the best ranking of accuracy on a noisy chip from labelled records alone); auto "
                        "(default): multifidelity when some records lack a non-clean target, else xgb")
    p.add_argument("--cv", type=int, default=5, metavar="K", help="folds of the quality report (default 5)")
    p.add_argument("--hardware-features", action="store_true",
                   help="xgb: also read the hardware model's mean per-layer noise sigma on the records' "
                        "chips (they must all name the same chips); it ranks accuracy under "
                        "non-idealities better (fastnax.predictors.hardware_features), and a search then "
                        "prices every crossbar variant's accuracy on its own")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from fastnax.errors import BoundsError
    from fastnax.predictors import XGBPredictor
    from fastnax.predictors.xgb import json_safe, meta_path

    if args.cv < 2:
        raise BoundsError(f"--cv must be at least 2, got {args.cv}")
    if args.seed is not None and args.seed < 0:
        raise BoundsError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.hardware_features and args.method not in ("xgb", "auto"):
        raise BoundsError(f"--hardware-features is an option of --method xgb, not {args.method}")
    if args.method != "xgb":
        from fastnax.datasets.records import accuracy_names, is_accuracy_name, read_records
        from fastnax.errors import RecordsError

        records = read_records(args.records)
        if not (args.target in ("accuracy_clean", "accuracy_noisy") or is_accuracy_name(args.target)):
            raise BoundsError(f"--target {args.target!r} is not an accuracy name; valid: accuracy_clean, "
                              f"accuracy_noisy or accuracy_<name> (lower-case letters, digits, '_')")
        lacking = sum(r.accuracy(args.target) is None for r in records)
        if lacking == len(records):
            raise RecordsError(f"no record of {args.records} has {args.target}; they carry "
                               f"{', '.join(accuracy_names(records))}")
        if args.method == "prior-residual":
            return _run_prior_residual(args, records, lacking)
        if args.method == "multifidelity" or (args.target != "accuracy_clean" and lacking):
            if args.hardware_features:
                raise BoundsError(f"--hardware-features needs {args.target} on every record (xgb); "
                                  f"{lacking} of {len(records)} lack it, which makes this a multifidelity fit")
            return _run_multifidelity(args, lacking)
    model = XGBPredictor(random_state=args.seed).fit_records(args.records, target=args.target, cv=args.cv,
                                                             hardware=args.hardware_features)
    model.save(args.out)
    report = {
        "records": model.records_info_,
        "space": model.space_,
        "dataset": model.dataset_,
        "target": model.target_,
        "hardware_features": getattr(model, "hardware_chips_", None),
        "cv": model.cv_metrics_,
        "model": str(args.out),
        "sidecar": str(meta_path(args.out)),
        "seed": args.seed,
    }
    if args.json:
        print(json.dumps(json_safe(report), indent=2, sort_keys=True, allow_nan=False))
        return 0
    info = model.records_info_
    chips = f", measured on {', '.join(info['hardware'])} chips" if info.get("hardware") else ""
    print(f"fitted XGBPredictor on {info['count']} records of space {model.space_} "
          f"({model.dataset_}), target {model.target_}{chips}")
    if getattr(model, "hardware_chips_", None):
        print(f"features: graph features and the hardware model's mean per-layer noise sigma on "
              f"{model.hardware_chips_}")
    cv = model.cv_metrics_
    if cv:
        print(f"{cv['folds']}-fold cross-validated quality: Kendall tau {cv['kendall_tau']:.3f}, "
              f"Spearman rho {cv['spearman_rho']:.3f}, RMSE {cv['rmse']:.2f}, MAE {cv['mae']:.2f} "
              f"(percentage points)")
    else:
        print(f"too few records for {args.cv}-fold cross-validation: no quality report")
    print(f"wrote {args.out} and {meta_path(args.out)}")
    return 0


def _run_multifidelity(args, lacking: int) -> int:
    from fastnax.predictors.files import sidecar_path as meta_path
    from fastnax.predictors.multifidelity import MultiFidelityPredictor
    from fastnax.predictors.xgb import json_safe

    model = MultiFidelityPredictor(random_state=args.seed).fit_records(args.records, target=args.target)
    model.save(args.out)
    info = model.records_info_
    report = {"records": info, "space": model.space_, "dataset": model.dataset_, "target": model.target_,
              "method": "multifidelity", "labelled": model.n_labelled_, "clean_only": lacking,
              "calibration": {"mode": model.mode_, "intercept": float(model.coef_[0]),
                              "slope": float(model.coef_[1]),
                              **({"clean_slope": float(model.clean_slope_), "clean_center": float(model.clean_center_)}
                                 if model.mode_ == "drop" else {})},
              "residual_weight": model.residual_weight_,
              "loo_mae": float(abs(model.residuals_).mean()), "model": str(args.out),
              "sidecar": str(meta_path(args.out)), "seed": args.seed}
    if args.json:
        print(json.dumps(json_safe(report), indent=2, sort_keys=True, allow_nan=False))
        return 0
    print(f"fitted MultiFidelityPredictor on {info['count']} records of space {model.space_} "
          f"({model.dataset_}): {model.n_labelled_} with {model.target_}, {lacking} clean-only")
    if model.mode_ == "drop":
        g = "predicted accuracy_clean"
        fitted = (f"{model.target_} = {g} - ({model.coef_[0]:.2f} + {model.coef_[1]:.3f} * robustness score"
                  f" - {model.clean_slope_:.3f} * ({g} - {model.clean_center_:.2f}))")
    else:
        fitted = f"{model.target_} = {model.coef_[0]:.2f} + {model.coef_[1]:.3f} * predicted accuracy_clean"
    if model.residual_models_:
        fitted += f" + {model.residual_weight_:.2f} * residual trees"
    print(f"{fitted}; out-of-sample MAE {report['loo_mae']:.2f} percentage points")
    print(f"wrote {args.out} and {meta_path(args.out)}")
    return 0


def _run_prior_residual(args, records, lacking: int) -> int:
    from fastnax.predictors.analog import PriorResidualPredictor
    from fastnax.predictors.files import sidecar_path as meta_path
    from fastnax.predictors.xgb import json_safe

    model = PriorResidualPredictor(random_state=args.seed or 0).fit_records(args.records, target=args.target)
    model.save(args.out)
    info = model.records_info_
    report = {"records": info, "space": model.space_, "dataset": model.dataset_, "target": model.target_,
              "method": "prior-residual", "labelled": info["count"], "without_target": lacking,
              "cv_kendall": model.cv_kendall_, "residual_weight": model.residual_weight_,
              "model": str(args.out), "sidecar": str(meta_path(args.out)), "seed": args.seed}
    if args.json:
        print(json.dumps(json_safe(report), indent=2, sort_keys=True, allow_nan=False))
        return 0
    skipped = f" ({lacking} without it left out)" if lacking else ""
    cv = model.cv_kendall_
    print(f"fitted PriorResidualPredictor on {info['count']} records of space {model.space_} "
          f"({model.dataset_}) with {model.target_}{skipped}")
    print(f"{cv['folds']}-fold cross-validated Kendall tau: {cv['residual']:.3f} (the analog-score prior "
          f"alone: {cv['prior']:.3f}); residual weight {model.residual_weight_:.2f}")
    print(f"wrote {args.out}, {PriorResidualPredictor._model_files(Path(args.out))['forest']} and {meta_path(args.out)}")
    return 0
