"""Digits (scikit-learn's 8x8 set, CPU): ResNet-20 of the imc digits space, trained plainly and
noise-aware side by side; clean accuracy and accuracy under the hardware model's non-idealities.

Figures (issue 6): >= 95 % test accuracy within 60 s of training; noise-aware training keeps the
accuracy under non-idealities within 2 points of clean, the plainly trained network loses more.

Both networks of a seed are evaluated identically: the same non-ideality model (every cell of
every weight slice simulated: variation, drift, stuck-at faults; column-level Gaussian noise;
weight, input and ADC quantization) and the same chips (noise draws seeded by the seed only).
A sweep evaluates the same networks at 1x, 2x, 3x every non-ideality figure.

``--split val`` holds 20 % of the training images out and reports on them (for choosing the
noise-aware training settings); the default reports on the test split. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time


def _mean_std(values):
    import numpy as np

    arr = np.asarray(values, dtype=float)
    return round(float(arr.mean()), 2), round(float(arr.std()), 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--noise-trials", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="training seeds averaged (0..S-1)")
    parser.add_argument("--scales", default="1,2,3", help="non-ideality multiples of the sweep")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--train-noise-scale", type=float, default=None,
                        help="noise-aware training noise multiple (default: TrainConfig's)")
    parser.add_argument("--clip", type=float, default=None,
                        help="noise-aware weight clipping in std of the layer (default: TrainConfig's)")
    parser.add_argument("--recalibrate", choices=("yes", "no"), default="yes",
                        help="evaluate's batch-norm re-estimation (clean / under noise), both networks")
    parser.add_argument("--only", choices=("plain", "noise_aware"), default=None)
    parser.add_argument("--nonideality", default=None, metavar="NAME|FILE",
                        help="non-ideality preset the cells follow in noise-aware training and in "
                             "evaluation (default: puma-32nm's own, rram-fastnax-default)")
    args = parser.parse_args(argv)

    import dataclasses

    import numpy as np
    import torch

    from fastnax import datasets, spaces
    from fastnax.train import TrainConfig, build_model, evaluate, train_model
    from fastnax.train.model import hardware_cost

    torch.set_num_threads(args.threads)
    data = datasets.load("digits")
    if args.split == "val":
        order = np.random.default_rng(12345).permutation(len(data.y_train))
        n_val = len(order) // 5
        val, tr = order[:n_val], order[n_val:]
        data = dataclasses.replace(data, x_train=data.x_train[tr], y_train=data.y_train[tr],
                                   x_test=data.x_train[val], y_test=data.y_train[val])
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    scales = [float(s) for s in args.scales.split(",") if s]
    na_overrides = {}
    if args.train_noise_scale is not None:
        na_overrides["train_noise_scale"] = args.train_noise_scale
    if args.clip is not None:
        na_overrides["weight_clip_sigma"] = args.clip
    base = TrainConfig(epochs=args.epochs, batch_size=64, lr=0.05)
    configs = {"plain": dataclasses.replace(base, noise_aware=False),
               "noise_aware": dataclasses.replace(base, noise_aware=True, **na_overrides)}
    if args.only:
        configs = {args.only: configs[args.only]}
    runs = {}
    for name, cfg in configs.items():
        per_seed = []
        for seed in range(args.seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = build_model(arch, nonideality=args.nonideality)
            result = train_model(model, data, cfg, seed=seed, device="cpu")
            t0 = time.perf_counter()
            row = {"seed": seed, "train_seconds": round(result["train_seconds"], 2)}
            for scale in scales:
                # the same chips for every network of this seed: the draws depend on the seed only
                scores = evaluate(model, data, noise_trials=args.noise_trials, seed=1000 + seed,
                                  scale=scale, recalibrate=args.recalibrate == "yes")
                key = "" if scale == 1 else f"_x{scale:g}"
                if scale == 1:
                    row["accuracy_clean"] = round(scores["accuracy_clean"], 2)
                row[f"accuracy_noisy{key}"] = round(scores["accuracy_noisy_mean"], 2)
                row[f"accuracy_noisy_std_over_draws{key}"] = round(scores["accuracy_noisy_std"], 2)
                row[f"drop_points{key}"] = round(scores["accuracy_clean"] - scores["accuracy_noisy_mean"], 2)
            row["eval_seconds"] = round(time.perf_counter() - t0, 2)
            per_seed.append(row)
        summary = {"train_seconds_max": max(r["train_seconds"] for r in per_seed),
                   "min_accuracy_clean": min(r["accuracy_clean"] for r in per_seed)}
        for key in per_seed[0]:
            if key.startswith(("accuracy_clean", "accuracy_noisy", "drop_points", "train_seconds")) \
                    and "std_over_draws" not in key:
                m, s = _mean_std([r[key] for r in per_seed])
                summary[f"{key}_mean"], summary[f"{key}_std_over_seeds"] = m, s
        runs[name] = {"config": dataclasses.asdict(cfg), **summary, "per_seed": per_seed}
    out = {
        "benchmark": "train_digits", "split": args.split,
        "arch": str(arch), "params": arch.params, "dataset": data.describe(),
        "epochs": args.epochs, "seeds": args.seeds, "noise_trials": args.noise_trials,
        "threads": args.threads, "scales": scales, "recalibrate_batch_norm": args.recalibrate,
        "nonideality_model": "explicit cells (the preset's per-cell laws on every slice) + column Gaussian",
        "nonideality": hardware_cost(arch, None, args.nonideality)["preset"],
        **runs,
    }
    if "plain" in runs and "noise_aware" in runs:
        plain, aware = runs["plain"], runs["noise_aware"]
        out["sweep_drop_points"] = {
            f"x{s:g}": {"plain": plain[f"drop_points{'' if s == 1 else f'_x{s:g}'}_mean"],
                        "noise_aware": aware[f"drop_points{'' if s == 1 else f'_x{s:g}'}_mean"]}
            for s in scales}
        out["noise_aware_over_plain_train_time"] = round(aware["train_seconds_mean"]
                                                         / plain["train_seconds_mean"], 2)
        out["figures"] = {
            "every_run_clean_ge_95": min(plain["min_accuracy_clean"], aware["min_accuracy_clean"]) >= 95,
            "every_run_within_60s": max(plain["train_seconds_max"], aware["train_seconds_max"]) <= 60,
            "noise_aware_noisy_within_2_points_of_clean": aware["drop_points_mean"] <= 2.0,
            "plain_loses_more_under_noise": plain["drop_points_mean"] > aware["drop_points_mean"],
        }
    out["torch"], out["python"] = torch.__version__, platform.python_version()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
