"""``fastnax train``: (noise-aware) training of a final architecture, with checkpoints and a report."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from fastnax.cli import add_common, add_dataset_options
from fastnax.io import atomic_torch_save as save_atomic  # torch is imported only when it saves

CHECKPOINT = "checkpoint.pt"
REPORT = "report.json"


def register(sub) -> None:
    p = sub.add_parser("train", help="train a final architecture (noise-aware), GPU when present",
                       description="Train one architecture (a space baseline, an architecture string "
                                   "or the best of a search result) on a dataset; checkpoint every "
                                   "epoch; report clean accuracy, accuracy under the crossbar "
                                   "non-idealities and the hardware cost.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--baseline", help="a named baseline of --space (resnet20, vgg8, resnet18, ...)")
    which.add_argument("--arch", help="a canonical architecture string")
    which.add_argument("--from-result", metavar="RESULT.json",
                       help="a search result JSON: trains its best architecture")
    p.add_argument("--space", default="imc", help="search space of --baseline (default imc)")
    add_dataset_options(p)
    p.add_argument("--max-train", type=int, default=None, help="train on a seeded subset of this size")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="peak learning rate (SGD, one-cycle cosine)")
    p.add_argument("--noise-aware", action="store_true",
                   help="inject the hardware model's weight noise and quantization while training")
    p.add_argument("--preset", default=None, help="hardware preset for noise and cost (default puma-32nm)")
    p.add_argument("--noise-trials", type=int, default=10,
                   help="noise draws for the accuracy under non-idealities (default 10)")
    p.add_argument("--out", default="fastnax-train", help="folder for the checkpoint and report.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--device", default=None, help="torch device (default: cuda when present, else cpu)")
    add_common(p)
    p.set_defaults(run=run)


def resolve_arch(args, data):
    """The architecture the arguments name, checked against the dataset's shape."""
    from fastnax import spaces
    from fastnax.arch import Architecture
    from fastnax.errors import ArchitectureError, BoundsError

    if args.baseline:
        arch = spaces.get(args.space, **data.space_options).baseline(args.baseline)
    elif args.arch:
        arch = Architecture.from_string(args.arch)
    else:
        arch = Architecture.from_string(best_of_result(args.from_result))
    opts = arch.option_dict
    for key, value in data.space_options.items():
        if key in opts and opts[key] != value:
            raise BoundsError(f"architecture has {key}={opts[key]} but the {data.name} dataset has "
                              f"{key}={value}; search or sample in a space built for this dataset")
    if not arch.weight_layers:
        raise ArchitectureError(f"architecture {str(arch)[:60]!r} has no weight layer")
    return arch


def best_of_result(path) -> str:
    """The ``best.arch`` string of a search result JSON (or the first front member's)."""
    from fastnax.errors import FastnaxError

    try:
        result = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FastnaxError(f"search result {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FastnaxError(f"search result {path} is not JSON: {exc}") from None
    best = result.get("best") if isinstance(result, dict) else None
    if isinstance(best, dict) and isinstance(best.get("arch"), str):
        return best["arch"]
    if isinstance(best, dict):  # best under each objective: take the first
        for value in best.values():
            if isinstance(value, dict) and isinstance(value.get("arch"), str):
                return value["arch"]
    front = result.get("front") if isinstance(result, dict) else None
    if isinstance(front, list) and front and isinstance(front[0], dict) and isinstance(front[0].get("arch"), str):
        return front[0]["arch"]
    raise FastnaxError(f"search result {path} has no 'best' entry with an 'arch' string "
                       f"(nor a 'front' list of them)")


def run(args) -> int:
    import torch

    from fastnax.datasets import load
    from fastnax.errors import BoundsError, FastnaxError
    from fastnax.train.loop import TrainConfig, default_device, evaluate, train_model
    from fastnax.train.model import build_model, hardware_cost

    if args.epochs < 1 or args.batch_size < 2 or args.noise_trials < 0:
        raise BoundsError("--epochs must be >= 1, --batch-size >= 2 and --noise-trials >= 0")
    options = {}
    if args.split:
        options["split"] = args.split
    if args.max_train:
        options["max_train"] = args.max_train
    data = load(args.dataset, root=args.root, seed=args.seed, **options)
    arch = resolve_arch(args, data)
    device = torch.device(args.device) if args.device else default_device()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    config = {"arch": str(arch), "dataset": data.name, "epochs": args.epochs, "seed": args.seed,
              "noise_aware": bool(args.noise_aware), "batch_size": args.batch_size, "lr": args.lr,
              "preset": args.preset or ""}
    resume = None
    if args.resume and ckpt_path.exists():
        import warnings

        try:  # weights_only: tensors and plain containers only, never code from the file
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn, foreign or pickle-payload file raises many kinds
            raise FastnaxError(f"checkpoint {ckpt_path} is not a fastnax checkpoint "
                               f"({type(exc).__name__}; only tensors and plain containers are "
                               f"loaded, never code); delete it or use another --out") from None
        if not isinstance(state, dict) or state.get("config") != config:
            raise FastnaxError(f"checkpoint {ckpt_path} was made with other settings "
                               f"({state.get('config')}); rerun with the same arguments or another --out")
        resume = state
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = build_model(arch, preset=args.preset)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      noise_aware=args.noise_aware)
    start = int(resume["epoch"]) if resume else 0
    sys.stderr.write(f"[train] {data.name} ({len(data.y_train)} train / {len(data.y_test)} test) on "
                     f"{device}; {arch.params:,} weights; epochs {start + 1}..{args.epochs}"
                     f"{' noise-aware' if args.noise_aware else ''}\n")
    t0 = time.perf_counter()

    def progress(row: dict) -> None:
        sys.stderr.write(f"[train] epoch {row['epoch']}/{args.epochs} loss {row['loss']:.4f} "
                         f"train acc {row['train_accuracy']:.2f}% ({row['seconds']:.1f}s)\n")
        sys.stderr.flush()

    def checkpoint(epoch: int, state: dict) -> None:
        save_atomic({**state, "config": config}, ckpt_path)

    result = train_model(model, data, cfg, seed=args.seed, device=device, progress=progress,
                         on_epoch_end=checkpoint, resume=resume)
    scores = evaluate(model, data, noise_trials=args.noise_trials, seed=args.seed)
    try:
        cost = hardware_cost(arch, args.preset)
    except FastnaxError:
        cost = None
    history = result["history"]
    report = {
        "arch": str(arch), "dataset": data.name, "n_train": int(len(data.y_train)),
        "n_test": int(len(data.y_test)), "params": arch.params, "macs": arch.macs,
        "epochs": args.epochs, "resumed_from_epoch": start, "noise_aware": bool(args.noise_aware),
        "seed": args.seed, "device": str(device),
        "accuracy_clean": scores["accuracy_clean"],
        "accuracy_noisy": scores["accuracy_noisy_mean"],
        "accuracy_noisy_std": scores["accuracy_noisy_std"],
        "accuracy_noisy_trials": scores["accuracy_noisy_trials"],
        "noise_trials": scores["noise_trials"],
        "train_seconds": round(result["train_seconds"], 3),
        "seconds": round(time.perf_counter() - t0, 3),
        "final_train_loss": history[-1]["loss"] if history else None,
        "hardware": cost,
        **({k: cost[k] for k in ("energy_pj", "latency_ns", "area_mm2", "edap")} if cost else {}),
        "checkpoint": str(ckpt_path),
    }
    for key in ("accuracy_noisy", "accuracy_noisy_std"):
        if report[key] != report[key]:  # NaN: no noise trial; JSON has no NaN
            report[key] = None
    text = json.dumps(report, indent=2)
    from fastnax.io import atomic_write_text

    atomic_write_text(out / REPORT, text + "\n")
    if args.json:
        print(text)
    else:
        noisy = ("not measured" if report["accuracy_noisy"] is None else
                 f"{report['accuracy_noisy']:.2f} ± {report['accuracy_noisy_std']:.2f}% "
                 f"({report['noise_trials']} draws)")
        print(f"{data.name}: clean {report['accuracy_clean']:.2f}%, under non-idealities {noisy}; "
              f"{report['train_seconds']:.1f}s training; report in {out / REPORT}")
        if cost:
            print(f"hardware ({cost['preset']}): {cost['energy_pj'] / 1e6:.3f} uJ, "
                  f"{cost['latency_ns'] / 1e3:.1f} us, {cost['area_mm2']:.2f} mm2, EDAP {cost['edap']:.3e}")
    return 0
