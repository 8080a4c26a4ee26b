"""``fastnax run``: the whole pipeline end to end on the embedded default (see fastnax.pipeline)."""

from __future__ import annotations

from fastnax.commands.options import add_common
from fastnax.io import dumps_json  # strict JSON: NaN and infinity as null


def register(sub) -> None:
    from fastnax.pipeline import PipelineConfig

    d = PipelineConfig()
    p = sub.add_parser("run", help="the whole pipeline: sample-train, fit, search, train finalists, report",
                       description="Sample-train N candidates, fit the predictor, search the co-design "
                                   "space, noise-aware-train the best design(s) and the baseline the same "
                                   "way, and compare them. Defaults: digits (embedded), imc space, under "
                                   "5 minutes on 2 CPU cores.")
    p.add_argument("--dataset", default=d.dataset, help=f"dataset (default {d.dataset}, embedded)")
    p.add_argument("--root", default=None, help="folder holding the dataset files")
    p.add_argument("--space", default=d.space, help=f"search space (default {d.space})")
    p.add_argument("--objective", default=d.objective, help=f"search objective (default {d.objective})")
    p.add_argument("--preset", default=d.preset, help=f"hardware preset (default {d.preset})")
    p.add_argument("--nonideality", default=None, metavar="NAME|FILE",
                   help="non-ideality preset of every simulated chip (sampling, search, final training) "
                        "or a TOML/JSON file over a 'base' one (default: the hardware preset's own; "
                        "packaged records measured on other chips are left out)")
    p.add_argument("--n", type=int, default=d.n, help=f"candidates to sample-train (default {d.n})")
    p.add_argument("--sample-epochs", type=int, default=None,
                   help="epochs per sampled candidate (default: the packaged records' protocol, so the "
                        "new records are fitted with them: digits 5 epochs; cifar10 6 epochs on "
                        "10,000 images at 16x16, about a minute a record on one core)")
    p.add_argument("--epochs", type=int, default=None,
                   help="noise-aware training epochs of the finalists and the baseline (default 20; "
                        "cifar10: 4)")
    p.add_argument("--max-train", type=int, default=None,
                   help="train the finalists and the baseline on a seeded subset of this many training "
                        "images (default all; cifar10: 5000; 0: all)")
    p.add_argument("--max-test", type=int, default=None,
                   help="report on a seeded subset of this many test images (default all; cifar10: "
                        "2000; 0: all)")
    p.add_argument("--finalists", type=int, default=d.finalists,
                   help=f"designs of the front to train and choose from on validation (default {d.finalists}; the surest "
                        f"feasible candidates fill the places a short front leaves)")
    p.add_argument("--baseline", default=d.baseline, help=f"reference baseline (default {d.baseline})")
    p.add_argument("--accuracy-margin", type=float, default=d.accuracy_margin,
                   help="points of predicted accuracy the design may give up against the baseline "
                        f"(default {d.accuracy_margin})")
    p.add_argument("--noise-trials", type=int, default=d.noise_trials,
                   help=f"noise draws for the accuracy under non-idealities (default {d.noise_trials})")
    p.add_argument("--no-packaged-records", action="store_true",
                   help="fit the predictor on the new records only (default: add the packaged ones "
                        "made for the same space and dataset)")
    p.add_argument("--jobs", type=int, default=d.jobs, help=f"candidates trained in parallel (default {d.jobs})")
    p.add_argument("--out", default=None, help="keep every artifact in this folder")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from fastnax.pipeline import PipelineConfig, run_pipeline

    cfg = PipelineConfig(dataset=args.dataset, root=args.root, space=args.space, objective=args.objective,
                         preset=args.preset, nonideality=args.nonideality, n=args.n, sample_epochs=args.sample_epochs,
                         final_epochs=args.epochs, max_train=args.max_train, max_test=args.max_test,
                         finalists=args.finalists, baseline=args.baseline,
                         accuracy_margin=args.accuracy_margin, noise_trials=args.noise_trials,
                         seed=args.seed, jobs=args.jobs, out=args.out,
                         use_packaged_records=not args.no_packaged_records)
    report = run_pipeline(cfg)
    if args.json:
        print(dumps_json(report.to_dict(), indent=2))
        return 0
    s = report.search
    c = s["comparison_with_baseline"]
    q = report.predictor_quality
    print(f"fastnax run: {q['new_records']} new + {q['packaged_records']} packaged records; predictor of "
          f"{q['target']}: kendall {q.get('kendall_tau', float('nan')):.3f} (cross-validated)")
    measured = "measured" if s.get("baseline_predicted_is_measured") else "predicted"
    print(f"search: {s['n_evaluations']} candidates, front of {s['front_size']}, constraint predicted "
          f"accuracy >= {s['min_accuracy']:.2f}% ({cfg.baseline}'s {measured} "
          f"{s['baseline_predicted_accuracy']:.2f}% less {cfg.accuracy_margin:g})")
    print(report.table())
    noisy = "n/a" if c["accuracy_noisy_delta"] is None else f"{c['accuracy_noisy_delta']:+.2f}"
    print(f"chosen ({c['chosen']}, {c['rule']}) vs {cfg.baseline}, test split: accuracy under non-idealities {noisy} points, EDAP x{c['edap_ratio']:.3g} "
          f"(energy x{c['energy_ratio']:.3f}, latency x{c['latency_ratio']:.3f}, area x{c['area_ratio']:.3f})")
    print(f"verdict: {c['verdict']}")
    print("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    if args.out:
        print(f"artifacts in {args.out}")
    return 0
