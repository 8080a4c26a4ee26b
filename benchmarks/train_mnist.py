"""MNIST (the 10,000 reference test images in ../shared/data/mnist, split 8,000 / 2,000, CPU): a
small imc network trained noise-aware; clean accuracy and accuracy under the default
non-idealities. Figure (issue 6): >= 97 % within 2 minutes of training on CPU.

Skipped (with a message, still one JSON object) when the data is absent. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
#: A small imc network for 28x28 digits: 16-channel stem, two VGG stages (32, 64 channels, each
#: closed by a 2x2 max-pool), the third stage empty, global pooling, a linear classifier.
ARCH = "imc:1x28x28:10:w8a8c2:preset/stem16k3x64/vgg1w32:3x64,3x64/vgg1w64:3x64,3x64/-/gap-x64"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=str(DATA))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--noise-trials", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plain", action="store_true", help="train without noise")
    parser.add_argument("--nonideality", default=None, metavar="NAME|FILE",
                        help="non-ideality preset the cells follow in training and evaluation (default: "
                             "puma-32nm's own, rram-fastnax-default)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not (root / "t10k-images-idx3-ubyte.gz").exists() and not (root / "t10k-images-idx3-ubyte").exists():
        print(json.dumps({"benchmark": "train_mnist", "skipped": f"MNIST test images not found in {root}"}))
        return 0

    import torch

    from fastnax import datasets
    from fastnax.arch import Architecture
    from fastnax.train import TrainConfig, build_model, evaluate, train_model
    from fastnax.train.model import hardware_cost

    torch.set_num_threads(args.threads)
    data = datasets.load("mnist", root=root, split=(8000, 2000))
    arch = Architecture.from_string(ARCH)
    torch.manual_seed(0)
    model = build_model(arch, nonideality=args.nonideality)
    cfg = TrainConfig(epochs=args.epochs, batch_size=128, lr=0.1, noise_aware=not args.plain)
    result = train_model(model, data, cfg, seed=0, device="cpu")
    t0 = time.perf_counter()
    scores = evaluate(model, data, noise_trials=args.noise_trials, seed=1)
    out = {
        "benchmark": "train_mnist", "arch": ARCH, "params": arch.params, "macs": arch.macs,
        "dataset": data.describe(), "epochs": args.epochs, "noise_aware": not args.plain,
        "nonideality": hardware_cost(arch, None, args.nonideality)["preset"],
        "threads": args.threads,
        "train_seconds": round(result["train_seconds"], 2),
        "eval_seconds": round(time.perf_counter() - t0, 2),
        "accuracy_clean": round(scores["accuracy_clean"], 2),
        "accuracy_noisy_mean": round(scores["accuracy_noisy_mean"], 2),
        "accuracy_noisy_std": round(scores["accuracy_noisy_std"], 2),
        "figure_ge_97_within_120s": scores["accuracy_clean"] >= 97 and result["train_seconds"] <= 120,
        "torch": torch.__version__, "python": platform.python_version(),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
