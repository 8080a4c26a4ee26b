"""``fastnax train``: (noise-aware) training of a final architecture, with checkpoints and a report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fastnax.commands.argtypes import device_name, positive_float, resolve_device
from fastnax.commands.options import add_common, add_dataset_options
from fastnax.io import dumps_json
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
    p.add_argument("--lr", type=positive_float, default=0.1, help="peak learning rate (SGD, one-cycle cosine)")
    p.add_argument("--noise-aware", action="store_true",
                   help="inject the hardware model's weight noise and quantization while training")
    p.add_argument("--preset", default=None, help="hardware preset for noise and cost (default puma-32nm)")
    p.add_argument("--nonideality", default=None, metavar="NAME|FILE",
                   help="non-ideality preset the cells are simulated with in training and evaluation "
                        "(rram-wan2022-1d, pcm-aihwkit, pcm-aihwkit-x2, pcm-aihwkit-x4, rram-fastnax-default, "
                        "none, ...) or a TOML/JSON file over a 'base' one (default: the hardware preset's "
                        "own, rram-wan2022-1d for puma-32nm)")
    p.add_argument("--noise-trials", type=int, default=10,
                   help="noise draws for the accuracy under non-idealities (default 10)")
    p.add_argument("--out", default="fastnax-train", help="folder for the checkpoint and report.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--device", type=device_name, default=None,
                   help="torch device: cpu, cuda, cuda:N, mps (default: cuda when present, else cpu)")
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
    """The best design's architecture string of a search result file (``SearchResult.from_json``)."""
    from fastnax.errors import RecordsError
    from fastnax.search.result import SearchResult

    result = SearchResult.from_json(path)
    if result.best is None:
        raise RecordsError(f"search result {str(path)!r} has no 'best' design (no candidate met its "
                           f"constraints); give --arch or --baseline instead")
    return result.best["arch"]


def search_prediction(path) -> dict:
    """What a search result printed for its best design: the scored accuracy, its 80 % interval,
    support, whether it is a record's measurement, and the quantity it is (the predictor's target)."""
    from fastnax.search.result import SearchResult

    result = SearchResult.from_json(path)
    best = result.best or {}
    model = result.accuracy_model or {}
    records = model.get("records") if isinstance(model.get("records"), dict) else {}
    return {"result": str(path), "accuracy": best.get("accuracy"),
            "lower": best.get("accuracy_lower"), "upper": best.get("accuracy_upper"),
            "in_support": best.get("in_support"), "measured": best.get("measured"),
            "target": model.get("target"), "records_protocol": records.get("protocol")}


def run(args) -> int:
    device = resolve_device(args.device)  # before any work: 'cuda' on a CPU-only torch is one line
    data = _load_data(args)
    arch = resolve_arch(args, data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"arch": str(arch), "dataset": data.name, "epochs": args.epochs, "seed": args.seed,
              "noise_aware": bool(args.noise_aware), "batch_size": args.batch_size, "lr": args.lr,
              "preset": args.preset or ""}
    if args.nonideality is not None:
        config["nonideality"] = args.nonideality
    resume = _load_checkpoint(out / CHECKPOINT, config) if args.resume else None
    report = _train(args, arch, data, device, config, resume, out / CHECKPOINT)
    if args.from_result:  # what the search said of this design, beside what training measured
        report["search_prediction"] = search_prediction(args.from_result)
    text = dumps_json(report, indent=2)  # strict JSON: a NaN score is written as null
    from fastnax.io import atomic_write_text

    atomic_write_text(out / REPORT, text + "\n")
    if args.json:
        print(text)
    else:
        _print_summary(report, out / REPORT)
    return 0


def _load_data(args):
    """The dataset the arguments name (after checking the numeric options)."""
    from fastnax.datasets import load
    from fastnax.errors import BoundsError

    if args.epochs < 1 or args.batch_size < 2 or args.noise_trials < 0:
        raise BoundsError("--epochs must be >= 1, --batch-size >= 2 and --noise-trials >= 0")
    options = {}
    if args.split:
        options["split"] = args.split
    if args.max_train:
        options["max_train"] = args.max_train
    return load(args.dataset, root=args.root, seed=args.seed, **options)


def _load_checkpoint(path: Path, config: dict) -> dict | None:
    """The state saved in ``path`` by a run with the same ``config`` (None when there is none)."""
    if not path.exists():
        return None
    import warnings

    import torch

    from fastnax.errors import FastnaxError

    try:  # weights_only: tensors and plain containers only, never code from the file
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn, foreign or pickle-payload file raises many kinds
        raise FastnaxError(f"checkpoint {path} is not a fastnax checkpoint "
                           f"({type(exc).__name__}; only tensors and plain containers are "
                           f"loaded, never code); delete it or use another --out") from None
    if not isinstance(state, dict) or state.get("config") != config:
        raise FastnaxError(f"checkpoint {path} was made with other settings "
                           f"({state.get('config') if isinstance(state, dict) else None}); rerun with "
                           f"the same arguments or another --out")
    return state


def _train(args, arch, data, device, config: dict, resume: dict | None, ckpt_path: Path) -> dict:
    """Train (or resume) ``arch``, checkpointing every epoch; the report of the run."""
    import torch

    from fastnax.train.loop import TrainConfig, evaluate, train_model
    from fastnax.train.model import build_model, hardware_cost

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = build_model(arch, preset=args.preset, nonideality=args.nonideality)
    cost = hardware_cost(arch, args.preset, args.nonideality)
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
        "nonideality": cost["nonideality"],
        **{k: cost[k] for k in ("energy_pj", "latency_ns", "area_mm2", "edap")},
        "checkpoint": str(ckpt_path),
    }
    for key in ("accuracy_noisy", "accuracy_noisy_std"):
        if report[key] != report[key]:  # NaN: no noise trial; JSON has no NaN
            report[key] = None
    return report


def _print_summary(report: dict, report_path: Path) -> None:
    noisy = ("not measured" if report["accuracy_noisy"] is None else
             f"{report['accuracy_noisy']:.2f} ± {report['accuracy_noisy_std']:.2f}% "
             f"({report['noise_trials']} draws)")
    print(f"{report['dataset']}: clean {report['accuracy_clean']:.2f}%, under non-idealities "
          f"({report['nonideality']}) {noisy}; "
          f"{report['train_seconds']:.1f}s training; report in {report_path}")
    predicted = report.get("search_prediction")
    if predicted and predicted.get("accuracy") is not None:
        what = ("a record's measurement" if predicted.get("measured") else
                f"80 % interval {predicted['lower']:.1f}-{predicted['upper']:.1f}"
                if predicted.get("lower") is not None else "no interval")
        protocol = predicted.get("records_protocol")
        print(f"the search predicted {predicted['accuracy']:.2f}% ({predicted.get('target')}; {what}"
              + ("" if predicted.get("in_support", True) else "; outside the records' support") + ")"
              + (f" on its records' protocol: {protocol}" if protocol else ""))
    cost = report["hardware"]
    print(f"hardware ({cost['preset']}): {cost['energy_pj'] / 1e6:.3f} uJ, "
          f"{cost['latency_ns'] / 1e3:.1f} us, {cost['area_mm2']:.2f} mm2, EDAP {cost['edap']:.3e}")
