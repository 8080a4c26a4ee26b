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

Every time is measured twice: wall clock and the process's CPU time (``time.process_time``); on
a shared machine with one torch thread the CPU-time ratios are the robust ones (time spent
waiting for a core is not counted), and they are the ones compared with the goals.

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

    def clock():  # (wall, CPU) seconds; on CUDA the wall clock is the meaningful one
        sync()
        return time.perf_counter(), time.process_time()

    def since(start):
        wall, cpu = clock()
        return wall - start[0], cpu - start[1]

    use = 0 if device.type == "cuda" else 1  # index of the time compared with the goals

    # warm-up (first-call allocations and kernel selection), then one epoch plain, one
    # noise-aware, interleaved; the network keeps training
    warm = data.subset(max_train=2 * batch, max_test=0)
    for aware in (False, True):
        train_model(model, warm, TrainConfig(epochs=1, batch_size=batch, lr=0.05, noise_aware=aware),
                    seed=0, device=device)
    times = {"plain": [], "noise_aware": []}
    for r in range(int(args.rounds)):
        for kind in ("plain", "noise_aware"):
            cfg = TrainConfig(epochs=1, batch_size=batch, lr=0.05, noise_aware=kind == "noise_aware")
            t0 = clock()
            train_model(model, data, cfg, seed=r, device=device)
            times[kind].append(since(t0))
            log(f"train {kind} round {r}: {times[kind][-1][0]:.1f}s wall, {times[kind][-1][1]:.1f}s CPU")
    n_train = len(data.y_train)
    train = {"images": n_train, "batch_size": batch, "rounds": int(args.rounds), "compared": ["wall", "cpu"][use]}
    for i, clock_name in enumerate(("wall", "cpu")):
        plain = [t[i] for t in times["plain"]]
        aware = [t[i] for t in times["noise_aware"]]
        train[clock_name] = {
            "plain_seconds": [round(t, 2) for t in plain], "noise_aware_seconds": [round(t, 2) for t in aware],
            "plain_images_per_s": round(n_train / statistics.median(plain), 1),
            "noise_aware_images_per_s": round(n_train / statistics.median(aware), 1),
            "noise_aware_over_plain_step": round(statistics.median([a / p for a, p in zip(aware, plain)]), 3)}
    train["noise_aware_over_plain_step"] = train[["wall", "cpu"][use]]["noise_aware_over_plain_step"]
    train["goal_noise_aware_over_plain"] = 1.5

    test = to_tensors(data.x_test, data.y_test, device)

    def clean_pass():
        t0 = clock()
        with nonideal(model, False):
            accuracy(model, test, 128)
        return since(t0)

    rows = []
    before = clean_pass()
    for k in [int(v) for v in args.chips.split(",") if v]:
        t0 = clock()
        scores = evaluate(model, data, noise_trials=k, seed=0)
        spent = since(t0)
        after = clean_pass()
        row = {"chips": k, "goal": k + 2}
        for i, clock_name in enumerate(("wall", "cpu")):
            unit = 0.5 * (before[i] + after[i])
            row[clock_name] = {"seconds": round(spent[i], 2), "clean_pass_seconds": round(unit, 2),
                               "ratio_to_clean_pass": round(spent[i] / unit, 2),
                               "images_per_s": round(len(data.y_test) * (k + 1) / spent[i], 1),
                               "clean_pass_images_per_s": round(len(data.y_test) / unit, 1)}
        row["ratio_to_clean_pass"] = row[["wall", "cpu"][use]]["ratio_to_clean_pass"]
        row["meets_goal"] = row["ratio_to_clean_pass"] <= k + 2
        row.update({"accuracy_clean": round(scores["accuracy_clean"], 2),
                    "accuracy_noisy_mean": round(scores["accuracy_noisy_mean"], 2)})
        rows.append(row)
        log(f"evaluate K={k}: {row['ratio_to_clean_pass']:.2f} clean passes (goal {k + 2})")
        before = after
    report = {"benchmark": "train_cifar10_speed", "arch": "resnet20 (imc baseline)", "device": str(device),
              "threads": int(args.threads), "train": train, "test_images": len(data.y_test),
              "evaluate": rows}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
