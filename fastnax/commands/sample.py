"""``fastnax sample``: train N sampled candidates for a short budget into a records file."""

from __future__ import annotations

import sys
import time

from fastnax.commands.argtypes import check_records_out, positive_float, positive_int, records_path
from fastnax.commands.options import add_common, add_dataset_options

#: The default short budget: DEFAULT_EPOCHS passes over the whole training set. Sampling draws only
#: networks of at most twice the MACs of the space's resnet20 (``--max-macs auto``): uniform draws
#: of the imc macro space are mostly networks of several GMACs per 8x8 image that no sampling
#: budget trains (seed 0: 15 GMACs for 25 uncapped draws, 52 MMACs capped). On 2 cores, 25 capped
#: digits candidates train in about 20 s with these defaults.
DEFAULT_EPOCHS = 5
DEFAULT_MAX_TRAIN = 0
DEFAULT_MAX_TEST = 0


def register(sub) -> None:
    p = sub.add_parser("sample", help="train N sampled candidates (short budget) into a records file",
                       description="Train N candidates drawn from a search space for a short budget "
                                   "and append one record per candidate to a records file (JSON Lines "
                                   "or CSV). Restarted with the same arguments it resumes.")
    p.add_argument("--space", default="imc", help="search space (imc, nax, nb201; default imc)")
    add_dataset_options(p)
    p.add_argument("--max-train", type=int, default=DEFAULT_MAX_TRAIN,
                   help=f"train each candidate on a seeded subset of this many images "
                        f"(default {DEFAULT_MAX_TRAIN}; 0: all)")
    p.add_argument("--max-test", type=int, default=DEFAULT_MAX_TEST,
                   help=f"test on a seeded subset of this many images (default {DEFAULT_MAX_TEST}; 0: all)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="training batch size (default 32)")
    p.add_argument("--lr", type=positive_float, default=0.05, help="peak learning rate (default 0.05)")
    p.add_argument("--downsample", type=int, default=1,
                   help="train and test at 1/N of the image resolution, each network built for that "
                        "size (default 1; 2: CIFAR-10 at 16x16)")
    p.add_argument("--n", type=int, default=25, help="number of candidates (default 25)")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help=f"training epochs per candidate (default {DEFAULT_EPOCHS})")
    p.add_argument("--noise-trials", type=int, default=1,
                   help="noise draws for accuracy_noisy (default 1; 0: not measured)")
    p.add_argument("--preset", default=None, help="hardware preset of the simulated chips (default puma-32nm)")
    p.add_argument("--nonideality", default=None, metavar="NAME|FILE",
                   help="non-ideality preset the chips of accuracy_noisy are simulated with (pcm-aihwkit, "
                        "pcm-aihwkit-x2, pcm-aihwkit-x4, rram-wan2022, rram-wan2022-1d, rram-wan2022-2d, "
                        "rram-fastnax-default, none) or a TOML/JSON file over a 'base' one (default: the "
                        "hardware preset's own, rram-wan2022-1d for puma-32nm); each record names it")
    p.add_argument("--max-macs", default="auto",
                   help="sample only networks of at most this many MACs per image (default auto: twice "
                        "the space's resnet20; 'none' for no cap)")
    p.add_argument("--out", required=True, type=records_path,
                   help="records file (.jsonl or .csv), appended to")
    p.add_argument("--jobs", type=int, default=2,
                   help="candidates trained at once, one torch thread each (default 2; -1: one per core)")
    p.add_argument("--backend", default="loky", choices=("loky", "threading", "dask"),
                   help="joblib backend (dask: spread over a dask.distributed cluster)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask scheduler address (tcp://host:8786) for --backend dask")
    add_common(p)
    p.set_defaults(run=run)


def _count(path) -> int:
    """Records in ``path`` after the run (0 when nothing was written)."""
    from pathlib import Path

    from fastnax.datasets.records import read_records
    from fastnax.errors import RecordsError

    try:
        return len(read_records(path)) if Path(path).exists() else 0
    except RecordsError:  # a header alone
        return 0


def run(args) -> int:
    from fastnax.io import dumps_json
    from fastnax.train.sample import run_sampling, summarize

    t0 = time.perf_counter()

    def progress(done: int, total: int, record) -> None:
        if record is None:
            sys.stderr.write(f"[sample] resuming: {done}/{total} candidates already recorded\n")
        else:
            noisy = "-" if record.accuracy_noisy is None else f"{record.accuracy_noisy:.1f}"
            sys.stderr.write(f"[sample] {done}/{total} clean {record.accuracy_clean:.1f}% noisy {noisy}% "
                             f"({record.train_seconds:.1f}s train, {time.perf_counter() - t0:.0f}s elapsed)\n")
        sys.stderr.flush()

    options = {}
    if args.split:
        options["split"] = args.split
    if args.max_train:
        options["max_train"] = args.max_train
    if args.max_test:
        options["max_test"] = args.max_test
    check_records_out(args.out, args.space, args.dataset, args.epochs)  # another dataset's file: refused
    records = run_sampling(args.space, args.dataset, args.n, args.epochs, args.out, seed=args.seed,
                           jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
                           root=args.root, dataset_options=options, noise_trials=args.noise_trials,
                           batch_size=args.batch_size, lr=args.lr, downsample=args.downsample,
                           progress=progress, preset=args.preset, nonideality=args.nonideality,
                           max_macs=None if str(args.max_macs).lower() == "none" else args.max_macs)
    summary = {"out": str(args.out), "space": args.space, "dataset": args.dataset, "n": args.n,
               "epochs": args.epochs, "max_train": args.max_train, "max_test": args.max_test,
               "downsample": args.downsample, "seed": args.seed,
               "hardware": records[0].chips if records else None,
               "seconds": round(time.perf_counter() - t0, 2),
               **summarize(records), "records_in_file": _count(args.out)}
    if args.json:
        print(dumps_json(summary, indent=2))
    else:
        print(f"{summary['records']} records of this run in {args.out} (the file holds "
              f"{summary['records_in_file']}; {summary['seconds']:.0f}s); clean accuracy "
              f"{summary['accuracy_clean_min']:.1f} / {summary['accuracy_clean_median']:.1f} / "
              f"{summary['accuracy_clean_max']:.1f}% (min / median / max)" if records else
              f"no records written to {args.out}")
    return 0
