"""Digits (scikit-learn's 8x8 set, CPU): ResNet-20 of the imc digits space, trained plainly and
noise-aware side by side; clean accuracy and accuracy under the default non-idealities.

Figures (issue 6): >= 95 % test accuracy within 60 s of training; noise-aware training keeps the
accuracy under non-idealities within 2 points of clean, the plainly trained network loses more.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--noise-trials", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="training seeds averaged (0..S-1)")
    args = parser.parse_args(argv)

    import torch

    from fastnax import datasets, spaces
    from fastnax.train import TrainConfig, build_model, evaluate, train_model

    torch.set_num_threads(args.threads)
    data = datasets.load("digits")
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    runs = {}
    for name, noise_aware in (("plain", False), ("noise_aware", True)):
        per_seed = []
        for seed in range(args.seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = build_model(arch)
            cfg = TrainConfig(epochs=args.epochs, batch_size=64, lr=0.05, noise_aware=noise_aware)
            result = train_model(model, data, cfg, seed=seed, device="cpu")
            t0 = time.perf_counter()
            scores = evaluate(model, data, noise_trials=args.noise_trials, seed=1000 + seed)
            per_seed.append({
                "seed": seed,
                "train_seconds": round(result["train_seconds"], 2),
                "eval_seconds": round(time.perf_counter() - t0, 2),
                "accuracy_clean": round(scores["accuracy_clean"], 2),
                "accuracy_noisy_mean": round(scores["accuracy_noisy_mean"], 2),
                "accuracy_noisy_std": round(scores["accuracy_noisy_std"], 2),
                "noise_drop_points": round(scores["accuracy_clean"] - scores["accuracy_noisy_mean"], 2),
            })
        mean = lambda key: round(sum(r[key] for r in per_seed) / len(per_seed), 2)  # noqa: E731
        runs[name] = {"train_seconds_max": max(r["train_seconds"] for r in per_seed),
                      **{f"{k}_mean_over_seeds": mean(k) for k in
                         ("train_seconds", "accuracy_clean", "accuracy_noisy_mean", "noise_drop_points")},
                      "min_accuracy_clean": min(r["accuracy_clean"] for r in per_seed),
                      "per_seed": per_seed}
    plain, aware = runs["plain"], runs["noise_aware"]
    out = {
        "benchmark": "train_digits",
        "arch": str(arch), "params": arch.params, "dataset": data.describe(),
        "epochs": args.epochs, "noise_trials": args.noise_trials, "threads": args.threads,
        "plain": plain, "noise_aware": aware,
        "noise_aware_over_plain_train_time": round(aware["train_seconds_mean_over_seeds"]
                                                   / plain["train_seconds_mean_over_seeds"], 2),
        "figures": {
            "every_run_clean_ge_95_within_60s": min(plain["min_accuracy_clean"], aware["min_accuracy_clean"]) >= 95
            and max(plain["train_seconds_max"], aware["train_seconds_max"]) <= 60,
            "noise_aware_noisy_within_2_points_of_clean": aware["noise_drop_points_mean_over_seeds"] <= 2.0,
            "plain_loses_more_under_noise": plain["noise_drop_points_mean_over_seeds"]
            > aware["noise_drop_points_mean_over_seeds"],
        },
        "torch": torch.__version__, "python": platform.python_version(),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
