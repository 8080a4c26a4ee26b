"""``fastnax fit RECORDS --out PREDICTOR.json``: fit the accuracy predictor on trained samples.

Prints the k-fold cross-validated quality (Kendall tau, Spearman rho, RMSE, MAE) and writes the
XGBoost JSON model to PREDICTOR.json and its sidecar to PREDICTOR.meta.json, both atomically.
The same records and seed give byte-identical files.
"""

from __future__ import annotations

import json

from fastnax.commands.options import add_common


def register(sub) -> None:
    p = sub.add_parser("fit", help="fit the accuracy predictor on a records file (CSV or JSON Lines)")
    p.add_argument("records", metavar="RECORDS", help="records file (.csv, .jsonl or .json)")
    p.add_argument("--out", required=True, metavar="PREDICTOR.json",
                   help="where to write the XGBoost JSON model (its sidecar goes to *.meta.json)")
    p.add_argument("--target", default="accuracy_clean", choices=("accuracy_clean", "accuracy_noisy"),
                   help="accuracy to predict (default accuracy_clean)")
    p.add_argument("--cv", type=int, default=5, metavar="K", help="folds of the quality report (default 5)")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from fastnax.errors import BoundsError
    from fastnax.predictors import XGBPredictor
    from fastnax.predictors.xgb import meta_path

    if args.cv < 2:
        raise BoundsError(f"--cv must be at least 2, got {args.cv}")
    model = XGBPredictor(random_state=args.seed).fit_records(args.records, target=args.target, cv=args.cv)
    model.save(args.out)
    report = {
        "records": model.records_info_,
        "space": model.space_,
        "dataset": model.dataset_,
        "target": model.target_,
        "cv": model.cv_metrics_,
        "model": str(args.out),
        "sidecar": str(meta_path(args.out)),
        "seed": args.seed,
    }
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    info = model.records_info_
    print(f"fitted XGBPredictor on {info['count']} records of space {model.space_} "
          f"({model.dataset_}), target {model.target_}")
    cv = model.cv_metrics_
    if cv:
        print(f"{cv['folds']}-fold cross-validated quality: Kendall tau {cv['kendall_tau']:.3f}, "
              f"Spearman rho {cv['spearman_rho']:.3f}, RMSE {cv['rmse']:.2f}, MAE {cv['mae']:.2f} "
              f"(percentage points)")
    else:
        print(f"too few records for {args.cv}-fold cross-validation: no quality report")
    print(f"wrote {args.out} and {meta_path(args.out)}")
    return 0
