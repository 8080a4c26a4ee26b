"""ResNet-20 on CIFAR-10: training and evaluation speed, side by side in one run.

Measures, on the default device (CUDA when present, else CPU; ``--threads`` torch threads):

- training images/s of ``train_model`` for one epoch on ``--train-images`` images, plain and
  noise-aware (the non-idealities on in every forward pass, 1.5x training noise, weight
  clipping), interleaved over ``--rounds`` rounds; the ratio of a noise-aware step to a plain one
  (goal <= 1.5);
- one clean pass over the test split (``accuracy`` with the non-idealities off; timed before and
  after every evaluation, the mean of the two is the unit), and ``evaluate`` with K chips for each
  K of ``--chips`` (batch-norm calibration, the clean accuracy, K programmed chips), as a ratio to
  that pass (goal <= K + 2), and the evaluation images/s (test images x (K + 1) / seconds).

The network is first trained one epoch on ``--train-images`` images so its accuracies mean
something. Needs ``../shared/data/cifar10`` (built once into ``~/.cache/fastnax/cifar10``).
Prints one JSON object::

    OMP_NUM_THREADS=1 python benchmarks/train_cifar10_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-images", type=int, default=2048)
    parser.add_argument("--test-images", type=int, default=10000)
    parser.add_argument("--chips", default="2,10", help="comma-separated K values (default 2,10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved training rounds (default 3)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", default=None, help="CIFAR-10 batches folder (default ~/.cache/fastnax/cifar10)")
    args = parser.parse_args(argv)

    import torch

    from fastnax import spaces
    from fastnax.datasets import ensure_cifar10, load
    from fastnax.errors import DatasetError
    from fastnax.train.loop import (TrainConfig, accuracy, default_device, evaluate, to_tensors,
                                    train_model)
    from fastnax.train.model import build_model
    from fastnax.train.noise import nonideal

    torch.set_num_threads(int(args.threads))
    try:
        root = ensure_cifar10(args.cache)
    except DatasetError as exc:
        print(json.dumps({"skipped": str(exc)}))
        return 0
    device = default_device()
    data = load("cifar10", root=root, max_train=args.train_images, max_test=args.test_images)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    torch.manual_seed(0)
    model = build_model(arch)
    batch = 128

    def log(msg):
        sys.stderr.write(f"[speed] {msg}\n")
        sys.stderr.flush()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    # training: one epoch plain, one noise-aware, interleaved; the network keeps training
    times = {"plain": [], "noise_aware": []}
    for r in range(int(args.rounds)):
        for kind in ("plain", "noise_aware"):
            cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.05, noise_aware=kind == "noise_aware")
            sync()
            t0 = time.perf_counter()
            train_model(model, data, cfg, seed=r, device=device)
            sync()
            times[kind].append(time.perf_counter() - t0)
            log(f"train {kind} round {r}: {times[kind][-1]:.1f}s")
    n_train = len(data.y_train)
    ratios = [n / p for n, p in zip(times["noise_aware"], times["plain"])]
    train = {"images": n_train, "batch_size": batch, "rounds": int(args.rounds),
             "plain_seconds": [round(t, 2) for t in times["plain"]],
             "noise_aware_seconds": [round(t, 2) for t in times["noise_aware"]],
             "plain_images_per_s": round(n_train / statistics.median(times["plain"]), 1),
             "noise_aware_images_per_s": round(n_train / statistics.median(times["noise_aware"]), 1),
             "noise_aware_over_plain_step": round(statistics.median(ratios), 3),
             "goal_noise_aware_over_plain": 1.5}

    test = to_tensors(data.x_test, data.y_test, device)

    def clean_pass() -> float:
        sync()
        t0 = time.perf_counter()
        with nonideal(model, False):
            accuracy(model, test, 128)
        sync()
        return time.perf_counter() - t0

    rows = []
    before = clean_pass()
    for k in [int(v) for v in args.chips.split(",") if v]:
        sync()
        t0 = time.perf_counter()
        scores = evaluate(model, data, noise_trials=k, seed=0)
        sync()
        seconds = time.perf_counter() - t0
        after = clean_pass()
        unit = 0.5 * (before + after)
        rows.append({"chips": k, "seconds": round(seconds, 2), "clean_pass_seconds": round(unit, 2),
                     "ratio_to_clean_pass": round(seconds / unit, 2), "goal": k + 2,
                     "meets_goal": seconds / unit <= k + 2,
                     "images_per_s": round(len(data.y_test) * (k + 1) / seconds, 1),
                     "accuracy_clean": round(scores["accuracy_clean"], 2),
                     "accuracy_noisy_mean": round(scores["accuracy_noisy_mean"], 2)})
        log(f"evaluate K={k}: {seconds:.1f}s = {seconds / unit:.2f} clean passes (goal {k + 2})")
        before = after
    report = {"benchmark": "train_cifar10_speed", "arch": "resnet20 (imc baseline)", "device": str(device),
              "threads": int(args.threads), "train": train, "test_images": len(data.y_test),
              "clean_pass_images_per_s": round(len(data.y_test) / before, 1), "evaluate": rows}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
